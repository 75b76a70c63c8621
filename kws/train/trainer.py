"""The trainer: one YAML config in, one run directory out.

Reproducible and resumable by construction: the data order of an epoch and all the
augmentation and dropout randomness of a step are functions of (seed, epoch, step), so a run
killed at any point and resumed from its last checkpoint ends with the same weights as a run
that was never interrupted (on CPU, same thread count). Under `torchrun` it trains data
parallel (DDP): every process draws the whole global batch's augmentation and takes its own
slice, so N processes compute what one process computes with the same global batch.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from kws import encoders
from kws.atomic import atomic_write_json, atomic_write_text, remove_stale_temporaries
from kws.audio import active_region
from kws.config import RunConfig, load_config, save_config, to_dict
from kws.data.augment import augment_batch, spec_mask
from kws.data.rir import load_rirs
from kws.data.sequences import Material, build_material, make_sequences, step_ends
from kws.data.task import TaskData, prepare_task
from kws.errors import KwsInputError
from kws.eval.clips import clip_log_posteriors
from kws.features.mfcc import num_frames
from kws.models import KwsModel
from kws.train.checkpoint import CheckpointStore, load_model, read_model_file, save_model
from kws.train.ema import WeightAverage
from kws.train.loss import (
    LOSSES,
    Classes,
    clip_predictions,
    distillation_loss,
    sequence_loss,
)
from kws.train.rundir import RunLock, has_run


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss with nan_policy=stop)."""


@dataclass
class Batch:
    """What one step trains on (this rank's share): clip features with their labels,
    context labels and teachers' posteriors, and training sequences with per-step targets
    (None when sequences.batch is 0)."""

    feats: Tensor
    labels: Tensor
    context_label: Tensor
    teacher_probs: Tensor | None = None
    seq_feats: Tensor | None = None
    seq_targets: Tensor | None = None


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> Dist:
    return Dist(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                int(os.environ.get("LOCAL_RANK", "0")))


def step_seed(seed: int, epoch: int, step: int) -> int:
    return (seed * 1_000_003 + epoch * 100_003 + step * 7919 + 17) % (2**62)


def pick_device(name: str, dist: Dist) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise KwsInputError("train.device=cuda: no CUDA device is available")
        return torch.device("cuda", dist.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def make_schedule(opt: torch.optim.Optimizer, cfg, total_steps: int):
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(total_steps, 2),
            pct_start=max(cfg.warmup, 1e-3), anneal_strategy="cos")
    warm = max(1, int(cfg.warmup * total_steps))
    if cfg.schedule == "cosine":
        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) /
                                                     max(1, total_steps - warm))))
    else:
        def factor(step: int) -> float:
            return min(1.0, (step + 1) / warm)
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True,
                           weight_decay=cfg.weight_decay)


