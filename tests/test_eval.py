"""Evaluation: clip reports, long-stream building, streaming scores that are the same for
PyTorch and ONNX, threshold picking, and one-line errors for bad label files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kws.cli import main
from kws.errors import KwsInputError
from kws.eval.longstream import Event, make_stream, read_labels, write_labels
from kws.eval.stream_eval import pick_threshold, score, stream_report
from kws.eval.target import open_target


def test_eval_clip_report_and_confusion_png(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["clips"]
    assert out["split"] == "test" and 0.5 < out["accuracy"] <= 1.0
    assert set(out["per_class"]) == set(out["labels"])
    m = np.array(out["confusion"])
    assert m.sum() == out["clips"] and np.trace(m) / m.sum() == pytest.approx(out["accuracy"])
    assert (tiny_run / "eval" / "clips_test_confusion.png").stat().st_size > 5000
    speakers = out["per_speaker"]
    spoken = m.sum() - m[out["labels"].index("_silence_")].sum()
    assert len(speakers) > 1 and sum(v["clips"] for v in speakers.values()) == spoken
    rates = [v["accuracy"] for v in speakers.values()]
    assert rates == sorted(rates)  # worst first
    assert len(out["errors"]) == m.sum() - np.trace(m)
    assert all(e["truth"] != e["predicted"] and Path(e["file"]).is_file()
               for e in out["errors"])
    wrong_by_speaker = {spk: v["errors"] for spk, v in speakers.items() if v["errors"]}
    spoken_errors = [e["speaker"] for e in out["errors"] if e["truth"] != "_silence_"]
    assert wrong_by_speaker == {s: spoken_errors.count(s) for s in set(spoken_errors)}


def test_eval_bundle_and_run_give_the_same_streaming_numbers(tiny_run, tiny_bundle,
                                                              tiny_stream):
    wav, labels = tiny_stream
    quiet = {"log": lambda *_: None}
    torch_report = stream_report(open_target(tiny_run), wav, labels, **quiet)
    onnx_report = stream_report(open_target(tiny_bundle), wav, labels, **quiet)
    assert torch_report["events"] > 20
    assert torch_report["det"] == onnx_report["det"]
    assert torch_report["at_threshold"] == onnx_report["at_threshold"]
    assert torch_report["threshold"] == onnx_report["threshold"]
    assert any(r["miss_rate"] < 1.0 for r in torch_report["det"])


def test_eval_bundle_clip_accuracy_equals_pytorch(tiny_run, tiny_bundle, capsys):
    assert main(["eval", str(tiny_run), "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["clips"]
    assert main(["eval", str(tiny_bundle), "--json"]) == 0
    b = json.loads(capsys.readouterr().out)["clips"]
    assert a["accuracy"] == b["accuracy"] and a["confusion"] == b["confusion"]


def test_eval_make_stream_is_deterministic(tiny_corpus, tmp_path):
    a = make_stream(str(tiny_corpus), tmp_path / "a.wav", split="test", minutes=1, seed=4,
                    inside_prob=0.3)
    make_stream(str(tiny_corpus), tmp_path / "b.wav", split="test", minutes=1, seed=4,
                inside_prob=0.3)
    make_stream(str(tiny_corpus), tmp_path / "c.wav", split="test", minutes=1, seed=5,
                inside_prob=0.3)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    for name in ("a.csv", "a.speech.csv"):
        assert (tmp_path / name).read_text() == (tmp_path / name.replace("a", "b")).read_text()
    assert (tmp_path / "a.csv").read_text() != (tmp_path / "c.csv").read_text()
    assert a["keywords"] > 5 and abs(a["seconds"] - 60) < 0.01
    events = read_labels(tmp_path / "a.csv", a["seconds"], ["yes", "no", "stop"])
    assert all(0.1 < e.end - e.start < 1.05 for e in events)


def test_eval_scoring_rules():
    events = [Event("yes", 1.0, 1.5), Event("no", 5.0, 5.4), Event("yes", 9.0, 9.5)]
    s = score([("yes", 1.6), ("yes", 1.7), ("no", 7.0), ("yes", 9.2)], events,
              ["yes", "no"])
    assert s.hits == {"yes": 2, "no": 0} and s.misses == {"yes": 0, "no": 1}
    assert s.false_alarms == {"yes": 1, "no": 1}  # a second detection of a word is one too
    assert sorted(round(x, 3) for x in s.latencies) == [-0.3, 0.1]
    sweep = [{"threshold": 0.3, "false_alarms_per_hour": 5.0, "miss_rate": 0.1},
             {"threshold": 0.6, "false_alarms_per_hour": 0.8, "miss_rate": 0.2},
             {"threshold": 0.9, "false_alarms_per_hour": 0.0, "miss_rate": 0.4}]
    assert pick_threshold(sweep, 1.0)["threshold"] == 0.6
    assert pick_threshold(sweep, 0.0)["threshold"] == 0.9


@pytest.mark.parametrize("rows,pattern", [
    ([("yes", 1.0, 1.5), ("no", 100.0, 100.5)], "recording is 10.00 s long"),
    ([("yes", 1.0, 1.5), ("no", 1.4, 2.0)], "overlapping labels"),
    ([("banana", 1.0, 1.5)], "unknown keyword 'banana'"),
    ([("yes", 2.0, 1.0)], "expected 0 <= start < end"),
])
def test_eval_bad_label_files_one_line_error(tmp_path, rows, pattern):
    path = tmp_path / "labels.csv"
    write_labels(path, [Event(*r) for r in rows])
    with pytest.raises(KwsInputError, match=pattern) as info:
        read_labels(path, 10.0, ["yes", "no"])
    assert "\n" not in str(info.value)


def test_eval_cli_bad_labels_exit_2(tiny_bundle, tiny_stream, tmp_path, capsys):
    wav, _ = tiny_stream
    bad = tmp_path / "bad.csv"
    write_labels(bad, [Event("yes", 1.0, 1.5), Event("yes", 1.2, 1.6)])
    assert main(["eval", str(tiny_bundle), "--no-clips", "--stream", str(wav),
                 "--labels", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "overlapping labels" in err and err.count("\n") == 0


def _test_only_copies(corpus: Path, folder: Path) -> list[tuple[str, str]]:
    """The corpus' test clips copied into `folder` (label/name), no noise: (file, label)."""
    import shutil

    from kws.data.corpora import read_corpus

    out = []
    for row in read_corpus(corpus).rows:
        if row.split == "test":
            rel = f"{row.label}/{Path(row.path).name}"
            (folder / row.label).mkdir(parents=True, exist_ok=True)
            shutil.copy(row.path, folder / rel)
            out.append((rel, row.label))
    return out


