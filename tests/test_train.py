"""Training: the run directory, kill-and-resume, two-process DDP, the loss, weight averaging
and fine-tuning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from kws.train.checkpoint import load_model
from kws.train.loss import Classes, clip_predictions, distillation_loss, end_loss, maxpool_loss
from tests.conftest import random_run, tiny_overrides

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


# The kill-and-resume runs average their weights (train.ema), so the average is resumed too,
# and warp the front end (augment.warp), whose factors come from the step's generator.
RESUMED = {"train.epochs": 3, "train.ema": 0.9, "augment.warp": "[0.9,1.1]"}


def _kws(*args: str, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws", *args], env=env or ENV,
                          capture_output=True, text=True, timeout=600, **kw)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    model, _, _ = load_model(path)
    return model.state_dict()


def test_train_run_directory_holds_everything(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    res = _kws("train", "--out", str(run), "--no-progress", "--json",
               *tiny_overrides(tiny_corpus))
    assert res.returncode == 0, res.stderr
    for name in ("config.yaml", "metrics.jsonl", "curves.png", "best.pt", "model.pt",
                 "summary.json", "ckpt/index.json"):
        assert (run / name).is_file(), name
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert all(0 <= x["val_accuracy"] <= 1 and x["clips_per_second"] > 0 for x in lines)
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["labels"][0] == "_silence_" and summary["params"] > 0
    # a second run into the same directory is refused, the first one is untouched
    before = (run / "model.pt").read_bytes()
    again = _kws("train", "--out", str(run), *tiny_overrides(tiny_corpus))
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert (run / "model.pt").read_bytes() == before


@pytest.fixture(scope="module")
def straight(tiny_corpus, tmp_path_factory) -> Path:
    """An uninterrupted 3-epoch run: what every killed-and-resumed run must end as."""
    run = tmp_path_factory.mktemp("straight") / "run"
    res = _kws("train", "--out", str(run), "--no-progress",
               *tiny_overrides(tiny_corpus, **RESUMED))
    assert res.returncode == 0, res.stderr[-2000:]
    return run


def test_train_resume_after_sigkill_gives_identical_weights(tiny_corpus, straight, tmp_path):
    args = tiny_overrides(tiny_corpus, **RESUMED)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "kws", "train", "--out", str(killed),
                             "--no-progress", *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    index = killed / "ckpt" / "index.json"
    deadline = time.time() + 300
    while not index.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "model.pt").exists()
    first = json.loads(index.read_text())["checkpoints"][-1]["step"]
    resumed = _kws("train", "--out", str(killed), "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at epoch" in resumed.stdout and first >= 3
    a, b = _weights(straight / "model.pt"), _weights(killed / "model.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    m1 = (straight / "metrics.jsonl").read_text().splitlines()
    m2 = (killed / "metrics.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in json.loads(x).items()  # noqa: E731
                            if k != "clips_per_second"} for x in lines]
    assert strip(m1) == strip(m2)


# Runs `kws train ...` and SIGKILLs itself half-way through writing the N-th file whose name
# starts with PREFIX (a checkpoint or the checkpoint index): the half-written temporary is on
# disk, the rename never happens. Usage: python -c DIE_WHILE_WRITING N PREFIX kws-args...
DIE_WHILE_WRITING = """
import os, signal, sys
from pathlib import Path
import kws.atomic as atomic
real, count = atomic.atomic_write, [0]
n, prefix = int(sys.argv[1]), sys.argv[2]

