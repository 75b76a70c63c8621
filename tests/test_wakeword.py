"""Custom wake word from synthetic speech: confusable negatives, streams without the phrase,
and partial-phrase rejection by a detector trained here on espeak-ng speech only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kws.data.confusables import confusables, partials, swaps, syllable_split
from tests.conftest import SHARED

PHRASE = "hey toaster"
PARTIALS = partials(PHRASE)   # "hey", "toaster", "hey toas", "ter"


def test_wakeword_confusables_hold_parts_and_never_the_phrase():
    for phrase in ("hey toaster", "sheila", "ok computer", "marvin"):
        out = confusables(phrase)
        assert phrase not in out and len(out) == len(set(out)) and len(out) >= 10
        words = phrase.split()
        if len(words) > 1:
            assert set(words) <= set(out)            # each word alone
        cut = " ".join([*words[:-1], syllable_split(words[-1])[0]])
        assert cut in out                             # the phrase cut inside its last word
    assert syllable_split("marvin") == ["mar", "vin"]
    assert syllable_split("toaster") == ["toas", "ter"]
    assert confusables("   ") == []


@pytest.fixture(scope="module")
def wake_corpus(tmp_path_factory) -> Path:
    """The phrase, its parts and two swaps ("oh toaster", "my toaster") as negatives, and
    everyday words: the recipe's corpus cut to what trains in about a minute (the recipe
    adds the sound-alikes, which need far more training to separate from the phrase)."""
    from kws.data.synth import synthesize_corpus

    out = tmp_path_factory.mktemp("wake_corpus")
    negatives = [*PARTIALS, *swaps(PHRASE)[:2], "hello", "music", "coffee", "window", "today"]
    synthesize_corpus([PHRASE], out, per_word=400, negatives=negatives, per_negative=60,
                      seed=2, noise_seconds=10)
    return out


@pytest.fixture(scope="module")
def wake_run(wake_corpus, tmp_path_factory) -> Path:
    from kws.config import load_config
    from kws.train.trainer import train

    run = tmp_path_factory.mktemp("wake_run") / "run"
    cfg = load_config(Path(__file__).parents[1] / "recipes/wakeword/conf/gru.yaml", [
        f"data.corpus={wake_corpus}", "data.clip_seconds=1.5", "model.hidden=48",
        "train.epochs=25", "train.batch_size=32", "train.lr=0.01", "train.workers=1",
        "augment.reverb_prob=0", "augment.bandlimit_prob=0", "augment.snr_db=[5.0,25.0]",
        "augment.context_ms=2500", "augment.context_prob=0.8"])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the same weights whatever earlier tests set
    try:
        train(cfg, run, log=lambda *_: None, progress=False)
    finally:
        torch.set_num_threads(threads)
    return run


def _clips_by_text(corpus: Path, split: str, texts: set[str]) -> list[tuple[str, np.ndarray]]:
    """The corpus' clips of `split` whose spoken text is in `texts`, with that text."""
    from kws.audio import load_audio
    from kws.data.corpora import read_corpus

    spoken = {f["file"]: f["text"] for f in json.loads((corpus / "synth.json").read_text())
              ["files"]}
    out = []
    for r in read_corpus(corpus).rows:
        text = spoken[str(Path(r.path).relative_to(corpus))]
        if r.split == split and text in texts:
            out.append((text, load_audio(r.path, 16000)))
    return out


def _real_speech() -> list[str]:
    """Real speech for the streams (each stream takes its own split of it), when there."""
    sc = SHARED / "speech_commands_mini"
    return [str(sc)] if sc.is_dir() else []


@pytest.fixture(scope="module")
def wake_bundle(wake_run, wake_corpus, tmp_path_factory) -> Path:
    """The INT8 bundle calibrated as a device runs it: on a 30-minute validation stream
    (validation voices, real validation speech) with no false alarm allowed, then exported
    again with that threshold plus a 0.05 margin: the zero-alarm threshold sits anywhere
    up to one sweep step (0.05) above the stream's worst negative score, and unseen voices
    score a few hundredths higher (one scored 0.853 against a bare 0.85)."""
    from kws.eval.longstream import make_stream
    from kws.eval.stream_eval import stream_report
    from kws.eval.target import open_target
    from kws.export.bundle import ExportOptions, export_bundle

    folder = tmp_path_factory.mktemp("wake_streams")
    cal = make_stream(str(wake_corpus), folder / "cal.wav", split="validation", task="words",
                      keywords=[PHRASE], fillers=_real_speech(), minutes=30, snr_db=10,
                      filler_prob=0.9, seed=5, gap_s=(0.5, 2.0))

    def export(out: Path, thresholds: dict | None) -> Path:
        export_bundle(wake_run, out, ExportOptions(quantize="dynamic", verify_clips=8,
                                                   accuracy_clips=60, thresholds=thresholds),
                      log=lambda *_: None)
        return out

    uncalibrated = export(folder / "uncalibrated", {})
    report = stream_report(open_target(str(uncalibrated)), cal["audio"], cal["labels"],
                           target_fa=0.0, log=lambda *_: None)
    assert report["at_threshold"]["false_alarms"] == 0
    return export(folder / "bundle", {PHRASE: min(0.99, report["threshold"] + 0.05)})


