"""`kws bench train`: training clips/second for each family on this machine's device, and
where a step's time goes: the data side (augmentation + MFCC + masking, on the training
device) against the model side (forward, backward, optimizer). A step is loader-bound when
the data side takes longer.

The same step recorder drives scripts/gpu_check.py (CUDA against CPU, loss by loss).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from kws.bench.common import write_report
from kws.bench.models import bench_corpus, model_config
from kws.config import RunConfig

FAMILIES = ("rnn", "lstm", "gru")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _trainer(cfg: RunConfig, run_dir: Path, device: str):
    from kws.train.trainer import Trainer

    cfg = replace(cfg, train=replace(cfg.train, device=device))
    tr = Trainer(cfg, run_dir, log=lambda *_: None, progress=False)
    tr._setup()
    tr.global_step, tr.skipped = 0, 0
    return tr


def _batches(tr, steps: int):
    """(index, seed) of the first `steps` steps, in the trainer's own order."""
    from kws.train.trainer import step_seed

    bs = tr.cfg.train.batch_size
    epoch, step, order = 0, 0, tr._epoch_order(0)
    for _ in range(steps):
        if step >= tr.steps_per_epoch:
            epoch, step, order = epoch + 1, 0, tr._epoch_order(epoch + 1)
        yield order[step * bs:(step + 1) * bs], step_seed(tr.cfg.train.seed, epoch, step)
        step += 1


def record_steps(cfg: RunConfig, run_dir: Path, device: str,
                 steps: int, warmup: int = 5) -> tuple[list[float], float, int]:
    """Per-step losses of the first `steps` training steps on `device`, clips/second after
    `warmup` steps, and the model's parameter count."""
    tr = _trainer(cfg, run_dir, device)
    out, t0, clips = [], None, 0
    for i, (idx, seed) in enumerate(_batches(tr, steps)):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        loss, _, n = tr._train_step(idx, seed)
        out.append(loss)
        if t0 is not None:
            clips += n
    _sync(device)
    rate = clips / (time.perf_counter() - t0) if t0 else 0.0
    return out, rate, tr.model.num_params()


def split_step_time(cfg: RunConfig, run_dir: Path, device: str,
                    steps: int, warmup: int = 3) -> dict:
    """Seconds per step of the data side and of the model side, measured apart."""
    tr = _trainer(cfg, run_dir, device)
    batches = list(_batches(tr, steps + warmup))
    tr.net.train()
    made = []
    for i, (idx, seed) in enumerate(batches):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        made.append(tr._make_batch(idx, seed))
    _sync(device)
    data = (time.perf_counter() - t0) / steps
    for i, batch in enumerate(made):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        tr._optimize(batch)
    _sync(device)
    model = (time.perf_counter() - t0) / steps
    return {"data_seconds": data, "model_seconds": model,
            "bound": "loader" if data > model else "model"}


def run(out: Path, device: str = "auto", steps: int = 30, batch: int = 128,
        families: tuple[str, ...] = FAMILIES, data: str | None = None, log=print) -> dict:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    rows = [["model", "params", "clips/s (full step)", "data side ms/step",
             "model side ms/step", "bound"]]
    results = {}
    with tempfile.TemporaryDirectory(prefix="kws-bench-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = Path(data) if data else bench_corpus(tmp / "corpus", per_word=60)
        for fam in families:
            cfg = model_config(corpus, fam, **{"train.batch_size": batch,
                                               "train.schedule": "constant",
                                               "augment.context_ms": 300})
            _, rate, params = record_steps(cfg, tmp / f"{fam}_a", device, steps,
                                           warmup=min(5, steps // 2))
            split = split_step_time(cfg, tmp / f"{fam}_b", device, steps)
            results[fam] = {"params": params, "clips_per_second": rate, **split}
            log(f"bench train: {fam} on {device}: {rate:.0f} clips/s, data "
                f"{1e3 * split['data_seconds']:.1f} ms, model "
                f"{1e3 * split['model_seconds']:.1f} ms per step")
            rows.append([f"{fam} 2 x 128", f"{params:,}", f"{rate:,.0f}",
                         f"{1e3 * split['data_seconds']:.1f}",
                         f"{1e3 * split['model_seconds']:.1f}", split["bound"]])
    notes = [f"device: {name}; batch {batch}; 1 s clips with 0.3 s context (1.3 s of audio "
             f"per clip); {steps} steps after warm-up; "
             f"corpus: {'the given one' if data else 'a small synthetic one'}",
             "data side: augmentation (speed, shift, gain, reverb, noise) + MFCC + masks, "
             "batched on the training device; model side: forward, loss, backward, clip, step"]
    report = {"device": device, "device_name": name, "batch": batch, "results": results}
    write_report(out, f"train_{device}", report, rows, notes)
    return report


def main(args, out: Path) -> dict:
    if args.quick:
        return run(out, args.device, steps=5, families=("gru",))
    return run(out, args.device)