def dying(path, write, mode="wb"):
    if Path(path).name.startswith(prefix):
        count[0] += 1
        if count[0] == n:
            def half(fh):
                import io
                buf = io.BytesIO()
                write(buf)
                fh.write(buf.getvalue()[:len(buf.getvalue()) // 2])
                fh.flush()
                os.fsync(fh.fileno())
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, half, mode)
    return real(path, write, mode)

atomic.atomic_write = dying
from kws.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _kill_after_next_checkpoint(proc: subprocess.Popen, ckpt: Path, delay: float) -> bool:
    """SIGKILL a resumed run `delay` seconds after it writes its first new checkpoint, so
    the kill lands in training (or a later write) whatever the machine's speed; False when
    the run ended first."""
    before = set(ckpt.glob("step-*"))
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if set(ckpt.glob("step-*")) - before:
            time.sleep(delay)
            break
        time.sleep(0.005)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.slow  # ~55 s for both; CI runs the slow set in its own step
@pytest.mark.parametrize("prefix", ["step-", "index.json"])
def test_train_resume_after_sigkill_at_random_points(tiny_corpus, straight, tmp_path, prefix):
    """Killed half-way through writing a checkpoint (or the index naming it), then killed
    again at random moments of each resume: the run still ends with the weights and
    metrics of an uninterrupted run, and no half-written file is left."""
    rng = np.random.default_rng(len(prefix))
    args = tiny_overrides(tiny_corpus, **RESUMED)
    run = tmp_path / "chaos"
    nth = int(rng.integers(1, 4))
    died = subprocess.run([sys.executable, "-c", DIE_WHILE_WRITING, str(nth), prefix, "train",
                           "--out", str(run), "--no-progress", *args], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert list((run / "ckpt").glob(".*.tmp")), "the kill did not land inside a write"
    kills = 0
    for _ in range(6):  # resumes killed at random moments, then one left to finish
        proc = subprocess.Popen([sys.executable, "-m", "kws", "train", "--out", str(run),
                                 "--resume", "--no-progress"], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kills += _kill_after_next_checkpoint(proc, run / "ckpt", float(rng.uniform(0.0, 0.4)))
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL
    else:
        final = _kws("train", "--out", str(run), "--resume", "--no-progress")
        assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= 1
    a, b = _weights(straight / "model.pt"), _weights(run / "model.pt")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    strip = lambda p: [{k: v for k, v in json.loads(x).items()  # noqa: E731
                        if k != "clips_per_second"} for x in p.read_text().splitlines()]
    assert strip(straight / "metrics.jsonl") == strip(run / "metrics.jsonl")
    assert not list(run.glob(".*.tmp")) and not list((run / "ckpt").glob(".*.tmp"))


def test_train_ddp_two_processes_match_one(tiny_corpus, tmp_path):
    # warp and mel-band masks are drawn for the global batch: each rank takes its slice
    args = tiny_overrides(tiny_corpus, **{"train.epochs": 1, "train.batch_size": 16,
                                          "augment.warp": "[0.9,1.1]", "augment.freq_masks": 2,
                                          "augment.freq_mask_space": "mel"})
    one = tmp_path / "one"
    assert _kws("train", "--out", str(one), "--no-progress", *args).returncode == 0
    two = tmp_path / "two"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", "-m", "kws", "train", "--out", str(two),
                          "--no-progress", *args], env=ENV, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 processes" in res.stdout
    a, b = _weights(one / "model.pt"), _weights(two / "model.pt")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-4), key
    moved = max((a[k] - b[k]).abs().max().item() for k in a if "weight" in k)
    assert moved < 1e-5


def test_train_maxpool_loss_rewards_a_peak_and_punishes_other_peaks():
    classes = Classes.of(["_silence_", "a", "b"])
    labels = torch.tensor([2])
    flat = torch.zeros(1, 10, 3)
    peaked = flat.clone()
    peaked[0, 6, 2] = 8.0
    wrong_peak = peaked.clone()
    wrong_peak[0, 2, 1] = 8.0
    lf, lp, lw = (maxpool_loss(x, labels, classes).item() for x in (flat, peaked, wrong_peak))
    assert lp < lf and lw > lp
    # a silence clip is silence at every frame
    sil = torch.zeros(1, 10, 3)
    sil[0, :, 0] = 6.0
    assert maxpool_loss(sil, torch.tensor([0]), classes).item() < 0.1
    # the context's keyword is not punished
    ignore = torch.tensor([1])
    assert maxpool_loss(wrong_peak, labels, classes, ignore=ignore).item() == \
        pytest.approx(maxpool_loss(peaked, labels, classes, ignore=ignore).item())


def test_train_end_loss_quiets_keywords_in_filler_clips_only():
    classes = Classes.of(["_silence_", "_unknown_", "yes"])
    quiet = torch.zeros(1, 10, 3)
    quiet[0, -1, 1] = 6.0                    # an _unknown_ clip, correct at its last frame
    firing = quiet.clone()
    firing[0, 4, 2] = 8.0                    # ... but "yes" fires in the middle of it
    unknown = torch.tensor([1])
    assert end_loss(firing, unknown, classes) > end_loss(quiet, unknown, classes) + 1.0
    # in a keyword clip the same mid-clip peak is not punished (only the last frame counts)
    kw = torch.zeros(1, 10, 3)
    kw[0, -1, 2] = 6.0
    kw_peak = kw.clone()
    kw_peak[0, 4, 1] = 8.0
    yes = torch.tensor([2])
    assert end_loss(kw_peak, yes, classes).item() == pytest.approx(end_loss(kw, yes, classes)
                                                                   .item())


def test_train_clip_decision_rule():
    post = np.full((3, 5, 3), 1 / 3)
    post[0, 2] = [0.05, 0.9, 0.05]   # peak of class 1
    post[1, :] = [0.8, 0.1, 0.1]     # nothing peaks: silence
    post[2, 1] = [0.1, 0.3, 0.6]     # class 2 peaks to 0.6
    assert list(clip_predictions(post, "maxpool", 0)) == [1, 0, 2]
    assert list(clip_predictions(post, "last_frame", 0)) == [0, 0, 0]


def test_train_two_runs_cannot_share_a_directory(tiny_corpus, tmp_path):
    from kws.errors import KwsInputError
    from kws.train.rundir import RunLock

    with RunLock(tmp_path), pytest.raises(KwsInputError, match="another kws train"):
        RunLock(tmp_path).__enter__()


def test_train_step_recorder_is_deterministic(tiny_corpus, tmp_path):
    """The step recorder behind scripts/gpu_check.py and `kws bench train`: the same steps
    on the same device give the same losses (gpu_check compares CUDA with the CPU)."""
    from kws.bench.train import record_steps, split_step_time
    from kws.config import load_config

    cfg = load_config(None, [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)])
    a, _, params = record_steps(cfg, tmp_path / "a", "cpu", 3, warmup=1)
    b, _, _ = record_steps(cfg, tmp_path / "b", "cpu", 3, warmup=1)
    assert a == b and len(a) == 3 and params > 0
    split = split_step_time(cfg, tmp_path / "c", "cpu", 2, warmup=1)
    assert split["data_seconds"] > 0 and split["model_seconds"] > 0


