"""Losses for a model that emits posteriors at every step, and the clip decision.

`end` (the default): cross-entropy on the last frame of end-aligned clips, plus quiet
filler. Training clips are shifted so the word ends `augment.end_margin_ms` (50-250 ms by
default) before the clip's last frame (kws.data.augment, end alignment), so the last frame
is "just after the word": where a stream should fire, with low latency. Last-frame
cross-entropy learns fast (the positive term of max-pooling trains one arbitrary frame and
learns several times slower here). It says nothing about the other frames, though, and a
stream then fires inside other words; so in every filler clip (`_silence_`, `_unknown_`)
each keyword's highest posterior over the clip is pushed down, -log(1 - max_t p_k(t)), the
negative term of wekws' max-pooling loss, restricted to where it does not fight the positive
term.

`last_frame`: the last frame's cross-entropy alone (the plain baseline).

`maxpool` (wekws, extended to several classes): a keyword or `_unknown_` clip must, at some
frame, give its class the highest probability (cross-entropy at that frame); a `_silence_`
clip is silence at every frame; every other non-silence class must stay low at every frame.
Its clip decision mirrors the streaming detector: the class with the highest peak posterior
among non-silence classes if that peak reaches 0.5, else silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PEAK_THRESHOLD = 0.5


@dataclass
class Classes:
    """What the losses need to know about the label set."""

    silence: int            # index of _silence_, -1 if none
    filler: Tensor          # bool [K]: filler classes (labels starting with "_")

    @classmethod
    def of(cls, labels: list[str], device=None) -> Classes:
        silence = labels.index("_silence_") if "_silence_" in labels else -1
        return cls(silence, torch.tensor([x.startswith("_") for x in labels], device=device))


def _peaks(logits: Tensor) -> Tensor:
    """Highest posterior of each class over the frames: [B, T, K] -> [B, K], below 1."""
    return F.log_softmax(logits.float(), dim=-1).max(dim=1).values.exp().clamp(max=1 - 1e-6)


def last_frame_loss(logits: Tensor, labels: Tensor, classes: Classes, smoothing: float = 0.0,
                    ignore: Tensor | None = None) -> Tensor:
    return F.cross_entropy(logits[:, -1].float(), labels, label_smoothing=smoothing)


def end_loss(logits: Tensor, labels: Tensor, classes: Classes, smoothing: float = 0.0,
             ignore: Tensor | None = None) -> Tensor:
    pos = F.cross_entropy(logits[:, -1].float(), labels, label_smoothing=smoothing,
                          reduction="none")
    keywords = ~classes.filler
    quiet = -torch.log1p(-_peaks(logits))[:, keywords].sum(dim=1)
    return (pos + quiet * classes.filler[labels]).mean()


def maxpool_loss(logits: Tensor, labels: Tensor, classes: Classes, smoothing: float = 0.0,
                 ignore: Tensor | None = None) -> Tensor:
    """logits [B, T, K] over the clip's frames; `ignore` [B]: a class per example left out of
    the negative term (the keyword of a context prefix), -1 for none."""
    b, t, k = logits.shape
    silence = classes.silence
    logp = F.log_softmax(logits.float(), dim=-1)
    target_logp = logp.gather(2, labels.view(b, 1, 1).expand(b, t, 1)).squeeze(2)
    best = target_logp.argmax(dim=1)
    at_best = logits[torch.arange(b, device=logits.device), best]
    pos = F.cross_entropy(at_best.float(), labels, reduction="none",
                          label_smoothing=smoothing)
    is_sil = labels == silence
    if bool(is_sil.any()):
        frame_ce = F.cross_entropy(logits.float().reshape(b * t, k), labels.repeat_interleave(t),
                                   reduction="none", label_smoothing=smoothing).view(b, t)
        pos = torch.where(is_sil, frame_ce.mean(dim=1), pos)
    excluded = F.one_hot(labels, k).bool()
    if silence >= 0:
        excluded[:, silence] = True
    if ignore is not None:
        has = ignore >= 0
        excluded[has, ignore[has]] = True
    neg = (-torch.log1p(-_peaks(logits)) * ~excluded).sum(dim=1)
    return (pos + neg).mean()


def sequence_loss(logits: Tensor, targets: Tensor, classes: Classes,
                  smoothing: float = 0.0) -> Tensor:
    """Per-step loss of training sequences (kws.data.sequences): logits [B, T, K], targets
    [B, T] holding a class c >= 0 (that keyword's window), NOT_KEYWORD (-2) or
    only_free(k) = -3 - k (keyword k may fire there, no other). Per sequence, three terms:
    cross-entropy at its keyword windows (mean over their steps); at every other step, the
    probability of what may be there (the filler classes, and k where it is free) pushed
    up (mean over those steps); and each keyword's peak over the steps where it may not
    fire pushed down, -log(1 - max_t p_j(t)), the false alarm a threshold would see. The
    loss is the mean over sequences, so a batch split over processes (DDP) gives the same
    gradient."""
    b, t, k = logits.shape
    logits = logits.float()
    logp = F.log_softmax(logits, dim=-1)
    pos = targets >= 0
    rest = ~pos
    free = torch.where(targets <= -3, -3 - targets, -1)
    allowed = classes.filler[None, None, :] | F.one_hot(free.clamp(min=0), k).bool() \
        & (free >= 0)[..., None]

    def mean_over(values: Tensor, mask: Tensor) -> Tensor:
        return (values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)

    ce = F.cross_entropy(logits.reshape(b * t, k), targets.clamp(min=0).reshape(b * t),
                         label_smoothing=smoothing, reduction="none").view(b, t)
    quiet_mass = -torch.logsumexp(logp.masked_fill(~allowed, float("-inf")), dim=-1)
    barred = ~allowed & rest[..., None]                  # [B, T, K]: may not fire here
    peak = (logp.exp() * barred)[..., ~classes.filler].max(dim=1).values
    quiet = -torch.log1p(-peak.clamp(max=1 - 1e-6)).sum(dim=1)
    return (mean_over(ce, pos) + mean_over(quiet_mass, rest) + quiet).mean()


def distillation_loss(logits: Tensor, teacher_probs: Tensor, temperature: float) -> Tensor:
    """Knowledge distillation (Hinton et al. 2015) at the decision frame: KL(teacher ||
    student) between posteriors softened by `temperature`, times its square so the
    gradients keep their scale whatever the temperature. logits [B, K]; teacher_probs
    [B, K], already softened."""
    log_q = F.log_softmax(logits.float() / temperature, dim=-1)
    return F.kl_div(log_q, teacher_probs, reduction="batchmean") * temperature ** 2


LOSSES = {"end": end_loss, "last_frame": last_frame_loss, "maxpool": maxpool_loss}


def clip_predictions(posteriors: np.ndarray, rule: str, silence: int) -> np.ndarray:
    """posteriors [B, T, K] -> predicted class per clip, by the rule the model was trained
    for (see the module docstring)."""
    if rule != "maxpool":
        return posteriors[:, -1].argmax(axis=1)
    peaks = posteriors.max(axis=1)  # [B, K]
    if silence < 0:
        return peaks.argmax(axis=1)
    masked = peaks.copy()
    masked[:, silence] = -1.0
    best = masked.argmax(axis=1)
    return np.where(masked.max(axis=1) >= PEAK_THRESHOLD, best, silence)
