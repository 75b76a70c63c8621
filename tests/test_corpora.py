"""Corpus readers: every layout to the same manifest rows, bad files reported not fatal."""

from __future__ import annotations

import json
import shutil

import numpy as np
import soundfile as sf

from kws.cli import main
from kws.data.cache import load_or_build
from kws.data.corpora import hash_split, read_corpus, with_task
from kws.data.manifest import SILENCE, UNKNOWN, order_labels, rows_from_csv, rows_to_csv
from kws.data.report import corpus_report
from kws.data.silence import silence_rows
from tests.conftest import shared


def test_corpus_speech_commands_mini_report():
    report = corpus_report(shared("speech_commands_mini"))
    assert report["layout"] == "speech_commands"
    assert len(report["words"]) == 35
    assert report["noise_folder"] == "_background_noise_" and len(report["noise_files"]) == 6
    assert set(report["splits"]) == {"train", "validation", "test"}
    assert report["speakers_total"] == 130
    assert report["splits"]["test"] == 330 and report["splits"]["validation"] == 331
    task = report["task"]
    assert task["num_labels"] == 12 and SILENCE in task["labels"] and UNKNOWN in task["labels"]
    assert report["bad_files"] == []


def test_corpus_speech_commands_splits_are_speaker_disjoint():
    corpus = read_corpus(shared("speech_commands_mini"))
    by_split = {s: {r.speaker for r in corpus.rows if r.split == s}
                for s in ("train", "validation", "test")}
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["validation"]


def test_corpus_speech_commands_35_word_task():
    corpus = read_corpus(shared("speech_commands_mini"))
    rows = with_task(corpus, "sc35")
    assert len({r.label for r in rows}) == 35


def test_corpus_arabic_train_csv():
    report = corpus_report(shared("arabic_speech_commands", "train.csv"))
    assert report["layout"] == "csv"
    assert len(report["words"]) == 40 and report["clips"] == 7200
    assert report["speakers_total"] == 18 and report["splits"] == {"train": 7200}
    assert "zoom in" in report["words"] and "zoom out" in report["words"]
    assert report["bad_files"] == []


def test_corpus_arabic_folder_reads_both_csvs():
    corpus = read_corpus(shared("arabic_speech_commands"))
    splits = {r.split for r in corpus.rows}
    assert splits == {"train", "validation"} and len(corpus.rows) == 9600


def test_corpus_fsdd_split_by_index():
    corpus = read_corpus(shared("fsdd"))
    assert corpus.layout == "fsdd" and corpus.words == [str(d) for d in range(10)]
    for row in corpus.rows[:200]:
        index = int(row.path.rsplit("_", 1)[1].split(".")[0])
        assert row.split == ("test" if index < 5 else "validation" if index < 10 else "train")
    assert sum(r.split == "test" for r in corpus.rows) == 300


def test_corpus_v001_layout_without_lists_uses_speaker_hash(tmp_path):
    """The v0.01 layout as WAV, without list files: the dataset's hash-of-speaker split."""
    src = shared("speech_commands_mini")
    for word in ("yes", "no"):
        (tmp_path / word).mkdir()
        for f in sorted((src / word).glob("*.flac"))[:30]:
            audio, rate = sf.read(f)
            sf.write(tmp_path / word / (f.stem + ".wav"), audio, rate)
    (tmp_path / "_background_noise_").mkdir()
    shutil.copy(src / "_background_noise_" / "white_noise.flac", tmp_path / "_background_noise_")
    corpus = read_corpus(tmp_path)
    assert corpus.layout == "speech_commands" and len(corpus.rows) == 60
    for row in corpus.rows:
        assert row.split == hash_split(row.path.rsplit("/", 1)[1])
    assert hash_split("0a7c2a8d_nohash_0.wav") == hash_split("0a7c2a8d_nohash_3.wav")


def test_corpus_folder_per_label_with_bad_files_reports_and_goes_on(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("alpha", "beta"):
        (tmp_path / label).mkdir()
        for i in range(3):
            sf.write(tmp_path / label / f"spk{i}_nohash_{i}.wav",
                     0.1 * rng.standard_normal(8000).astype(np.float32), 16000)
    (tmp_path / "alpha" / "empty_nohash_9.wav").write_bytes(b"")
    (tmp_path / "beta" / "junk_nohash_9.flac").write_bytes(rng.bytes(3000))
    report = corpus_report(tmp_path, silence_fraction=0)
    assert report["layout"] == "folders" and report["clips"] == 8
    reasons = {b["file"].rsplit("/", 1)[1]: b["reason"] for b in report["bad_files"]}
    assert set(reasons) == {"empty_nohash_9.wav", "junk_nohash_9.flac"}
    assert "empty" in reasons["empty_nohash_9.wav"]
    assert "cannot" in reasons["junk_nohash_9.flac"]
    cache = load_or_build(read_corpus(tmp_path).rows, 16000, 16000, tmp_path / "cache",
                          workers=1, log=lambda *_: None)
    assert cache.clips.shape == (6, 16000) and len(cache.bad) == 2


def test_corpus_csv_with_speaker_column_and_bad_rows(tmp_path):
    (tmp_path / "a b").mkdir()
    sf.write(tmp_path / "a b" / "x.wav", np.zeros(1600, np.float32) + 0.1, 16000)
    (tmp_path / "test.csv").write_text("file,class,speaker\na b/x.wav,hello,s1\n,bye,s2\n")
    corpus = read_corpus(tmp_path / "test.csv")
    assert [(r.label, r.speaker, r.split) for r in corpus.rows] == [("hello", "s1", "test")]
    assert corpus.problems and "empty" in corpus.problems[0][1]


def test_corpus_silence_rows_are_split_disjoint_and_deterministic():
    corpus = read_corpus(shared("speech_commands_mini"))
    rows = with_task(corpus, "sc12")
    a = silence_rows(rows, corpus.noise_files, 0.1, 1.0, seed=3)
    b = silence_rows(rows, corpus.noise_files, 0.1, 1.0, seed=3)
    assert a == b and all(r.label == SILENCE for r in a)
    from kws.data.silence import SPLIT_SPANS, noise_durations

    durations, _ = noise_durations(corpus.noise_files)
    for r in a:
        lo, hi = SPLIT_SPANS[r.split]
        assert lo * durations[r.path] <= r.offset
        assert r.offset + r.duration <= hi * durations[r.path] + 1e-6


def test_corpus_manifest_csv_round_trip():
    rows = read_corpus(shared("fsdd")).rows[:20]
    assert rows_from_csv(rows_to_csv(rows)) == rows


def test_corpus_label_order_puts_fillers_first():
    assert order_labels({"yes", "_unknown_", "no", "_silence_"}) == \
        ["_silence_", "_unknown_", "no", "yes"]


def test_corpus_cli_json_and_exit_codes(tmp_path, capsys):
    assert main(["data", str(shared("fsdd")), "--json", "--no-decode"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["layout"] == "fsdd" and out["speakers_total"] == 6
    assert main(["data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such corpus" in err