def test_train_steps_run_in_training_mode_after_validation(tiny_corpus, tmp_path):
    """Validation puts the model in eval mode; every training step must run in training mode
    (dropout on; cuDNN's RNN backward refuses eval mode) and validation restores the mode."""
    from kws.config import load_config
    from kws.train.trainer import Trainer

    cfg = load_config(None, [*(o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)),
                             "model.layers=2", "model.dropout=0.5"])
    tr = Trainer(cfg, tmp_path / "run", log=lambda *_: None, progress=False)
    tr._setup()
    modes = []
    tr.model.layers[0].register_forward_pre_hook(lambda m, _: modes.append(m.training))
    tr.model.train()
    tr.validate()
    assert tr.model.training and modes == [False] * len(modes) and modes
    modes.clear()
    tr.model.eval()
    tr._train_step(np.arange(cfg.train.batch_size), seed=1)
    assert modes == [True]


def _store_with_two(folder: Path):
    from kws.train.checkpoint import CheckpointStore

    store = CheckpointStore(folder)
    store.save({"step": 1, "w": torch.arange(1000.0)}, 1)
    store.save({"step": 2, "w": torch.arange(1000.0) * 2}, 2)
    return store


def test_train_resume_truncated_checkpoint_falls_back_to_the_previous(tmp_path):
    store = _store_with_two(tmp_path)
    newest = tmp_path / "step-000000002.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    said = []
    state = store.load_latest(log=said.append)
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(1000.0))
    assert len(said) == 1 and "checksum mismatch" in said[0]


