"""Test streams as a detector hears them: keyword clips placed whole, running speech around
keywords, the list of non-keyword speech; why a keyword was missed and what lay under a
false alarm; per-keyword thresholds for a false-alarm budget."""

from __future__ import annotations

import numpy as np
import pytest

from kws.audio import active_region, save_audio
from kws.eval.longstream import (
    Event,
    Span,
    build_stream,
    make_stream,
    read_speech,
    speech_path,
)
from kws.eval.stream_eval import FALSE_ALARM_CAUSES, MISS_REASONS, StreamScorer, pick_threshold
from kws.runtime.decision import DecisionConfig
from tests.conftest import shared

RATE = 16000


def _word(rng: np.random.Generator, seconds: float, onset_db: float = -34.0) -> np.ndarray:
    """A word-like clip: 0.2 s of near silence, a weak onset 34 dB under the body (what a
    cut at the clip's own noise floor removes), the body, a weak tail, near silence."""
    n = int(seconds * RATE)
    weak = 10 ** (onset_db / 20)
    edge = np.full(int(0.06 * RATE), weak, np.float32)
    quiet = np.full(int(0.2 * RATE), 1e-4, np.float32)
    env = np.concatenate([quiet, edge, np.ones(n, np.float32), edge, quiet])
    return (rng.standard_normal(env.size).astype(np.float32) * 0.1 * env).astype(np.float32)


@pytest.fixture()
def noise_file(tmp_path) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.wav"
    save_audio(path, rng.standard_normal(RATE * 20).astype(np.float32) * 0.1, RATE)
    return str(path)


def test_streams_place_keyword_clips_whole(noise_file):
    """Every sample of a keyword clip reaches the stream, weak onset and tail included; the
    label marks its spoken part."""
    rng = np.random.default_rng(1)
    clips = [("yes", _word(rng, 0.3)), ("no", _word(rng, 0.4))]
    built = build_stream(clips, [], [noise_file], 60, snr_db=120, rate=RATE, seed=2,
                         gap_s=(0.5, 1.0), filler_prob=0.0)
    assert len(built.events) > 20
    for e in built.events:
        clip = dict(clips)[e.keyword]
        a, b = active_region(clip, RATE)
        near = round(e.start * RATE) - a  # labels are rounded to the millisecond
        error = min(np.abs(built.audio[s:s + len(clip)] - clip).max()
                    for s in range(near - 16, near + 17))
        assert error < 1e-3                                 # whole, nothing cut
        assert abs((e.end - e.start) - (b - a) / RATE) < 2e-3


def test_streams_put_keywords_inside_running_speech(noise_file):
    """With inside_prob 1, speech ends just before and starts just after every keyword
    (within the joint plus the clip's own lead and tail); the speech list has it all."""
    rng = np.random.default_rng(3)
    clips = [("yes", _word(rng, 0.3))]
    words = [_word(rng, 0.25) for _ in range(5)]
    pause = np.zeros(int(0.05 * RATE), np.float32)
    utterances = [np.concatenate([w for word in words for w in (word, pause)])]
    for filler, utts in ((words, None), ([], utterances)):
        built = build_stream(clips, filler, [noise_file], 90, snr_db=40, rate=RATE, seed=4,
                             filler_prob=0.0, utterances=utts, inside_prob=1.0)
        assert len(built.events) > 10 and built.speech
        for e in built.events:
            before = [s for s in built.speech if s.end <= e.start]
            after = [s for s in built.speech if s.start >= e.end]
            assert before and e.start - before[-1].end < 0.8
            assert after and after[0].start - e.end < 0.8


def test_streams_make_stream_writes_the_speech_list(tiny_corpus, tmp_path):
    info = make_stream(str(tiny_corpus), tmp_path / "s.wav", split="test", minutes=1,
                       seed=1, filler_prob=0.5, inside_prob=0.5)
    spans = read_speech(speech_path(info["labels"]))
    assert info["speech"] == str(speech_path(info["labels"]))
    assert spans and all(0 <= s.start < s.end <= info["seconds"] for s in spans)
    assert read_speech(tmp_path / "missing.speech.csv") is None


def test_streams_continuous_speech_from_its_split(tmp_path, tiny_corpus):
    """Continuous speech (../shared/data/continuous_speech) fills the stream from the
    stream's split of its recordings only."""
    from kws.data.continuous import continuous_rows

    folder = shared("continuous_speech")
    rows = {s: continuous_rows([str(folder)], s) for s in ("train", "validation", "test")}
    assert all(rows.values())
    assert not {r.path for r in rows["test"]} & {r.path for r in rows["train"]}
    info = make_stream(str(tiny_corpus), tmp_path / "c.wav", split="test", minutes=1.5,
                       seed=2, filler_prob=0.6, continuous=[str(folder)], inside_prob=0.5)
    assert info["continuous_recordings"] == len(rows["test"])
    assert len(read_speech(speech_path(info["labels"]))) > 3


def _scorer(post: np.ndarray, events: list[Event], speech: list[Span] | None,
            refractory_ms: float = 1000.0) -> StreamScorer:
    labels = ["_silence_", "_unknown_", "no", "yes"]
    full = np.zeros((len(post), 4), np.float32)
    full[:, 2:] = post
    full[:, 0] = 1 - post.sum(axis=1)
    return StreamScorer(full, labels, events, DecisionConfig(smoothing_ms=10,
                                                             refractory_ms=refractory_ms),
                        hop_s=0.01, window_s=0.0, duration_s=len(post) / 100, speech=speech)


