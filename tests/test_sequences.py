"""Training for continuous audio: sequences laid out like a stream with a target for every
step, their loss, training with continuous speech, real rooms and mined hard negatives,
and a model trained that way detecting in a clean stream what it classifies in clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kws.config import AugmentConfig, SequenceConfig
from kws.data.sequences import NOT_KEYWORD, build_material, make_sequences, only_free, step_ends
from kws.train.loss import Classes, sequence_loss
from tests.conftest import SHARED, tiny_overrides

RATE, HOP, WIN, STRIDE = 16000, 160, 400, 2
TONE = {2: 500.0, 3: 1500.0}  # class index -> tone frequency of its "keyword" clips


def _material(n: int = 40):
    """Keyword clips are a tone (500 Hz for class 2, 1500 Hz for class 3) from 0.3 to
    0.6 s in 1 s of digital silence; the other clips (class 1) are silence: every sound in
    a sequence is a keyword, and where it ends can be read off the audio."""
    t = np.arange(RATE) / RATE
    clips, labels = [], []
    for i in range(n):
        label = (2, 3, 1, 1)[i % 4]
        clip = np.zeros(RATE)
        if label in TONE:
            part = slice(int(0.3 * RATE), int(0.6 * RATE))
            clip[part] = 0.5 * np.sin(2 * np.pi * TONE[label] * t[part])
        clips.append(np.round(clip * 32767).astype(np.int16))
        labels.append(label)
    labels_t = torch.tensor(labels)
    spoken = torch.tensor([[int(0.3 * RATE), int(0.6 * RATE)]] * n)
    return build_material(torch.from_numpy(np.stack(clips)), labels_t, spoken, labels_t >= 2,
                          silence=0, continuous=[], hard=[])


def _tones(audio: np.ndarray) -> list[tuple[int, int, int]]:
    """(onset, end, class) of each tone in a sequence."""
    loud = np.convolve(np.abs(audio) > 0.05, np.ones(64), mode="same") > 0
    edges = np.flatnonzero(np.diff(np.r_[0, loud.astype(np.int8), 0]))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        crossings = np.count_nonzero(np.diff(np.signbit(audio[a:b])))
        freq = crossings / 2 / ((b - a) / RATE)
        out.append((a + 32, b - 32, 2 if freq < 1000 else 3))
    return out


def test_sequences_targets_follow_the_keywords_laid_out():
    """Steps ending 50-250 ms after a keyword ends are that keyword; from its onset to
    tail_ms past that window, free for that keyword alone; everywhere else, not a keyword.
    Read against the tones found in the audio itself."""
    cfg = SequenceConfig(seconds=4.0, keyword_share=0.5, margin_ms=100.0, tail_ms=500.0,
                         window_ms=[50.0, 250.0])
    aug = AugmentConfig(noise_prob=0.0, gain_db=[0.0, 0.0])
    frames = 1 + (4 * RATE - WIN) // HOP
    ends = step_ends(frames, HOP, WIN, STRIDE)
    g = torch.Generator().manual_seed(3)
    seq = make_sequences(_material(), cfg, aug, 16, RATE, ends, g, torch.zeros(0))
    e = ends.numpy()
    checked = 0
    for audio, targets in zip(seq.audio.numpy(), seq.targets.numpy(), strict=True):
        tones = _tones(audio)
        assert tones, "no keyword in a sequence"
        want = np.full(len(e), NOT_KEYWORD)
        unsure = np.zeros(len(e), bool)
        for onset, end, cls in tones:
            want[(e >= onset) & (e < end + 0.75 * RATE)] = only_free(cls)
            unsure |= (np.abs(e - onset) < 40) | (np.abs(e - end - 0.75 * RATE) < 40)
        for _, end, cls in tones:
            want[(e >= end + 0.05 * RATE) & (e <= end + 0.25 * RATE)] = cls
            unsure |= (np.abs(e - end - 0.05 * RATE) < 40) | \
                (np.abs(e - end - 0.25 * RATE) < 40)
        assert np.array_equal(targets[~unsure], want[~unsure])
        checked += int((~unsure).sum())
    assert checked > 16 * 150


def test_sequences_loss_punishes_keywords_outside_their_window():
    classes = Classes.of(["_silence_", "_unknown_", "no", "yes"])
    targets = torch.full((1, 50), NOT_KEYWORD)
    targets[0, 10:20] = only_free(3)
    targets[0, 20:25] = 3

    def logits(fire: slice, extra: slice | None = None, other: int = 2) -> torch.Tensor:
        x = torch.zeros(1, 50, 4)
        x[0, :, 0] = 4.0
        x[0, fire, 3] = 8.0
        if extra is not None:
            x[0, extra, other] = 8.0
        return x

    right = sequence_loss(logits(slice(20, 25)), targets, classes)
    early = sequence_loss(logits(slice(15, 25)), targets, classes)  # rises while it may
    late = sequence_loss(logits(slice(30, 35)), targets, classes)
    false_alarm = sequence_loss(logits(slice(20, 25), slice(40, 42)), targets, classes)
    wrong_onset = sequence_loss(logits(slice(20, 25), slice(12, 14)), targets, classes)
    assert early <= right                 # rising early costs nothing
    assert right < late and right < false_alarm and right < wrong_onset
    assert float(right) < 0.1


def test_sequences_train_with_continuous_speech_rooms_and_hard_negatives(tiny_corpus,
                                                                         tmp_path):
    """One epoch with every source of sequence material (continuous speech and measured
    rooms from ../shared/data when there, mined windows)."""
    from kws.config import load_config
    from kws.train.trainer import train

    hard = tmp_path / "hard"
    rng = np.random.default_rng(0)
    from kws.audio import save_audio

    for i in range(3):
        save_audio(hard / f"w{i}.wav", rng.standard_normal(RATE).astype(np.float32) * 0.1,
                   RATE)
    extra = {"sequences.batch": 4, "data.hard_negatives": f"[{hard}]", "train.epochs": 1}
    if (SHARED / "continuous_speech").is_dir() and (SHARED / "rir").is_dir():
        extra |= {"data.continuous": f"[{SHARED / 'continuous_speech'}]",
                  "data.continuous_minutes": 2, "augment.rir": f"[{SHARED / 'rir'}]",
                  "augment.reverb_prob": 0.5}
    overrides = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus, **extra)]
    lines = []
    summary = train(load_config(None, overrides), tmp_path / "run", log=lines.append,
                    progress=False)
    assert summary["steps"] > 0 and np.isfinite(summary["val_loss"])
    note = next(x for x in lines if x.startswith("training sequences"))
    assert "3 hard negatives" in note
    if "data.continuous" in extra:
        assert "2.0 min of continuous speech" in note


def test_sequences_hard_negative_mining_finds_and_keeps_windows(tiny_run, tiny_corpus,
                                                                tmp_path, capsys):
    """`kws mine` on a stream of other words writes the windows where the model fires,
    lists them, and a second round on the same audio adds nothing."""
    from kws.cli import main
    from kws.eval.longstream import make_stream

    info = make_stream(str(tiny_corpus), tmp_path / "words.wav", split="train", minutes=3,
                       filler_prob=1.0, gap_s=(0.2, 0.6), seed=2)
    args = ["mine", str(tiny_run), "--audio", info["audio"], "--out", str(tmp_path / "hard"),
            "--threshold", "0.3", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["new_windows"] > 0 and first["windows"] == first["new_windows"]
    listed = json.loads((tmp_path / "hard" / "mined.json").read_text())["windows"]
    assert len(listed) == first["windows"]
    assert all((tmp_path / "hard" / w["file"]).is_file() for w in listed)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["new_windows"] == 0 and again["windows"] == first["windows"]
    assert main(["mine", str(tiny_run), "--audio", str(tmp_path / "nothing"),
                 "--out", str(tmp_path / "x")]) == 2


@pytest.fixture(scope="module")
def stream_bundle(tiny_corpus, tmp_path_factory) -> Path:
    """A small GRU trained with sequences (the stream-ready way), exported as a bundle."""
    from kws.config import load_config
    from kws.export.bundle import ExportOptions, export_bundle
    from kws.train.trainer import train

    run = tmp_path_factory.mktemp("stream_run") / "run"
    overrides = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus, **{
        "model.hidden": 48, "train.epochs": 20, "train.lr": 0.01, "sequences.batch": 8,
        "augment.context_ms": 500})]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the same weights whatever earlier tests set
    try:
        train(load_config(None, overrides), run, log=lambda *_: None, progress=False)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("stream_bundle") / "bundle"
    export_bundle(run, out, ExportOptions(quantize="none", verify_clips=8, accuracy_clips=40),
                  log=lambda *_: None)
    return out


def test_sequences_clean_stream_parity_with_clip_accuracy(stream_bundle, tiny_corpus,
                                                          tmp_path):
    """The corpus' keyword clips, whole, 1-2 s apart in a clean stream (100 dB SNR): the
    detection rate at threshold 0.5 is within 2 points of the same bundle's clip accuracy
    on them. (With the clips cut to their spoken part, as make-stream did, the quickstart
    bundle detected 77 % of clips it classified 97.8 % right.)"""
    from kws.data.cache import decode_row, fit_clip
    from kws.data.corpora import read_corpus, with_task
    from kws.eval.longstream import make_stream
    from kws.eval.stream_eval import stream_report
    from kws.eval.target import open_target

    target = open_target(str(stream_bundle))
    rows = [r for r in with_task(read_corpus(tiny_corpus), "auto")
            if not r.label.startswith("_")]
    clips = np.stack([fit_clip(decode_row(r, RATE), RATE) for r in rows])
    post = target.clip_posteriors(clips)
    truth = np.array([target.labels.index(r.label) for r in rows])
    accuracy = float((post[:, -1].argmax(axis=1) == truth).mean())
    seconds = sum(len(decode_row(r, RATE)) / RATE + 1.5 for r in rows)
    info = make_stream(str(tiny_corpus), tmp_path / "clean.wav", split="all",
                       minutes=seconds / 60, snr_db=100, filler_prob=0.0, gap_s=(1.0, 2.0),
                       seed=4)
    report = stream_report(target, info["audio"], info["labels"], log=lambda *_: None)
    at_half = next(r for r in report["det"] if abs(r["threshold"] - 0.5) < 1e-6)
    detected = 1 - at_half["miss_rate"]
    assert report["events"] >= 0.8 * len(rows)
    assert abs(detected - accuracy) <= 0.02, (detected, accuracy)