def test_train_resume_disk_full_while_writing_keeps_the_last_good(tmp_path):
    """A real write failure (the kernel's file-size limit, EFBIG, as a full disk gives
    ENOSPC) while saving a checkpoint: the error surfaces, the index and the previous
    checkpoints are untouched, and no partial file is left."""
    _store_with_two(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code = (
        "import resource, signal, sys, torch\n"
        "from kws.train.checkpoint import CheckpointStore\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "try:\n"
        "    CheckpointStore(sys.argv[1]).save({'step': 3, 'w': torch.zeros(100000)}, 3)\n"
        "except OSError as exc:\n"
        "    print('OSError', exc.errno); sys.exit(0)\n"
        "sys.exit(1)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("OSError"), res.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before
    from kws.train.checkpoint import CheckpointStore

    assert CheckpointStore(tmp_path).load_latest(log=lambda *_: None)["step"] == 2


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_train_nan_loss_stops_with_a_message_or_skips(tiny_corpus, tmp_path, policy):
    """Weights gone NaN (what a diverged run has) make the loss NaN: `stop` raises a clear
    TrainingError naming the step and the fix; `skip` counts the batch and leaves the
    weights alone."""
    from kws.config import load_config
    from kws.train.trainer import Trainer, TrainingError

    cfg = load_config(None, [*(o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)),
                             f"train.nan_policy={policy}"])
    tr = Trainer(cfg, tmp_path / "run", log=lambda *_: None, progress=False)
    tr._setup()
    tr.global_step, tr.skipped = 0, 0
    with torch.no_grad():
        tr.model.classifier.bias[0] = float("nan")
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    if policy == "stop":
        with pytest.raises(TrainingError, match=r"loss is nan at step 0: training diverged"):
            tr._train_step(np.arange(cfg.train.batch_size), seed=1)
    else:
        loss, correct, n = tr._train_step(np.arange(cfg.train.batch_size), seed=1)
        assert np.isnan(loss) and (correct, n) == (0, 0) and tr.skipped == 1
        after = tr.model.state_dict()
        assert all(torch.equal(before[k], after[k]) or torch.isnan(before[k]).any()
                   for k in before)


@pytest.mark.parametrize("before", [False, True])
def test_train_restores_the_callers_denormal_mode(tiny_corpus, tmp_path, before):
    """Training flushes denormal floats (6x faster steps through long contexts) but the
    mode is process state: whatever the caller had is back afterwards (a library that
    left it on broke hypothesis' float strategies in the same process)."""
    from kws.config import load_config
    from kws.train.trainer import Trainer, flushes_denormals

    cfg = load_config(None, [*(o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)),
                             "train.epochs=1"])
    seen = []
    tr = Trainer(cfg, tmp_path / "run", log=lambda *_: seen.append(flushes_denormals()),
                 progress=False)
    torch.set_flush_denormal(before)
    try:
        tr.fit()
        assert flushes_denormals() == before
    finally:
        torch.set_flush_denormal(False)
    assert seen and all(seen)  # on while it trained


def test_train_weight_average_follows_the_weights_and_swaps_back():
    from kws.train.ema import WeightAverage

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    avg = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    avg.update(net)  # warm-up decay: min(0.5, 1 / 10)
    avg.update(net)  # min(0.5, 2 / 11)
    trained = {k: v.clone() for k, v in net.state_dict().items()}
    for key in start:
        after_one = 0.1 * start[key] + 0.9 * trained[key]
        expect = (2 / 11) * after_one + (9 / 11) * trained[key]
        assert torch.allclose(avg.shadow[key], expect, atol=1e-6), key
    with pytest.raises(RuntimeError), avg.swapped_in(net):
        assert torch.equal(net.weight, avg.shadow["weight"])
        raise RuntimeError("validation failed")
    for key, value in net.state_dict().items():
        assert torch.equal(value, trained[key]), key  # the trained weights are back
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