@torch.no_grad()
def feature_statistics(model: KwsModel, clips: np.ndarray, device: torch.device,
                       max_clips: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the clean training features (float64 sums)."""
    step = max(1, len(clips) // max_clips)
    total = torch.zeros(model.feature_cfg.n_cepstra, dtype=torch.float64)
    sq = torch.zeros_like(total)
    n = 0
    picks = np.arange(0, len(clips), step)
    for lo in range(0, len(picks), 256):
        wave = torch.from_numpy(np.asarray(clips[picks[lo:lo + 256]])).float() / 32768.0
        feats = model.frontend(wave.to(device)).double().cpu().reshape(-1, total.numel())
        total += feats.sum(0)
        sq += (feats ** 2).sum(0)
        n += feats.shape[0]
    mean = total / n
    std = torch.sqrt(torch.clamp(sq / n - mean ** 2, min=1e-12))
    return mean.float(), std.float()


def clip_metrics(logp: np.ndarray, labels: np.ndarray, loss: str, classes: Classes) -> dict:
    """Loss and accuracy of clips (logp [N, T, K] over the clip frames)."""
    if len(labels) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "clips": 0}
    with torch.no_grad():
        value = LOSSES[loss](torch.from_numpy(logp), torch.from_numpy(labels), classes).item()
    pred = clip_predictions(np.exp(logp), loss, classes.silence)
    return {"loss": value, "accuracy": float((pred == labels).mean()), "clips": len(labels)}


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kws.atomic import atomic_write

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set_title("loss")
    axes[1].plot(epochs, [100 * h["train_accuracy"] for h in history], label="train")
    axes[1].plot(epochs, [100 * h["val_accuracy"] for h in history], label="validation")
    axes[1].set_title("clip accuracy (%)")
    axes[2].plot(epochs, [h["lr"] for h in history])
    axes[2].set_title("learning rate (end of epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=90))
    plt.close(fig)


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: str | Path, log: Callable[[str], None] = print,
                 progress: bool = True) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = dist_from_env()
        self.log = log if self.dist.main else (lambda *_: None)
        self.progress = progress and self.dist.main

    # -- setup ------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg, dist = self.cfg, self.dist
        self.device = pick_device(cfg.train.device, dist)
        if dist.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
        torch.manual_seed(cfg.train.seed)
        sr = cfg.features.sample_rate
        self.data: TaskData = prepare_task(cfg.data, sr, cfg.train.seed, cfg.train.workers,
                                           log=self.log)
        for note in self.data.notes:
            self.log(note)
        self.model = KwsModel(cfg.features, cfg.model, self.data.labels).to(self.device)
        train = self.data.splits["train"]
        mean, std = feature_statistics(self.model, train.clips, self.device)
        self.model.set_normalization(mean.to(self.device), std.to(self.device))
        self.init = self._pick_init([encoders.resolve(p, "train.init_candidates")
                                     for p in cfg.train.init_candidates]) \
            if cfg.train.init_candidates else encoders.resolve(cfg.train.init)
        self.encoder = encoders.identity(self.init) if self.init else None
        if self.init:
            self._load_init(self.init)
        for layer in self.model.layers[:cfg.train.freeze_layers]:
            layer.requires_grad_(False)  # kept as loaded: no gradient, no weight decay
        if cfg.train.freeze_layers:
            self.log(f"train.freeze_layers: the first {cfg.train.freeze_layers} recurrent "
                     "layer(s) keep their loaded weights")
        self.ema = WeightAverage(self.model, cfg.train.ema) if cfg.train.ema > 0 else None
        self.teachers = [self._load_teacher(p) for p in cfg.train.teachers]
        self.train_clips = torch.from_numpy(np.array(train.clips)).to(self.device)
        self.train_labels = torch.from_numpy(self.data.label_indices("train")).to(self.device)
        self.noise = torch.from_numpy(self.data.noise).to(self.device)
        spoken = torch.tensor([active_region(c.astype(np.float32) / 32768.0, sr)
                               for c in np.asarray(train.clips)], device=self.device)
        self.word_ends = spoken[:, 1]
        self.rirs = torch.from_numpy(load_rirs(cfg.augment.rir, sr)).to(self.device) \
            if cfg.augment.rir else None
        self.material = self._sequence_material(spoken) if cfg.sequences.batch else None
        hop = cfg.features.hop_length * cfg.model.frame_stride  # keeps stacking aligned
        self.context = round(cfg.augment.context_ms * sr / 1000 / hop) * hop \
            if cfg.augment.context_prob > 0 else 0
        self.clip_frames = num_frames(self.train_clips.shape[1], cfg.features) // \
            cfg.model.frame_stride  # recurrent steps of the clip region
        if cfg.train.batch_size % dist.world:
            raise KwsInputError(f"train.batch_size={cfg.train.batch_size}: must be divisible "
                                f"by the number of processes ({dist.world})")
        if cfg.sequences.batch % dist.world:
            raise KwsInputError(f"sequences.batch={cfg.sequences.batch}: must be divisible "
                                f"by the number of processes ({dist.world})")
        self.extra_mask = self.data.extra_mask()
        self.extra_per_epoch = self._extra_per_epoch()
        epoch_size = int((~self.extra_mask).sum()) + self.extra_per_epoch \
            if cfg.data.extra_share else len(self.train_clips)
        self.steps_per_epoch = max(1, epoch_size // cfg.train.batch_size)
        total = self.steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            total = min(total, cfg.train.max_steps)
        self.total_steps = total
        self.net: nn.Module = self.model
        if dist.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                else None)
        self.opt = make_optimizer([p for p in self.model.parameters() if p.requires_grad],
                                  cfg.train)
        self.sched = make_schedule(self.opt, cfg.train, total)
        self.amp = cfg.train.amp and self.device.type == "cuda"
        self.amp_dtype = torch.float16 if cfg.train.amp_dtype == "float16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and
                                           self.amp_dtype == torch.float16)
        self.loss_fn = LOSSES[cfg.train.loss]
        self.classes = Classes.of(self.data.labels, self.device)
        self.store = CheckpointStore(self.run_dir / "ckpt")

    def _sequence_material(self, spoken: Tensor) -> Material:
        """The training clips and recordings that training sequences are made of."""
        from kws.audio import load_audio
        from kws.data.continuous import continuous_rows, load_recordings
        from kws.data.noise import noise_files
        from kws.errors import AudioError

        cfg, sr = self.cfg, self.cfg.features.sample_rate
        continuous = load_recordings(continuous_rows(list(cfg.data.continuous), "train"), sr,
                                     cfg.data.continuous_minutes * 60, self.log) \
            if cfg.data.continuous else []
        hard = []
        for path in noise_files(list(cfg.data.hard_negatives)):
            try:
                hard.append(load_audio(path, sr))
            except AudioError as exc:
                self.log(f"left out {exc}")
        if cfg.data.hard_negatives and not hard:
            raise KwsInputError(f"data.hard_negatives={cfg.data.hard_negatives}: no readable "
                                "audio (run kws mine first)")
        labels = self.data.label_indices("train")
        keyword = torch.tensor([not self.data.labels[i].startswith("_") for i in labels])
        minutes = sum(len(r) for r in continuous) / sr / 60
        self.log(f"training sequences of {cfg.sequences.seconds:g} s, "
                 f"{cfg.sequences.batch} per step: {int(keyword.sum())} keyword clips, "
                 f"{int((~keyword).sum())} others, {minutes:.1f} min of continuous speech, "
                 f"{len(hard)} hard negatives")
        train = torch.from_numpy(np.array(self.data.splits["train"].clips)).to(self.device)
        return build_material(train, torch.from_numpy(labels).to(self.device), spoken,
                              keyword.to(self.device), self.data.silence_index, continuous,
                              hard)

    def _load_init(self, path: str, blob: dict | None = None) -> None:
        """Start from another run's weights. Same labels: fine-tuning, every weight kept.
        Other labels (another corpus, more keywords, a phoneme encoder): transfer, the front
        end statistics and recurrent layers kept and the classifier new; a run with more
        recurrent layers than the file gets new ones on top (a keyword head over a phoneme
        encoder, whose own top layer holds the last phonemes, not the word). The feature
        statistics come with the weights either way: the first layer was trained on
        features normalised that way."""
        blob = blob or read_model_file(path)
        if blob["config"].get("features") != to_dict(self.cfg.features):
            raise KwsInputError(f"train.init={path}: its features.* differ from this run's; "
                                "starting from it needs the same front end")
        state = blob["state_dict"]
        transfer = list(blob["labels"]) != list(self.data.labels)
        if transfer:
            state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        try:
            missing, unexpected = self.model.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            why = (str(exc).splitlines()[1:] or [str(exc)])[0].strip()[:120]
            raise KwsInputError(f"train.init={path}: its model does not fit this run's "
                                f"model.* ({why})") from None
        new = {"classifier.weight", "classifier.bias"} if transfer else set()
        loaded = int(blob["config"].get("model", {}).get("layers", len(self.model.layers)))
        if transfer and loaded < len(self.model.layers):
            new |= {k for k in self.model.state_dict() if k.startswith("layers.") and
                    int(k.split(".")[1]) >= loaded}
        if unexpected or set(missing) != new:
            odd = sorted(set(unexpected) | (set(missing) - new))
            raise KwsInputError(f"train.init={path}: its model does not fit this run's "
                                f"model.* (layers differ: {', '.join(odd[:4])})")
        if transfer:
            added = len(self.model.layers) - min(loaded, len(self.model.layers))
            self.log(f"train.init: transfer from {len(blob['labels'])} labels to "
                     f"{len(self.data.labels)}: recurrent layers and feature statistics "
                     f"loaded, {f'{added} recurrent layer(s) and ' if added else ''}"
                     "classifier new")

    def _pick_init(self, paths: list[str]) -> str:
        """The candidate that does best on this run's validation split. Pretraining runs
        that look alike on their own data start fine-tuning differently well (synthetic
        speech: 88.9 to 92.4 % after fine-tuning, docs/synthetic-speech.md); of four, the
        one better on the real validation clips was the better start in 5 of 6 pairs."""
        scores = []
        for path in paths:
            blob = read_model_file(path)
            if list(blob["labels"]) != list(self.data.labels):
                raise KwsInputError(f"train.init_candidates: {path}: its labels differ from "
                                    "this run's; candidates are compared on its validation "
                                    "split, so they need its labels")
            self._load_init(path, blob)
            scores.append(self.validate()["accuracy"])
            self.log(f"train.init_candidates: {path}: validation accuracy "
                     f"{100 * scores[-1]:.2f}%")
        best = paths[int(np.argmax(scores))]
        self.log(f"train.init_candidates: starting from {best}")
        return best

    def _load_teacher(self, path: str) -> KwsModel:
        """A distillation teacher: any model with this run's labels (its own front end,
        normalisation and shape), in eval mode, so its dropout is off."""
        model, _, blob = load_model(path)
        if list(blob["labels"]) != list(self.data.labels):
            raise KwsInputError(f"train.teachers: {path}: its labels {blob['labels']} differ "
                                f"from this run's {self.data.labels}")
        return model.to(self.device).eval()

    @torch.no_grad()
    def _teacher_targets(self, audio: Tensor) -> Tensor | None:
        """The teachers' softened posteriors at the decision frame, averaged: [B, K]. They
        hear the augmented audio through their own front ends, without SpecAugment."""
        if not self.teachers:
            return None
        temperature = self.cfg.train.distill_temperature
        total = torch.zeros(len(audio), len(self.data.labels), device=audio.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            for teacher in self.teachers:
                logits, _ = teacher(teacher.features(audio, torch.float32))
                total += torch.softmax(logits[:, -1].float() / temperature, dim=-1)
        return total / len(self.teachers)

    # -- state ------------------------------------------------------------------------
    def _state(self, epoch: int, step: int, acc: dict) -> dict:
        return {"model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict(), "epoch": epoch, "step": step,
                "global_step": self.global_step, "history": self.history, "best": self.best,
                "stale_epochs": self.stale_epochs, "acc": acc,
                "ema": self.ema.state_dict() if self.ema else None,
                "config": to_dict(self.cfg), "labels": self.data.labels}

    def _restore(self, state: dict) -> tuple[int, int, dict]:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.global_step = int(state["global_step"])
        self.history = list(state["history"])
        self.best = dict(state["best"])
        self.stale_epochs = int(state["stale_epochs"])
        if self.ema is not None:
            if not state.get("ema"):
                raise KwsInputError(f"{self.run_dir}: train.ema is on but the checkpoint holds "
                                    "no weight average (was the config edited?)")
            self.ema.load_state_dict(state["ema"])
        return int(state["epoch"]), int(state["step"]), dict(state["acc"])

    # -- one step ---------------------------------------------------------------------
    def _train_step(self, idx: np.ndarray, seed: int) -> tuple[float, int, int]:
        """One optimizer step on the clips `idx`: (loss, correct, clips on this rank)."""
        self.net.train()  # dropout on; cuDNN's RNN backward needs training mode
        torch.manual_seed(seed)  # dropout
        return self._optimize(self._make_batch(idx, seed))

    def _make_batch(self, idx: np.ndarray, seed: int) -> Batch:
        """The data side of a step: augmented audio -> masked features of this rank's share,
        with labels, context labels and the teachers' posteriors (None without teachers);
        and the step's training sequences."""
        cfg, dist = self.cfg, self.dist
        g = torch.Generator(device=self.device)
        g.manual_seed(seed)
        index = torch.from_numpy(idx).to(self.device)
        clips = self.train_clips[index].float() / 32768.0
        labels = self.train_labels[index]
        comp = augment_batch(clips, labels, self.train_clips, self.train_labels, self.noise,
                             cfg.augment, self.context, cfg.features.sample_rate, g,
                             self.word_ends[index], self.data.silence_index, self.rirs)
        per = len(idx) // dist.world
        mine = slice(dist.rank * per, (dist.rank + 1) * per)
        warp = None if comp.warp is None else comp.warp[mine]
        frames = num_frames(comp.audio.shape[-1], cfg.features)
        keep, bands = spec_mask((len(idx), frames, cfg.features.n_cepstra), cfg.augment, g,
                                self.device, cfg.features.n_mels)
        feats = self.model.features(comp.audio[mine], torch.float32, warp,
                                    None if bands is None else bands[mine])
        batch = Batch(feats * keep[mine], labels[mine], comp.context_label[mine],
                      self._teacher_targets(comp.audio[mine]))
        if self.material is not None:
            sr, fe = cfg.features.sample_rate, cfg.features
            frames = num_frames(round(cfg.sequences.seconds * sr), fe)
            ends = step_ends(frames, fe.hop_length, fe.win_length, cfg.model.frame_stride)
            seq = make_sequences(self.material, cfg.sequences, cfg.augment,
                                 cfg.sequences.batch, sr, ends.to(self.device), g,
                                 self.noise, self.rirs)
            per = cfg.sequences.batch // dist.world
            part = slice(dist.rank * per, (dist.rank + 1) * per)
            batch.seq_feats = self.model.features(seq.audio[part], torch.float32)
            batch.seq_targets = seq.targets[part]
        return batch

    def _optimize(self, batch: Batch) -> tuple[float, int, int]:
        """The model side of a step: forward, loss, backward, clipping, optimizer."""
        cfg = self.cfg
        labels = batch.labels
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            logits, _ = self.net(batch.feats)
        logits = logits[:, -self.clip_frames:].float()
        loss = self.loss_fn(logits, labels, self.classes, cfg.train.label_smoothing,
                            batch.context_label)
        if batch.teacher_probs is not None:
            w = cfg.train.distill
            loss = (1 - w) * loss + w * distillation_loss(logits[:, -1], batch.teacher_probs,
                                                          cfg.train.distill_temperature)
        if batch.seq_feats is not None:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                seq_logits, _ = self.net(batch.seq_feats)
            loss = loss + cfg.sequences.weight * sequence_loss(
                seq_logits.float(), batch.seq_targets, self.classes, cfg.train.label_smoothing)
        if not torch.isfinite(loss):
            if cfg.train.nan_policy == "stop":
                raise TrainingError(
                    f"loss is {loss.item()} at step {self.global_step}: training diverged; "
                    "lower train.lr, keep train.grad_clip on, or set train.nan_policy=skip")
            self.skipped += 1
            self.opt.zero_grad(set_to_none=True)
            return float("nan"), 0, 0
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        if self.ema is not None:
            self.ema.update(self.model)
        pred = clip_predictions(torch.softmax(logits.detach(), -1).cpu().numpy(),
                                cfg.train.loss, self.data.silence_index)
        correct = int((pred == labels.cpu().numpy()).sum())
        return float(loss.item()), correct, len(labels)

    def _extra_per_epoch(self) -> int:
        """Extra clips per epoch for `data.extra_share`: share / (1 - share) times the
        corpus' own clips, capped at how many there are (logged when capped)."""
        share = self.cfg.data.extra_share
        if not share:
            return 0
        own, extra = int((~self.extra_mask).sum()), int(self.extra_mask.sum())
        want = round(share / (1.0 - share) * own)
        if want > extra:
            self.log(f"data.extra_share={share}: only {extra} extra clips for {own} of the "
                     f"corpus' own, so each epoch takes all of them "
                     f"(share {extra / (own + extra):.2f})")
        return min(want, extra)

    def _extra_note(self) -> str:
        if not self.cfg.data.extra_share:
            return ""
        return f" ({self.extra_per_epoch} of the {int(self.extra_mask.sum())} extra per epoch)"

    def _epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.cfg.train.seed, epoch])
        n = len(self.train_clips)
        if self.cfg.data.extra_share:
            # A fresh draw of extra clips each epoch: the run sees all of their variety
            # while they stay a fixed minority of every epoch.
            extra = rng.choice(np.flatnonzero(self.extra_mask), size=self.extra_per_epoch,
                               replace=False)
            return rng.permutation(np.concatenate([np.flatnonzero(~self.extra_mask), extra]))
        if not self.cfg.data.balance:
            return rng.permutation(n)
        labels = self.train_labels.cpu().numpy()
        counts = np.bincount(labels, minlength=len(self.data.labels)).astype(np.float64)
        weights = 1.0 / counts[labels]
        return rng.choice(n, size=n, replace=True, p=weights / weights.sum())

    def averaged(self) -> AbstractContextManager:
        """The weights that are validated and saved: the EMA when train.ema is on."""
        return self.ema.swapped_in(self.model) if self.ema is not None else nullcontext()

    def validate(self) -> dict:
        val = self.data.splits["validation"]
        logp = clip_log_posteriors(self.model, val.clips, self.device,
                                   batch_size=2 * self.cfg.train.batch_size)
        return clip_metrics(logp, self.data.label_indices("validation"),
                            self.cfg.train.loss, Classes.of(self.data.labels))

    # -- the run ----------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        lock = RunLock(self.run_dir) if self.dist.main else None
        if lock:
            lock.__enter__()
        flushing = flushes_denormals()
        # Gradients sent back through hundreds of recurrent steps decay into denormal
        # floats, which x86 cores compute ~100x slower: with a 2.5 s context a CPU step
        # took 6x longer. Flushing them to zero changes nothing above 1e-38; the caller's
        # floating-point mode is restored afterwards (it is process state).
        torch.set_flush_denormal(True)
        try:
            return self._fit(resume)
        finally:
            torch.set_flush_denormal(flushing)
            if lock:
                lock.__exit__()
            if self.dist.world > 1 and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()

    def _fit(self, resume: bool) -> dict:
        cfg = self.cfg
        if self.dist.main and not resume and has_run(self.run_dir):
            raise KwsInputError(f"{self.run_dir}: already holds a run; use --resume to "
                                "continue it or choose another --out")
        if self.dist.main:
            save_config(cfg, self.run_dir / "config.yaml")
        t_start = time.perf_counter()
        self._setup()
        self.global_step, self.history, self.stale_epochs, self.skipped = 0, [], 0, 0
        self.best = {"accuracy": -1.0, "loss": float("inf"), "epoch": 0}
        epoch, step, acc = 0, 0, {"loss": 0.0, "correct": 0, "n": 0, "seconds": 0.0}
        if resume:
            if self.dist.main:
                stale = [*remove_stale_temporaries(self.run_dir),
                         *remove_stale_temporaries(self.store.folder)]
                if stale:
                    self.log(f"removed {len(stale)} half-written file(s) a kill left behind")
            state = self.store.load_latest(self.log)
            if state is None:
                self.log("no usable checkpoint: starting from the beginning")
            else:
                epoch, step, acc = self._restore(state)
                self.log(f"resumed at epoch {epoch + 1}, step {step} "
                         f"(global step {self.global_step})")
        m = self.model
        self.log(f"model {cfg.model.family} {cfg.model.layers}x{cfg.model.hidden}: "
                 f"{m.num_params():,} parameters, {m.macs_per_frame()['model']:,} MACs/frame; "
                 f"{len(self.data.labels)} classes; {len(self.train_clips)} training clips"
                 f"{self._extra_note()}; "
                 f"device {self.device}{' (AMP ' + cfg.train.amp_dtype + ')' if self.amp else ''}"
                 f"{f'; {self.dist.world} processes' if self.dist.world > 1 else ''}")
        stop = False
        while epoch < cfg.train.epochs and not stop:
            order = self._epoch_order(epoch)
            bar = None
            if self.progress:
                from tqdm import tqdm

                bar = tqdm(total=self.steps_per_epoch, initial=step, leave=False,
                           desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="step",
                           mininterval=1.0, dynamic_ncols=True)
            while step < self.steps_per_epoch:
                if cfg.train.max_steps and self.global_step >= cfg.train.max_steps:
                    stop = True
                    break
                t0 = time.perf_counter()
                idx = order[step * cfg.train.batch_size:(step + 1) * cfg.train.batch_size]
                loss, correct, n = self._train_step(idx, step_seed(cfg.train.seed, epoch, step))
                if n:
                    acc["loss"] += loss * n
                    acc["correct"] += correct
                    acc["n"] += n
                acc["seconds"] += time.perf_counter() - t0
                step += 1
                self.global_step += 1
                if bar is not None:
                    bar.update(1)
                    rate = acc["n"] * self.dist.world / max(acc["seconds"], 1e-9)
                    bar.set_postfix(loss=f"{acc['loss'] / max(acc['n'], 1):.3f}",
                                    acc=f"{100 * acc['correct'] / max(acc['n'], 1):.1f}%",
                                    clips_s=f"{rate:.0f}")
                if self.dist.main and self.global_step % cfg.train.checkpoint_every == 0 \
                        and step < self.steps_per_epoch:
                    self.store.save(self._state(epoch, step, acc), self.global_step)
            if bar is not None:
                bar.close()
            stop = self._end_epoch(epoch, acc) or stop
            epoch, step = epoch + 1, 0
            acc = {"loss": 0.0, "correct": 0, "n": 0, "seconds": 0.0}
            if self.dist.main:
                self.store.save(self._state(epoch, step, acc), self.global_step)
        return self._finish(time.perf_counter() - t_start)

    def _end_epoch(self, epoch: int, acc: dict) -> bool:
        cfg = self.cfg
        with self.averaged():  # the weights validated are the weights saved
            val = self.validate()
            improved = (val["accuracy"], -val["loss"]) > (self.best["accuracy"],
                                                          -self.best["loss"])
            if improved and self.dist.main:
                save_model(self.run_dir / "best.pt", self.model, cfg,
                           {"epoch": epoch + 1, "val_accuracy": val["accuracy"],
                            "encoder": self.encoder})
        clips_per_s = acc["n"] * self.dist.world / max(acc["seconds"], 1e-9)
        record = {"epoch": epoch + 1, "step": self.global_step,
                  "train_loss": acc["loss"] / max(acc["n"], 1),
                  "train_accuracy": acc["correct"] / max(acc["n"], 1),
                  "val_loss": val["loss"], "val_accuracy": val["accuracy"],
                  "lr": float(self.opt.param_groups[0]["lr"]),
                  "clips_per_second": clips_per_s, "skipped_batches": self.skipped}
        if improved:
            self.best = {"accuracy": val["accuracy"], "loss": val["loss"], "epoch": epoch + 1}
            self.stale_epochs = 0
        else:
            self.stale_epochs += 1
        record["best"] = improved
        self.history.append(record)
        if self.dist.main:
            atomic_write_text(self.run_dir / "metrics.jsonl",
                              "".join(_json_line(h) for h in self.history))
            plot_curves(self.history, self.run_dir / "curves.png")
        self.log(f"epoch {epoch + 1}/{cfg.train.epochs}: train loss {record['train_loss']:.3f} "
                 f"acc {100 * record['train_accuracy']:.1f}% | val loss {val['loss']:.3f} "
                 f"acc {100 * val['accuracy']:.2f}% | {clips_per_s:.0f} clips/s | "
                 f"lr {record['lr']:.2e}{' | best' if improved else ''}")
        return bool(cfg.train.patience and self.stale_epochs >= cfg.train.patience)

    def _finish(self, seconds: float) -> dict:
        summary = {"run": str(self.run_dir), "labels": self.data.labels,
                   "best_epoch": self.best["epoch"], "val_accuracy": self.best["accuracy"],
                   "val_loss": self.best["loss"], "epochs_run": len(self.history),
                   "steps": self.global_step, "seconds": round(seconds, 1),
                   "params": self.model.num_params(),
                   "macs_per_frame": self.model.macs_per_frame(),
                   "device": str(self.device), "init": self.init, "encoder": self.encoder,
                   "clips_per_second": float(np.median([h["clips_per_second"]
                                                        for h in self.history]))
                   if self.history else 0.0}
        if self.dist.main:
            best, _, _ = load_model(self.run_dir / "best.pt")
            save_model(self.run_dir / "model.pt", best, self.cfg,
                       {"epoch": self.best["epoch"], "val_accuracy": self.best["accuracy"],
                        "encoder": self.encoder})
            atomic_write_json(self.run_dir / "summary.json", summary)
            self.log(f"best validation accuracy {100 * self.best['accuracy']:.2f}% at epoch "
                     f"{self.best['epoch']}; model: {self.run_dir / 'model.pt'}")
        return summary


def _json_line(obj: dict) -> str:
    import json

    return json.dumps(obj) + "\n"


def flushes_denormals() -> bool:
    """Whether this thread's CPU flushes denormal floats to zero now."""
    return float(torch.tensor([1e-39], dtype=torch.float32).mul(1.0)) == 0.0


def train(cfg: RunConfig, run_dir: str | Path, resume: bool = False,
          log: Callable[[str], None] = print, progress: bool = True) -> dict:
    return Trainer(cfg, run_dir, log, progress).fit(resume)


def resume_config(run_dir: str | Path) -> RunConfig:
    """The config saved in a run directory (what --resume continues)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise KwsInputError(f"{run_dir}: no config.yaml to resume from")
    return load_config(path)
