"""Speech engines of kws synth: every backend says a word in several voices, a corpus of all
of them is reproducible per seed, a missing engine is reported once and skipped, and the
intelligibility check hears what was said.

Engines not installed here are skipped, unless KWS_REQUIRE_VOICES=1 (CI sets it after
`scripts/setup.sh --voices`), where a missing engine fails its test."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from kws.audio import active_region
from kws.cli import main
from kws.data.synth import synthesize_corpus
from kws.data.voices import ENGINES, find_engines, parse_engines
from kws.errors import KwsInputError


def _need(engine: str) -> None:
    why = ENGINES[engine].missing()
    if why:
        if os.environ.get("KWS_REQUIRE_VOICES") == "1":
            pytest.fail(f"engine {engine}: {why}")
        pytest.skip(f"engine {engine}: {why}")


@pytest.mark.parametrize("engine", list(ENGINES))
def test_each_engine_says_a_word_in_different_voices(engine):
    """A spoken word at 16 kHz: loud enough, a plausible length; two speakers drawn from
    different generators sound different."""
    _need(engine)
    backend = ENGINES[engine]()
    speakers = [backend.draw(np.random.default_rng([3, i])) for i in range(6)]
    assert all(s.engine == engine and s.voice.split("+")[0] in backend.voices
               for s in speakers)
    audios = [backend.render("stop", s, i) for i, s in enumerate(speakers[:2])]
    for audio in audios:
        assert audio.dtype == np.float32
        a, b = active_region(audio, 16000)
        assert 0.15 < (b - a) / 16000 < 2.0, (b - a) / 16000
        assert float(np.sqrt(np.mean(audio[a:b] ** 2))) > 0.01
    assert len({s.name for s in speakers}) > 1 or len(backend.voices) == 1
    n = min(len(x) for x in audios)
    assert not np.allclose(audios[0][:n], audios[1][:n], atol=1e-3)


def test_a_corpus_of_every_engine_here_is_reproducible_and_reports_them(tmp_path):
    present, _ = find_engines(list(ENGINES))
    if len(present) < 2:
        pytest.skip("fewer than two engines installed")
    args = dict(per_word=4 * len(present), negatives=["window"], seed=2, noise_seconds=0,
                engines=present, log=lambda _: None)
    a = synthesize_corpus(["go"], tmp_path / "a", workers=1, **args)
    b = synthesize_corpus(["go"], tmp_path / "b", workers=2, **args)
    digests = lambda s: [f["digest"] for f in s["files"]]  # noqa: E731
    assert digests(a) == digests(b)
    assert a["engines"] == present
    assert set(a["by_engine"]) == {f["engine"] for f in a["files"]}
    assert sum(sum(v.values()) for v in a["by_engine"].values()) == a["clips"]
    assert len(a["by_engine"]) >= len(present) - 1  # drawn evenly: each (almost surely) used
    speakers = {f["file"].split("/")[1].split("_nohash_")[0] for f in a["files"]}
    assert any(s.startswith(tuple(e + "-" for e in present if e != "espeak"))
               for s in speakers)


def test_a_missing_engine_is_reported_once_and_skipped(tmp_path, monkeypatch):
    """With no programs on the PATH, the command-line engines are missing: each is named
    once, with why, and the corpus is made of the engines that remain."""
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    lines: list[str] = []
    summary = synthesize_corpus(["go"], tmp_path / "c", per_word=8, noise_seconds=0,
                                engines=["espeak", "flite", "pico"], log=lines.append,
                                workers=1)
    assert sorted(lines) == ["engine flite left out: program flite not found",
                             "engine pico left out: program pico2wave not found"]
    assert summary["engines"] == ["espeak"] and summary["clips"] == 8
    with pytest.raises(KwsInputError, match="none of them runs here"):
        synthesize_corpus(["go"], tmp_path / "d", per_word=2, noise_seconds=0,
                          engines=["flite"], log=lines.append)


def test_engine_names_are_checked():
    assert parse_engines("all") == list(ENGINES)
    assert parse_engines("espeak, piper") == ["espeak", "piper"]
    with pytest.raises(KwsInputError, match="unknown engine"):
        parse_engines("espeak,klatt")


def test_the_recogniser_normalises_numbers_and_homophones():
    from kws.data.intelligibility import normalise

    assert normalise("Four.") == normalise("4") == normalise("for") == "four"
    assert normalise("Right!") == normalise("write") == "right"
    assert normalise("Hey, Toaster...") == "hey toaster"


def test_asr_check_keeps_what_it_hears_and_drops_the_rest(tmp_path):
    """The intelligibility check with the real recogniser: a clear espeak-ng "computer" passes;
    the same audio checked against another text does not."""
    from kws.data.intelligibility import Listener, missing

    if why := missing():
        if os.environ.get("KWS_REQUIRE_VOICES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    backend = ENGINES["espeak"]()
    from kws.data.voices import Speaker

    speaker = Speaker("espeak", "en-us", (("rate", 150.0), ("pitch", 50.0), ("range", 50.0),
                                          ("volume", 100.0)))
    audio = backend.render("computer", speaker, 0)
    listener = Listener()
    assert listener.hears(audio, "computer")[0]
    assert not listener.hears(audio, "stop")[0]
    assert main(["synth", "--words", "computer", "--per-word", "6", "--engines", "espeak",
                 "--asr-check", "--noise-seconds", "0", "--workers", "1", "--out",
                 str(tmp_path / "s")]) == 0
    summary = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert summary["asr_check"] and summary["clips"] + summary["unheard"] == 6
    assert summary["clips"] >= 3