def test_train_with_ema_validates_and_saves_the_average(tiny_corpus, tmp_path):
    from kws.config import load_config
    from kws.train.trainer import Trainer

    overrides = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)]
    cfg = load_config(None, [*overrides, "train.epochs=1", "train.ema=0.99"])
    tr = Trainer(cfg, tmp_path / "run", log=lambda *_: None, progress=False)
    tr.fit()
    saved = _weights(tmp_path / "run" / "best.pt")
    raw = tr.model.state_dict()
    assert tr.ema.updates == tr.global_step > 0
    moved = [k for k in saved if not torch.equal(saved[k], raw[k])]
    assert moved, "best.pt holds the raw weights, not their average"
    for key in saved:
        assert torch.equal(saved[key], tr.ema.shadow[key].cpu()), key


def test_train_init_starts_from_another_runs_weights(tiny_corpus, tiny_run, tmp_path):
    """Fine-tuning: with a learning rate too small to move them, the run ends with the
    weights it started from; a model of another shape is refused with one line."""
    run = tmp_path / "tuned"
    args = tiny_overrides(tiny_corpus, **{"model.hidden": 32, "train.epochs": 1,
                                          "train.lr": 1e-7})
    res = _kws("train", "--out", str(run), "--no-progress", *args,
               f"--set=train.init={tiny_run / 'model.pt'}")
    assert res.returncode == 0, res.stderr[-2000:]
    a, b = _weights(tiny_run / "model.pt"), _weights(run / "model.pt")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4), key
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert first["val_accuracy"] > 0.5  # a fresh model of this size is near chance
    wrong = _kws("train", "--out", str(tmp_path / "wrong"), "--no-progress",
                 *tiny_overrides(tiny_corpus, **{"model.hidden": 24}),
                 f"--set=train.init={tiny_run / 'model.pt'}")
    assert wrong.returncode == 2
    assert "train.init=" in wrong.stderr and "does not fit" in wrong.stderr


def test_train_init_candidates_start_from_the_best_on_validation(tiny_corpus, tiny_run,
                                                                  tmp_path):
    """train.init_candidates: of an untrained model and a trained one, in either order, the
    run starts from the trained one (the better on this run's validation split); a
    candidate with other labels, or candidates beside train.init, are refused in one line."""
    untrained = random_run(tiny_corpus, tmp_path / "untrained", hidden=32) / "model.pt"
    trained = tiny_run / "model.pt"
    args = tiny_overrides(tiny_corpus, **{"model.hidden": 32, "train.epochs": 1,
                                          "train.lr": 1e-7})
    for order in ([untrained, trained], [trained, untrained]):
        run = tmp_path / f"picked_{order[0].parent.name}"
        res = _kws("train", "--out", str(run), "--no-progress", *args,
                   f"--set=train.init_candidates=[{order[0]},{order[1]}]")
        assert res.returncode == 0, res.stderr[-2000:]
        assert f"starting from {trained}" in res.stdout
        assert json.loads((run / "summary.json").read_text())["init"] == str(trained)
        a, b = _weights(trained), _weights(run / "model.pt")
        for key in a:
            assert torch.allclose(a[key], b[key], atol=1e-4), key
    other = _without_word(tiny_corpus, "stop", tmp_path)
    wrong = _kws("train", "--out", str(tmp_path / "wrong"), "--no-progress",
                 *tiny_overrides(other, **{"model.hidden": 32}),
                 f"--set=train.init_candidates=[{trained}]")
    assert wrong.returncode == 2
    assert "train.init_candidates" in wrong.stderr and "labels differ" in wrong.stderr
    both = _kws("train", "--out", str(tmp_path / "both"), "--no-progress", *args,
                f"--set=train.init={trained}", f"--set=train.init_candidates=[{trained}]")
    assert both.returncode == 2 and "expected train.init empty" in both.stderr


