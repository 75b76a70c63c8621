"""Training the base encoder: MFCC -> causal recurrent layers -> phoneme posteriors, CTC.

The model is a KwsModel whose labels are the phoneme inventory (kws.data.phonemes.LABELS),
so the file it writes is an ordinary model file: `train.init` of any keyword run loads its
recurrent layers and feature statistics and puts a new keyword classifier on top
(kws.train.trainer's transfer). Utterances of any length are batched by length; every
step draws its augmentation (gain, measured or synthetic rooms, band limits, noise at a
random SNR, frequency warp, SpecAugment) from (seed, epoch, step), so a killed run resumed
from its checkpoint continues where it was. The best epoch is the one with the lowest
phoneme error rate on the corpora's validation splits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kws.atomic import atomic_write_json, atomic_write_text
from kws.audio import load_audio
from kws.config import RunConfig, save_config, to_dict
from kws.data.augment import mix_noise, room_and_mic, spec_mask
from kws.data.noise import noise_files
from kws.data.parallel import map_in_chunks
from kws.data.phonemes import LABELS
from kws.data.phonetic import gather
from kws.data.rir import load_rirs
from kws.data.task import noise_bank
from kws.errors import AudioError, KwsInputError
from kws.features.mfcc import num_frames
from kws.models import KwsModel
from kws.train.checkpoint import CheckpointStore, load_model, save_model
from kws.train.ctc import ctc_loss, greedy_decode, phoneme_error_rate
from kws.train.rundir import RunLock, has_run
from kws.train.trainer import (
    dist_from_env,
    feature_statistics,
    flushes_denormals,
    make_optimizer,
    make_schedule,
    pick_device,
    step_seed,
)


def _decode_chunk(paths: list[str], rate: int) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for path in paths:
        try:
            out.append(np.round(np.clip(load_audio(path, rate), -1, 1) * 32767)
                       .astype(np.int16))
        except AudioError:
            out.append(None)
    return out


def load_split(paths: list[str], split: str, rate: int, max_seconds: float, workers: int = 0,
               log: Callable[[str], None] = print, held_out: Sequence[str] = ()
               ) -> tuple[list[np.ndarray], list[list[int]]]:
    """Decoded utterances (int16) of `split` with their phoneme targets, none saying a word
    of `held_out`; unreadable ones and ones over `max_seconds` are counted in the log and
    left out."""
    utts, targets = gather(paths, split, held_out)
    audio = map_in_chunks(partial(_decode_chunk, rate=rate), [u.path for u in utts], workers)
    keep = [i for i, a in enumerate(audio) if a is not None and 0 < a.size <= max_seconds * rate]
    bad = sum(a is None for a in audio)
    if bad or len(keep) < len(utts) - bad:
        log(f"{split}: left out {bad} unreadable and {len(utts) - bad - len(keep)} longer "
            f"than {max_seconds:g} s")
    return [audio[i] for i in keep], [targets[i] for i in keep]


def steps_of(samples: Tensor, model: KwsModel) -> Tensor:
    """Recurrent steps the model emits for utterances of `samples` samples."""
    frames = torch.tensor([num_frames(int(n), model.feature_cfg) for n in samples])
    return frames // model.stride


def padded(audio: list[np.ndarray], idx: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
    """Utterances `idx` as a zero-padded float batch [B, L] and their lengths [B]."""
    lengths = torch.tensor([audio[i].size for i in idx])
    x = torch.zeros(len(idx), int(lengths.max()))
    for row, i in enumerate(idx):
        x[row, :audio[i].size] = torch.from_numpy(audio[i].astype(np.float32) / 32768.0)
    return x.to(device), lengths


def length_batches(lengths: np.ndarray, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of utterances of similar length (little padding), in random order."""
    order = np.argsort(lengths + rng.random(len(lengths)) * lengths.mean() * 0.2,
                       kind="stable")
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    return [batches[i] for i in rng.permutation(len(batches))]