@pytest.mark.parametrize("target", ["tiny_run", "tiny_bundle"])
def test_eval_on_recordings_that_are_all_test_data(target, tiny_corpus, tmp_path, capsys,
                                                   request):
    """Someone else's recordings: a Speech Commands layout whose every file is in
    testing_list.txt, and a test.csv without a noise folder. Evaluation needs no training
    clips; a model with a _silence_ class scores the clips that exist and says so."""
    model = request.getfixturevalue(target)
    folder = tmp_path / "theirs"
    files = _test_only_copies(tiny_corpus, folder)
    (folder / "testing_list.txt").write_text("".join(f"{f}\n" for f, _ in files))
    with (folder / "test.csv").open("w") as fh:
        fh.write("file,class\n" + "".join(f"{f},{lab}\n" for f, lab in files))
    for data in (folder, folder / "test.csv"):
        if data == folder:
            (folder / "test.csv").rename(tmp_path / "aside.csv")   # the folder layout alone
        else:
            (tmp_path / "aside.csv").rename(folder / "test.csv")
        assert main(["eval", str(model), "--data", str(data), "--out",
                     str(tmp_path / "out"), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)["clips"]
        assert report["split"] == "test"
        assert report["clips"] == len(files)            # every clip, no _silence_ made up
        assert report["accuracy"] > 0.5
    assert main(["eval", str(model), "--data", str(folder / "test.csv"), "--out",
                 str(tmp_path / "out")]) == 0
    assert "no _silence_ clips are scored" in capsys.readouterr().out