def test_train_validation_corpus_judges_the_run_on_another_corpus(tiny_corpus, tiny_run,
                                                                   tmp_path):
    """data.validation_corpus: the validation split comes from the other corpus (training
    stays on the own one), so the start among train.init_candidates, and the best epoch, are
    picked on it. With "yes" and "no" swapped in the validation corpus, the model that swaps
    them wins over the one trained right; a corpus without validation clips is refused."""
    from kws.config import load_config
    from kws.data.task import prepare_task
    from kws.errors import KwsInputError

    swapped_words = tmp_path / "swapped_words"
    swapped_words.mkdir()
    for entry in tiny_corpus.iterdir():
        name = {"yes": "no", "no": "yes"}.get(entry.name, entry.name)
        (swapped_words / name).symlink_to(entry)
    swapped, cfg = _yes_no_swapped(tiny_run, tmp_path)
    trained = tiny_run / "model.pt"

    base = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)]
    data = prepare_task(load_config(None, [*base, f"data.validation_corpus={swapped_words}"]).data,
                        cfg.features.sample_rate, log=lambda *_: None)
    def labels_of(split: str, folder: str) -> set[str]:  # links resolve to the real files
        return {r.label for r in data.splits[split].rows if f"/{folder}/" in r.path}

    assert labels_of("validation", "no") == {"yes"} and labels_of("validation", "yes") == {"no"}
    assert labels_of("train", "no") == {"no"} and labels_of("train", "yes") == {"yes"}

    args = tiny_overrides(tiny_corpus, **{"model.hidden": 32, "train.epochs": 1,
                                          "train.lr": 1e-7})
    for validation, expected in (([], trained),
                                 ([f"--set=data.validation_corpus={swapped_words}"], swapped)):
        res = _kws("train", "--out", str(tmp_path / f"run_{len(validation)}"), "--no-progress",
                   *args, *validation, f"--set=train.init_candidates=[{trained},{swapped}]")
        assert res.returncode == 0, res.stderr[-2000:]
        assert f"starting from {expected}" in res.stdout

    only_train = tmp_path / "train.csv"
    only_train.write_text("file,class\n" + str(next((tiny_corpus / "yes").iterdir())) + ",yes\n")
    for bad, message in ((only_train, "no validation clips"), (tmp_path / "nowhere", "no such")):
        with pytest.raises(KwsInputError, match=rf"data.validation_corpus=.*{message}"):
            prepare_task(load_config(None, [*base, f"data.validation_corpus={bad}"]).data,
                         cfg.features.sample_rate, log=lambda *_: None)


def _yes_no_swapped(run: Path, tmp_path: Path):
    """The run's model with its "yes" and "no" classifier rows swapped, saved as
    tmp_path/swapped.pt: a model that is wrong on exactly those two words."""
    from kws.train.checkpoint import save_model

    model, cfg, _ = load_model(run / "model.pt")
    yes, no = model.labels.index("yes"), model.labels.index("no")
    with torch.no_grad():
        for p in (model.classifier.weight, model.classifier.bias):
            p[[yes, no]] = p[[no, yes]].clone()
    swapped = tmp_path / "swapped.pt"
    save_model(swapped, model, cfg)
    return swapped, cfg


def _without_word(corpus: Path, word: str, tmp_path: Path) -> Path:
    """The corpus less one word's folder (links, nothing copied): another label set."""
    other = tmp_path / f"without_{word}"
    other.mkdir()
    for entry in corpus.iterdir():
        if entry.name != word:
            (other / entry.name).symlink_to(entry)
    return other


def test_train_init_transfers_to_another_label_set(tiny_corpus, tiny_run, tmp_path):
    """Transfer: a run on other labels starts from a run's recurrent layers and feature
    statistics with a new classifier; a deeper model gets new layers on top; a model whose
    layers have another width is refused with one line."""
    other = _without_word(tiny_corpus, "stop", tmp_path)
    run = tmp_path / "transferred"
    init = f"--set=train.init={tiny_run / 'model.pt'}"
    res = _kws("train", "--out", str(run), "--no-progress", init,
               *tiny_overrides(other, **{"model.hidden": 32, "train.epochs": 1,
                                         "train.lr": 1e-7}))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "transfer from 5 labels to 4" in res.stdout + res.stderr
    source, tuned = _weights(tiny_run / "model.pt"), _weights(run / "model.pt")
    assert tuned["classifier.weight"].shape[0] == source["classifier.weight"].shape[0] - 1
    kept = [k for k in source if not k.startswith("classifier.")]
    assert any(k.startswith("layers.") for k in kept) and "feat_mean" in kept
    for key in kept:
        assert torch.allclose(source[key], tuned[key], atol=1e-4), key
    deeper = _kws("train", "--out", str(tmp_path / "deeper"), "--no-progress", init,
                  *tiny_overrides(other, **{"model.hidden": 32, "model.layers": 2,
                                            "train.epochs": 1}))
    assert deeper.returncode == 0, deeper.stderr[-2000:]
    assert "1 recurrent layer(s) and classifier new" in deeper.stdout + deeper.stderr
    wider = _kws("train", "--out", str(tmp_path / "wider"), "--no-progress", init,
                 *tiny_overrides(other, **{"model.hidden": 48}))
    assert wider.returncode == 2
    assert "train.init=" in wider.stderr and "does not fit" in wider.stderr