@torch.no_grad()
def decode_utterances(model: KwsModel, audio: list[np.ndarray], device: torch.device,
                      batch: int = 32) -> list[list[int]]:
    """Greedy phoneme sequences of utterances (eval mode, float32 front end)."""
    model.eval()
    out: dict[int, list[int]] = {}
    lengths = np.array([a.size for a in audio])
    order = np.argsort(lengths)
    for lo in range(0, len(order), batch):
        idx = order[lo:lo + batch]
        x, n = padded(audio, idx, device)
        logits, _ = model(model.features(x, torch.float32))
        logp = torch.log_softmax(logits.float(), -1).cpu().numpy()
        for i, hyp in zip(idx, greedy_decode(logp, steps_of(n, model).tolist()), strict=True):
            out[int(i)] = hyp
    return [out[i] for i in range(len(audio))]


class Pretrainer:
    def __init__(self, cfg: RunConfig, run_dir: str | Path,
                 log: Callable[[str], None] = print) -> None:
        self.cfg, self.run_dir, self.log = cfg, Path(run_dir), log

    def _setup(self) -> None:
        cfg = self.cfg
        if not cfg.pretrain.corpora:
            raise KwsInputError("pretrain.corpora: give the corpora the encoder learns from")
        self.device = pick_device(cfg.train.device, dist_from_env())
        torch.manual_seed(cfg.train.seed)
        sr = cfg.features.sample_rate
        load = partial(load_split, list(cfg.pretrain.corpora), rate=sr,
                       max_seconds=cfg.pretrain.max_seconds, workers=cfg.train.workers,
                       log=self.log, held_out=cfg.pretrain.held_out_words)
        self.train_audio, self.train_targets = load(split="train")
        self.val_audio, self.val_targets = load(split="validation")
        if not self.train_audio or not self.val_audio:
            raise KwsInputError(f"pretrain.corpora={cfg.pretrain.corpora}: no train or no "
                                "validation utterances with text")
        self.lengths = np.array([a.size for a in self.train_audio])
        self.model = KwsModel(cfg.features, cfg.model, list(LABELS)).to(self.device)
        mean, std = feature_statistics(self.model, self._second_chunks(), self.device)
        self.model.set_normalization(mean.to(self.device), std.to(self.device))
        self.noise = torch.from_numpy(noise_bank(noise_files(list(cfg.data.noise)), sr)) \
            .to(self.device)
        self.rirs = torch.from_numpy(load_rirs(cfg.augment.rir, sr)).to(self.device) \
            if cfg.augment.rir else None
        self.steps_per_epoch = -(-len(self.train_audio) // cfg.train.batch_size)
        total = self.steps_per_epoch * cfg.train.epochs
        self.opt = make_optimizer(self.model.parameters(), cfg.train)
        self.sched = make_schedule(self.opt, cfg.train, total)
        self.store = CheckpointStore(self.run_dir / "ckpt")
        self.amp = cfg.train.amp and self.device.type == "cuda"  # bf16: no loss scaling
        hours = self.lengths.sum() / sr / 3600
        self.log(f"encoder {cfg.model.family} {cfg.model.layers}x{cfg.model.hidden}, "
                 f"{cfg.model.frame_stride} frames/step: {self.model.num_params():,} "
                 f"parameters; {len(self.train_audio)} training utterances ({hours:.2f} h), "
                 f"{len(self.val_audio)} validation; device {self.device}")

    def _second_chunks(self, count: int = 2000) -> np.ndarray:
        """One-second pieces of training utterances, for the feature statistics."""
        sr = self.cfg.features.sample_rate
        rng = np.random.default_rng([self.cfg.train.seed, 5])
        out = np.zeros((count, sr), np.int16)
        for row, i in enumerate(rng.integers(0, len(self.train_audio), count)):
            a = self.train_audio[i]
            start = int(rng.integers(0, max(1, a.size - sr)))
            piece = a[start:start + sr]
            out[row, :piece.size] = piece
        return out

    def _augment(self, x: Tensor, lengths: Tensor, g: torch.Generator) -> Tensor:
        """Gain, rooms and band limits, then noise at a random SNR against the speech."""
        aug, b, dev = self.cfg.augment, x.shape[0], x.device
        lo, hi = aug.gain_db
        x = x * (10 ** ((lo + (hi - lo) * torch.rand(b, generator=g, device=dev)) / 20))[:, None]
        x = room_and_mic(x, torch.rand(b, generator=g, device=dev) < aug.reverb_prob,
                         torch.rand(b, generator=g, device=dev) < aug.bandlimit_prob, g,
                         self.cfg.features.sample_rate, self.rirs)
        speech = torch.arange(x.shape[1], device=dev)[None] < lengths.to(dev)[:, None]
        lo, hi = aug.snr_db
        snr = lo + (hi - lo) * torch.rand(b, generator=g, device=dev)
        x = mix_noise(x, speech, self.noise, torch.rand(b, generator=g, device=dev)
                      < aug.noise_prob, snr, g)
        return x.clamp(-1.0, 1.0)

    def _step(self, idx: np.ndarray, seed: int) -> float:
        cfg = self.cfg
        g = torch.Generator(device=self.device)
        g.manual_seed(seed)
        torch.manual_seed(seed)
        self.model.train()
        x, lengths = padded(self.train_audio, idx, self.device)
        x = self._augment(x, lengths, g)
        lo, hi = cfg.augment.warp
        warp = None if lo == hi == 1.0 else \
            lo + (hi - lo) * torch.rand(len(idx), generator=g, device=self.device)
        frames = num_frames(x.shape[1], cfg.features)
        keep, bands = spec_mask((len(idx), frames, cfg.features.n_cepstra), cfg.augment, g,
                                self.device, cfg.features.n_mels)
        feats = self.model.features(x, torch.float32, warp, bands) * keep
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits, _ = self.model(feats)  # the loss is taken in float32 (ctc_loss)
        steps = steps_of(lengths, self.model).clamp(max=logits.shape[1])
        loss = ctc_loss(logits, steps, [self.train_targets[i] for i in idx])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
        self.opt.step()
        self.sched.step()
        return float(loss.item())

    def validate(self) -> float:
        hyps = decode_utterances(self.model, self.val_audio, self.device)
        return float(phoneme_error_rate(hyps, self.val_targets))

    def _state(self, epoch: int, step: int) -> dict:
        return {"model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "epoch": epoch, "step": step, "history": self.history, "best": self.best,
                "loss_sum": self.loss_sum}

    def fit(self, resume: bool = False) -> dict:
        with RunLock(self.run_dir):
            flushing = flushes_denormals()
            torch.set_flush_denormal(True)  # as kws.train.trainer: long recurrences on CPU
            try:
                return self._fit(resume)
            finally:
                torch.set_flush_denormal(flushing)

    def _fit(self, resume: bool) -> dict:
        cfg = self.cfg
        if not resume and has_run(self.run_dir):
            raise KwsInputError(f"{self.run_dir}: already holds a run; use --resume to "
                                "continue it or choose another --out")
        save_config(cfg, self.run_dir / "config.yaml")
        t_start = time.perf_counter()
        self._setup()
        self.history: list[dict] = []
        self.best = {"per": float("inf"), "epoch": 0}
        self.loss_sum = 0.0
        epoch, step = 0, 0
        state = self.store.load_latest(self.log) if resume else None
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            epoch, step = int(state["epoch"]), int(state["step"])
            self.history, self.best = list(state["history"]), dict(state["best"])
            self.loss_sum = float(state["loss_sum"])
            self.log(f"resumed at epoch {epoch + 1}, step {step}")
        while epoch < cfg.train.epochs:
            rng = np.random.default_rng([cfg.train.seed, epoch])
            batches = length_batches(self.lengths, cfg.train.batch_size, rng)
            t0 = time.perf_counter()
            while step < len(batches):
                self.loss_sum += self._step(batches[step], step_seed(cfg.train.seed, epoch,
                                                                     step))
                step += 1
                if step % cfg.train.checkpoint_every == 0 and step < len(batches):
                    self.store.save(self._state(epoch, step), epoch * len(batches) + step)
            self._end_epoch(epoch, len(batches), time.perf_counter() - t0)
            epoch, step, self.loss_sum = epoch + 1, 0, 0.0
            self.store.save(self._state(epoch, step), epoch * len(batches))
        return self._finish(time.perf_counter() - t_start)

    def _end_epoch(self, epoch: int, steps: int, seconds: float) -> None:
        per = self.validate()
        improved = bool(per < self.best["per"])
        if improved:
            self.best = {"per": per, "epoch": epoch + 1}
            save_model(self.run_dir / "best.pt", self.model, self.cfg,
                       {"epoch": epoch + 1, "val_per": per})
        audio_s = float(self.lengths.sum()) / self.cfg.features.sample_rate
        record = {"epoch": epoch + 1, "train_loss": self.loss_sum / max(1, steps),
                  "val_per": per, "lr": float(self.opt.param_groups[0]["lr"]),
                  "audio_seconds_per_second": audio_s / max(seconds, 1e-9), "best": improved}
        self.history.append(record)
        atomic_write_text(self.run_dir / "metrics.jsonl",
                          "".join(f"{_json(h)}\n" for h in self.history))
        self.log(f"epoch {epoch + 1}/{self.cfg.train.epochs}: CTC loss "
                 f"{record['train_loss']:.3f} | validation PER {100 * per:.1f} % | "
                 f"{record['audio_seconds_per_second']:.0f} s of audio/s"
                 f"{' | best' if improved else ''}")

    def _finish(self, seconds: float) -> dict:
        best, _, blob = load_model(self.run_dir / "best.pt")
        save_model(self.run_dir / "model.pt", best, self.cfg,
                   {"epoch": blob["epoch"], "val_per": blob["val_per"]})
        summary = {"run": str(self.run_dir), "model": str(self.run_dir / "model.pt"),
                   "best_epoch": self.best["epoch"], "val_per": self.best["per"],
                   "epochs_run": len(self.history), "seconds": round(seconds, 1),
                   "params": self.model.num_params(),
                   "train_utterances": len(self.train_audio),
                   "train_hours": round(float(self.lengths.sum())
                                        / self.cfg.features.sample_rate / 3600, 2),
                   "device": str(self.device), "config": to_dict(self.cfg)}
        atomic_write_json(self.run_dir / "summary.json", summary)
        return summary


def _json(obj: dict) -> str:
    import json

    return json.dumps(obj)


def pretrain(cfg: RunConfig, run_dir: str | Path, resume: bool = False,
             log: Callable[[str], None] = print) -> dict:
    return Pretrainer(cfg, run_dir, log).fit(resume)


def evaluate_per(model_path: str | Path, corpora: list[str], split: str = "test") -> dict:
    """Phoneme error rate of an encoder on each corpus' `split` ("all": every split)."""
    path = Path(model_path)
    path = path / "model.pt" if path.is_dir() else path
    model, cfg, blob = load_model(path)
    if list(blob["labels"]) != list(LABELS):
        raise KwsInputError(f"{path}: not a phoneme encoder (its labels are not "
                            "kws.data.phonemes.LABELS)")
    sets = {}
    for corpus in corpora:
        audio, refs = load_split([corpus], split, cfg.features.sample_rate, 60.0)
        if not audio:
            raise KwsInputError(f"{corpus}: no {split} utterances with text")
        hyps = decode_utterances(model, audio, torch.device("cpu"))
        sets[corpus] = {"utterances": len(audio), "per": phoneme_error_rate(hyps, refs),
                        "phonemes": sum(len(r) for r in refs)}
    return {"model": str(path), "split": split, "sets": sets}