def test_streams_explain_misses_and_false_alarms():
    """Each miss reason and false-alarm cause, from posteriors built to show it."""
    post = np.zeros((3000, 2), np.float32)   # columns: no, yes; 30 s at 10 ms
    events = [Event("yes", 1.0, 1.4), Event("yes", 5.0, 5.4), Event("yes", 9.0, 9.4),
              Event("yes", 13.0, 13.4), Event("yes", 13.6, 13.9), Event("no", 20.0, 20.3)]
    post[100:105, 1] = 0.3     # yes at 1.0: never reaches 0.5
    post[510:520, 0] = 0.9     # yes at 5.0: "no" fires in its window instead
    post[830:840, 1] = 0.9     # yes at 9.0: fires 0.7 s before its window only
    post[1341:1350, 1] = 0.9   # yes at 13.0: hit
    post[1380:1390, 1] = 0.9   # yes at 13.6: within the refractory time of that hit
    post[2010:2020, 0] = 0.9   # no at 20.0: hit
    post[2120:2125, 0] = 0.6   # ... and again in its window, after the refractory time
    post[2400:2410, 1] = 0.9   # over non-keyword speech
    post[2700:2710, 1] = 0.9   # over noise
    speech = [Span(23.5, 24.05)]
    why = _scorer(post, events, speech).explain(np.full(2, 0.5, np.float32))
    by_start = {m["start"]: m["reason"] for m in why["missed"]}
    assert by_start == {1.0: MISS_REASONS[0], 5.0: MISS_REASONS[1], 9.0: MISS_REASONS[2],
                        13.6: MISS_REASONS[3]}
    causes = {a["time"]: a["cause"] for a in why["alarms"]}
    assert causes == {5.1: FALSE_ALARM_CAUSES[2], 8.3: FALSE_ALARM_CAUSES[1],
                      21.2: FALSE_ALARM_CAUSES[3], 24.0: FALSE_ALARM_CAUSES[0],
                      27.0: FALSE_ALARM_CAUSES[1]}
    assert why["false_alarms"][FALSE_ALARM_CAUSES[1]] == 2
    unlabelled = _scorer(post, events, None).explain(np.full(2, 0.5, np.float32))
    assert unlabelled["false_alarms"][FALSE_ALARM_CAUSES[4]] >= 2


def test_streams_split_misses_inside_running_speech_from_between_utterances():
    """A keyword with speech just before and after it counts as inside running speech;
    speech on one side only, or none, is between utterances."""
    post = np.zeros((1200, 2), np.float32)
    events = [Event("yes", 1.0, 1.4), Event("yes", 5.0, 5.4), Event("yes", 9.0, 9.4)]
    post[541:550, 1] = 0.9     # yes at 5.0: hit; the other two never rise
    speech = [Span(0.4, 0.9), Span(1.6, 2.2), Span(8.0, 8.8)]
    why = _scorer(post, events, speech).explain(np.full(2, 0.5, np.float32))
    assert why["by_place"] == {"inside running speech": {"keywords": 1, "missed": 1},
                               "between utterances": {"keywords": 2, "missed": 1}}
    assert "by_place" not in _scorer(post, events, None).explain(np.full(2, 0.5, np.float32))


def test_streams_per_keyword_thresholds_hear_more_for_the_same_budget():
    """"yes" is clean, "no" has loud false alarms: one shared threshold must sit above
    them and loses the quiet yeses; per-keyword thresholds keep both within the budget."""
    rng = np.random.default_rng(5)
    hours = 1.0
    post = np.zeros((int(hours * 360000), 2), np.float32)
    events = []
    for i in range(200):
        t = 10.0 + i * 17.0
        kw = "yes" if i % 2 else "no"
        events.append(Event(kw, t, t + 0.4))
        frame = int((t + 0.5) * 100)
        post[frame:frame + 8, 1 if kw == "yes" else 0] = rng.uniform(0.6, 0.99) \
            if kw == "no" else rng.uniform(0.55, 0.9)
    for i in range(30):  # "no" fires loudly between keywords
        frame = int((18.5 + i * 100.0) * 100)
        post[frame:frame + 8, 0] = 0.97
    scorer = _scorer(post, events, None)
    thresholds = scorer.calibrate(1.0)
    ours = scorer.at(thresholds)
    assert sum(ours.false_alarms.values()) <= 1
    assert thresholds[1] < thresholds[0]          # yes lower than no
    shared_thr = pick_threshold(scorer.sweep(), 1.0)["threshold"]
    shared_hits = sum(scorer.at(np.full(2, shared_thr, np.float32)).hits.values())
    assert sum(ours.hits.values()) > shared_hits


def test_streams_calibrated_thresholds_reach_the_bundle(tiny_run, tiny_stream, tmp_path,
                                                        capsys):
    """kws eval --stream writes one threshold per keyword to RUN/eval/thresholds.json;
    kws export puts them in bundle.json with where they came from, and the runtime uses
    them."""
    import json
    import shutil

    from kws.cli import main
    from kws.runtime import Detector

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    wav, _ = tiny_stream
    assert main(["eval", str(run), "--no-clips", "--stream", str(wav), "--target-fa", "5",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["stream"]
    saved = json.loads((run / "eval" / "thresholds.json").read_text())
    assert saved["thresholds"] == report["calibrated_thresholds"]
    assert set(saved["thresholds"]) == {"yes", "no", "stop"}
    assert main(["export", str(run), "--out", str(tmp_path / "bundle"), "--quantize", "none"]) \
        == 0
    decision = json.loads((tmp_path / "bundle" / "bundle.json").read_text())["decision"]
    assert decision["thresholds"] == pytest.approx(saved["thresholds"])
    assert decision["calibration"]["stream"] == str(wav)
    assert decision["calibration"]["target_false_alarms_per_hour"] == 5
    det = Detector(tmp_path / "bundle")
    assert det.decision.thresholds == pytest.approx(saved["thresholds"])