def _detections(bundle: Path, audio: np.ndarray) -> list[tuple[str, float]]:
    from kws.runtime import Detector

    det = Detector(bundle)
    stream = det.stream()
    return [(e.keyword, e.time) for e in stream.feed(audio)]


@pytest.fixture(scope="module")
def spoken_by_test_voices(tmp_path_factory) -> Path:
    """The phrase and its parts said by fresh renditions; only the test split is used, whose
    voices (accent + variant, hashed like the training corpus') training never heard."""
    from kws.data.synth import synthesize_corpus

    out = tmp_path_factory.mktemp("test_voices")
    synthesize_corpus([PHRASE, *PARTIALS], out, per_word=120, seed=3, noise_seconds=0)
    return out


def _phrase_and_gap_peaks(bundle: Path, audio: np.ndarray,
                          events: list) -> tuple[np.ndarray, np.ndarray]:
    """The phrase posterior through the bundle's streaming path: its peak inside each
    phrase's scoring window (where `score` counts a detection as a hit), and its peak over
    each stretch between those windows, which holds the parts of the phrase and noise."""
    from kws.eval.stream_eval import TOLERANCE_S
    from kws.eval.target import open_target

    target = open_target(str(bundle))
    post = np.asarray(target.stream_posteriors(audio))[:, list(target.labels).index(PHRASE)]
    inside = np.zeros(len(post), dtype=bool)
    windows = [slice(int(e.start / target.hop_s), int((e.end + TOLERANCE_S) / target.hop_s))
               for e in events]
    for w in windows:
        inside[w] = True
    edges = np.flatnonzero(np.diff(np.r_[0, (~inside).astype(np.int8), 0]))
    gaps = np.array([post[a:b].max() for a, b in zip(edges[::2], edges[1::2], strict=True)])
    return np.array([post[w].max() for w in windows]), gaps


def test_wakeword_partial_phrase_does_not_fire(wake_bundle, wake_corpus, spoken_by_test_voices):
    """Unseen voices say parts of the phrase ("hey", "toaster", "hey toas", "ter") and the
    whole phrase in one stream, 2-4 s apart (closer, "hey" ... "toaster" is the phrase said
    slowly): the whole phrase outscores its parts, and at the threshold calibrated on
    validation voices the parts (almost) never fire.

    What is asserted is what a detector trained for three minutes on espeak-ng voices holds
    on every seed (seven detectors tried, seeds 0-2 at this and two other learning rates and
    sizes: the area under the curve 0.93-0.97, 31-38 of 39 phrases above the 90th percentile
    of the stretches between them, at most one part firing). Its
    worst part-of-phrase score on unseen voices is a tail that moves with the seed (0.69 to
    0.94), so how many phrases clear the calibrated threshold does too (2 to 26 of 39): a
    claim on that count would test the seed, not the detector."""
    from kws.eval.longstream import build_stream
    from kws.eval.stream_eval import score

    whole = _clips_by_text(spoken_by_test_voices, "test", {PHRASE}) + \
        _clips_by_text(wake_corpus, "test", {PHRASE})
    parts = [a for _, a in _clips_by_text(spoken_by_test_voices, "test", set(PARTIALS))]
    assert len(whole) >= 20 and len(parts) >= 25
    noise = [str(p) for p in sorted((wake_corpus / "_background_noise_").glob("*.wav"))]
    built = build_stream(whole, parts, noise, seconds=420, snr_db=20, rate=16000, seed=6,
                         gap_s=(2.0, 4.0), filler_prob=0.7)
    audio, events = built.audio, built.events
    phrase, gaps = _phrase_and_gap_peaks(wake_bundle, audio, events)
    assert len(gaps) >= 0.8 * len(events)
    # area under the ROC curve: the chance that a phrase outscores a stretch between phrases
    auc = float((phrase[:, None] > gaps[None]).mean()
                + 0.5 * (phrase[:, None] == gaps[None]).mean())
    assert auc >= 0.85, f"the phrase outscores the stretches between phrases with AUC {auc:.3f}"
    above = int((phrase > np.quantile(gaps, 0.9)).sum())
    assert above >= 0.6 * len(events), f"{above} of {len(events)} phrases above the gaps' p90"
    s = score(_detections(wake_bundle, audio), events, [PHRASE])
    assert s.false_alarms[PHRASE] <= 2, f"parts of the phrase fired {s.false_alarms} times"
    assert s.hits[PHRASE] >= 1, "the calibrated detector heard no phrase"