def test_train_freeze_layers_keeps_the_loaded_layers(tiny_corpus, tiny_run, tmp_path):
    """train.freeze_layers: fine-tuning at a learning rate that moves weights leaves the
    frozen recurrent layers exactly as loaded while the classifier learns; freezing without
    train.init, or more layers than the model has, is refused with one line."""
    run = tmp_path / "frozen"
    init = f"--set=train.init={tiny_run / 'model.pt'}"
    res = _kws("train", "--out", str(run), "--no-progress", init, "--set=train.freeze_layers=1",
               *tiny_overrides(tiny_corpus, **{"model.hidden": 32, "train.epochs": 1,
                                               "train.lr": 0.01}))
    assert res.returncode == 0, res.stderr[-2000:]
    source, tuned = _weights(tiny_run / "model.pt"), _weights(run / "model.pt")
    layer_keys = [k for k in source if k.startswith("layers.0.")]
    assert layer_keys
    for key in layer_keys:
        assert torch.equal(source[key], tuned[key]), key
    assert not torch.allclose(source["classifier.weight"], tuned["classifier.weight"],
                              atol=1e-4)
    for extra, message in ((["--set=train.freeze_layers=1"], "set train.init too"),
                           ([init, "--set=train.freeze_layers=2"], "at most model.layers")):
        bad = _kws("train", "--out", str(tmp_path / "bad"), "--no-progress", *extra,
                   *tiny_overrides(tiny_corpus, **{"model.hidden": 32}))
        assert bad.returncode == 2, bad.stderr[-500:]
        assert "train.freeze_layers=" in bad.stderr and message in bad.stderr


def test_train_batches_carry_mel_band_masks_into_the_front_end(tiny_corpus, tmp_path):
    """With augment.freq_mask_space=mel a training batch's features differ from the same
    batch without frequency masks only by the masked mel bands: the time masks (drawn
    first, from the same generator) are the same cells."""
    from kws.config import load_config
    from kws.train.trainer import Trainer

    def batch(**extra):
        overrides = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus, **{
            "augment.time_masks": 2, "augment.freq_mask_space": "mel", **extra})]
        trainer = Trainer(load_config(None, overrides), tmp_path / "unused", log=lambda *_: None)
        trainer._setup()
        return trainer._make_batch(np.arange(16), seed=5).feats

    plain, masked = batch(**{"augment.freq_masks": 0}), batch(**{"augment.freq_masks": 2})
    zero_in_both = (plain == 0) & (masked == 0)
    assert bool(((plain == 0).all(dim=2) == (masked == 0).all(dim=2)).all())  # time masks
    assert not torch.equal(plain, masked)
    assert (plain - masked).abs().amax(dim=(1, 2)).gt(1e-3).sum() >= 8  # most rows masked
    assert zero_in_both.any()


