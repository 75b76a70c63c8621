"""kws synth: fast, distinct, deterministic renditions in a layout the readers accept."""

from __future__ import annotations

import time

import numpy as np

from kws.cli import main
from kws.data.corpora import read_corpus
from kws.data.synth import synthesize_corpus


def test_synth_600_distinct_clips_under_a_minute(tmp_path):
    t0 = time.perf_counter()
    assert main(["synth", "--words", "yes,no,up", "--per-word", "200", "--engines", "espeak",
                 "--out", str(tmp_path / "syn"), "--noise-seconds", "5"]) == 0
    elapsed = time.perf_counter() - t0
    assert elapsed < 60
    corpus = read_corpus(tmp_path / "syn")
    assert len(corpus.rows) == 600 and corpus.words == ["no", "up", "yes"]
    import json

    summary = json.loads((tmp_path / "syn" / "synth.json").read_text())
    assert summary["distinct"] == 600
    assert len({r.speaker for r in corpus.rows}) > 50
    assert {r.split for r in corpus.rows} == {"train", "validation", "test"}
    assert len(corpus.noise_files) == 4


def test_synth_is_deterministic_for_a_seed(tmp_path):
    a = synthesize_corpus(["go"], tmp_path / "a", per_word=12, negatives=["banana"],
                          seed=5, noise_seconds=0, workers=1)
    b = synthesize_corpus(["go"], tmp_path / "b", per_word=12, negatives=["banana"],
                          seed=5, noise_seconds=0, workers=2)
    c = synthesize_corpus(["go"], tmp_path / "c", per_word=12, seed=6, noise_seconds=0)
    digests = lambda s: [f["digest"] for f in s["files"]]  # noqa: E731
    assert digests(a) == digests(b)
    assert set(digests(a)[:12]).isdisjoint(digests(c))
    labels = {r.label for r in read_corpus(tmp_path / "a").rows}
    assert labels == {"go", "_unknown_"}


def test_synth_rejects_bad_words(tmp_path, capsys):
    assert main(["synth", "--words", "_x", "--out", str(tmp_path)]) == 2
    assert main(["synth", "--words", "yes", "--negatives", "yes", "--out", str(tmp_path)]) == 2
    assert main(["synth", "--words", "yes", "--languages", "klingon", "--out",
                 str(tmp_path)]) == 2


def test_synth_trim_of_silence_is_empty_not_a_crash():
    """Some espeak-ng voices return only digital silence for some text: that rendition is
    reported as 'no audio' instead of ending the whole corpus."""
    from kws.data.synth import trim

    assert trim(np.zeros(1600, np.float32), 16000).size == 0
    assert trim(np.zeros(0, np.float32), 16000).size == 0
    word = np.zeros(16000, np.float32)
    word[8000:8800] = 0.5
    cut = trim(word, 16000)
    assert 800 <= cut.size <= 800 + 2 * 800 + 1 and cut.max() == 0.5