def test_wakeword_stream_without_phrase_fires_at_most_once(wake_bundle, wake_corpus, tmp_path):
    """Ten minutes of test voices saying everything but the phrase (confusables and
    everyday words), plus real speech when ../shared/data is there: at most one detection.

    The threshold allows no false alarm on 30 minutes of validation voices; on these unseen
    ten minutes one stretch may still reach it: the same code and seed fired none in CI and
    once on a fresh machine, at 0.708 against its 0.70 threshold (calibrated 0.65 + 0.05).
    A tail that moves by hundredths between machines is what one detection allows for; two
    or more would be a calibration that does not transfer."""
    from kws.audio import load_audio
    from kws.eval.longstream import make_stream

    info = make_stream(str(wake_corpus), tmp_path / "neg.wav", split="test", task="words",
                       keywords=[PHRASE], fillers=_real_speech(), minutes=10, snr_db=10,
                       filler_prob=1.0, seed=7, gap_s=(0.5, 2.0))
    assert info["keywords"] == 0 and info["filler_clips"] > 100
    fired = _detections(wake_bundle, load_audio(info["audio"], 16000))
    assert len(fired) <= 1, f"{len(fired)} detections in 10 minutes without the phrase: {fired}"


def test_wakeword_make_stream_keeps_the_phrase_out_of_the_filler(wake_corpus, tmp_path):
    """Keyword clips from every split, filler from one; the other words of the corpus are
    filler, and the phrase's clips in a filler corpus are never labelled filler."""
    from kws.eval.longstream import make_stream, read_labels

    info = make_stream(str(wake_corpus), tmp_path / "s.wav", split="all", task="words",
                       keywords=[PHRASE], fillers=[str(wake_corpus)], filler_split="test",
                       minutes=3, filler_prob=0.5, seed=1)
    n_all = len(_clips_by_text(wake_corpus, "train", {PHRASE})) + \
        len(_clips_by_text(wake_corpus, "validation", {PHRASE})) + \
        len(_clips_by_text(wake_corpus, "test", {PHRASE}))
    assert info["distinct_keyword_clips"] == n_all
    texts = json.loads((wake_corpus / "synth.json").read_text())["files"]
    n_test_others = sum(1 for f in texts if f["text"] != PHRASE) // 10  # ~test share
    # the corpus' own test fillers plus the same again from --filler, never the phrase
    assert info["filler_clips"] > n_test_others
    events = read_labels(info["labels"], info["seconds"], [PHRASE])
    assert len(events) == info["keywords"] > 0


@pytest.fixture(scope="module")
def enrolled_wake_bundle(tmp_path_factory) -> Path:
    """The phrase enrolled by text (kws enroll, espeak-ng, a short calibration stream with
    real speech when there): no training, no recordings."""
    from kws.export.enroll import EnrollOptions, enroll

    out = tmp_path_factory.mktemp("enrolled_wake") / "bundle"
    enroll([PHRASE], out, EnrollOptions(per_phrase=16, minutes=5, fillers=_real_speech()),
           log=lambda *_: None)
    return out


def test_wakeword_enrolled_bundle_rejects_parts_of_the_phrase(enrolled_wake_bundle,
                                                              spoken_by_test_voices):
    """The partial-phrase test for a bundle enrolled by text: fresh voices say the phrase
    and its parts, each alone between half-second pauses, through the streaming path at the
    calibrated threshold. The whole phrase outscores its parts (a part lacks phonemes the
    search must then pay for) and no part fires; some phrases are heard.

    Measured: area under the curve 0.96, no part of 480 above the threshold, 17 of 120
    phrases above it (the base encoder hears espeak-ng's voices poorly: docs/enroll.md)."""
    from kws.audio import load_audio
    from kws.runtime import Detector

    det = Detector(enrolled_wake_bundle)
    files = json.loads((spoken_by_test_voices / "synth.json").read_text())["files"]
    pause = np.zeros(8000, np.float32)
    peaks: dict[str, list[float]] = {}
    fired: dict[str, int] = {}
    for f in files:
        audio = np.concatenate([pause, load_audio(spoken_by_test_voices / f["file"]), pause])
        s = det.stream()
        s.recorded = []
        fired[f["text"]] = fired.get(f["text"], 0) + len(s.feed(audio))
        peaks.setdefault(f["text"], []).append(float(np.concatenate(s.recorded).max()))
    whole = np.array(peaks.pop(PHRASE))
    parts = np.concatenate([np.array(v) for v in peaks.values()])
    assert len(whole) >= 100 and len(parts) >= 400
    auc = float((whole[:, None] > parts[None]).mean())
    assert auc >= 0.85, f"the phrase outscores its parts with AUC {auc:.3f}"
    assert sum(fired[p] for p in PARTIALS) <= 1, f"parts of the phrase fired: {fired}"
    assert fired[PHRASE] >= 4, f"{fired[PHRASE]} of {len(whole)} phrases heard"