def test_train_distillation_loss_is_zero_only_at_the_teacher():
    teacher = torch.softmax(torch.tensor([[2.0, 0.5, -1.0]]) / 2.0, dim=-1)
    logits = torch.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    assert distillation_loss(logits, teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.tensor([[0.0, 3.0, 0.0]], requires_grad=True)
    loss = distillation_loss(other, teacher, 2.0)
    loss.backward()
    assert loss.item() > 0.1
    assert other.grad[0, 0] < 0 < other.grad[0, 1]  # towards the teacher's class


def test_train_distillation_follows_the_teachers_not_the_labels(tiny_corpus, tiny_run,
                                                                tmp_path):
    """With train.distill=1 the labels carry no weight: from a teacher that calls "yes"
    "no" and "no" "yes", the student learns the swap; a teacher with other labels is
    refused with one line."""
    from kws.data.task import prepare_task
    from kws.eval.clips import clip_log_posteriors
    from kws.train.checkpoint import CheckpointStore

    swapped, cfg = _yes_no_swapped(tiny_run, tmp_path)
    run = tmp_path / "student"
    res = _kws("train", "--out", str(run), "--no-progress",
               *tiny_overrides(tiny_corpus, **{"model.hidden": 32, "train.epochs": 12,
                                               "train.lr": 0.01, "train.distill": 1.0,
                                               "train.teachers": f"[{swapped}]"}))
    assert res.returncode == 0, res.stderr[-2000:]
    # the final weights: model.pt is the epoch best on the (true) validation labels
    student, _, _ = load_model(run / "model.pt")
    student.load_state_dict(CheckpointStore(run / "ckpt").load_latest()["model"])
    yes, no = student.labels.index("yes"), student.labels.index("no")
    data = prepare_task(cfg.data, cfg.features.sample_rate, log=lambda *_: None)
    clips, truth = data.splits["train"].clips, data.label_indices("train")
    said = np.isin(truth, [yes, no])
    heard = clip_log_posteriors(student, clips)[:, -1].argmax(axis=1)
    swap = np.where(truth == yes, no, np.where(truth == no, yes, truth))
    assert (heard[said] == swap[said]).mean() > 0.7
    assert (heard[said] == truth[said]).mean() < 0.2
    other = _without_word(tiny_corpus, "stop", tmp_path)
    wrong = _kws("train", "--out", str(tmp_path / "wrong"), "--no-progress",
                 *tiny_overrides(other, **{"train.teachers": f"[{swapped}]"}))
    assert wrong.returncode == 2
    assert "train.teachers:" in wrong.stderr and "differ" in wrong.stderr


def test_train_extra_share_draws_a_fixed_share_of_extra_clips(tiny_corpus, tmp_path):
    """data.extra_share: every epoch holds each of the corpus' own clips once plus a fresh
    draw of extra clips making up the share; a share the extra clips cannot fill takes all
    of them and says so; the setting is refused without extra_train or with balance."""
    import shutil

    from kws.config import load_config
    from kws.errors import ConfigError
    from kws.train.trainer import Trainer

    extra_corpus = tmp_path / "extra"
    shutil.copytree(tiny_corpus, extra_corpus)  # same words, other paths
    base = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)]
    cfg = load_config(None, [*base, f"data.extra_train=[{extra_corpus}]", "data.extra_share=0.2"])
    tr = Trainer(cfg, tmp_path / "run", log=lambda *_: None, progress=False)
    tr._setup()
    own = np.flatnonzero(~tr.extra_mask)
    extra = set(np.flatnonzero(tr.extra_mask).tolist())
    assert 0 < len(extra) <= len(own)  # the copy of the words (the own split adds _silence_)
    draws = []
    for epoch in range(2):
        order = tr._epoch_order(epoch)
        picked = [i for i in order.tolist() if i in extra]
        assert sorted(set(order.tolist()) - extra) == own.tolist()
        assert len(order) == len(own) + len(picked) and len(set(picked)) == len(picked)
        assert abs(len(picked) / len(order) - 0.2) < 0.01
        draws.append(set(picked))
    assert draws[0] != draws[1]
    assert tr.steps_per_epoch == len(order) // cfg.train.batch_size

    notes: list[str] = []
    full = load_config(None, [*base, f"data.extra_train=[{extra_corpus}]", "data.extra_share=0.9"])
    capped = Trainer(full, tmp_path / "capped", log=notes.append, progress=False)
    capped._setup()
    assert len(capped._epoch_order(0)) == len(capped.train_clips)
    assert any("data.extra_share=0.9: only" in n for n in notes)

    for extra_set, message in ((["data.extra_share=0.2"], "set data.extra_train too"),
                               ([f"data.extra_train=[{extra_corpus}]", "data.extra_share=0.2",
                                 "data.balance=true"], "with data.balance")):
        with pytest.raises(ConfigError, match=message):
            load_config(None, [*base, *extra_set])
