"""Losses for a model that emits posteriors at every frame, and the clip decision.

`maxpool` (the default; max-pooling loss as in wekws, extended to several classes):
- a keyword or `_unknown_` clip must, at some frame of the clip, give its class the highest
  probability: cross-entropy at the frame where the model is most confident of the true
  class (the model learns to fire when it has heard the word, which is what a stream needs);
- a `_silence_` clip is silence at every frame (cross-entropy averaged over frames);
- every other non-silence class must stay low at every frame: -log(1 - max_t p_c(t)).
  This is what keeps a stream quiet during other words and word fragments.
The clip decision mirrors the streaming detector: the class with the highest peak posterior
among non-silence classes if that peak reaches 0.5, else silence.

`last_frame`: cross-entropy on the clip's last frame (the plain baseline). It trains one
frame per clip and says nothing about the other frames, so a stream may fire anywhere.

`hybrid`: the last frame's cross-entropy as the positive term (it learns faster than the
max-pooled one) plus maxpool's silence and negative terms (no other class may peak at any
frame), with maxpool's clip decision. Clips are end-aligned by construction: each training
clip ends within `shift_ms` + the corpus' trailing silence of its keyword.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PEAK_THRESHOLD = 0.5


def maxpool_loss(logits: Tensor, labels: Tensor, silence: int, smoothing: float = 0.0,
                 ignore: Tensor | None = None, positive: str = "max") -> Tensor:
    """logits [B, T, K] over the clip's frames; labels [B]; `silence` the index of the
    silence class (-1: none); `ignore` [B] a class per example left out of the negative
    term (the keyword of a context prefix), -1 for none. `positive`: the frame whose
    cross-entropy trains the true class, the most confident one ("max") or the last."""
    b, t, k = logits.shape
    logp = F.log_softmax(logits.float(), dim=-1)
    if positive == "max":
        target_logp = logp.gather(2, labels.view(b, 1, 1).expand(b, t, 1)).squeeze(2)
        best = target_logp.argmax(dim=1)
    else:
        best = torch.full((b,), t - 1, device=logits.device, dtype=torch.long)
    at_best = logits[torch.arange(b, device=logits.device), best]
    pos = F.cross_entropy(at_best.float(), labels, reduction="none",
                          label_smoothing=smoothing)
    is_sil = labels == silence
    if bool(is_sil.any()):
        frame_ce = F.cross_entropy(logits.float().reshape(b * t, k), labels.repeat_interleave(t),
                                   reduction="none", label_smoothing=smoothing).view(b, t)
        pos = torch.where(is_sil, frame_ce.mean(dim=1), pos)
    peak = logp.max(dim=1).values.exp().clamp(max=1 - 1e-6)  # [B, K]
    neg_terms = -torch.log1p(-peak)
    excluded = F.one_hot(labels, k).bool()
    if silence >= 0:
        excluded[:, silence] = True
    if ignore is not None:
        has = ignore >= 0
        excluded[has, ignore[has]] = True
    neg = (neg_terms * ~excluded).sum(dim=1)
    return (pos + neg).mean()


def last_frame_loss(logits: Tensor, labels: Tensor, silence: int, smoothing: float = 0.0,
                    ignore: Tensor | None = None) -> Tensor:
    return F.cross_entropy(logits[:, -1].float(), labels, label_smoothing=smoothing)


def hybrid_loss(logits: Tensor, labels: Tensor, silence: int, smoothing: float = 0.0,
                ignore: Tensor | None = None) -> Tensor:
    return maxpool_loss(logits, labels, silence, smoothing, ignore, positive="last")


LOSSES = {"maxpool": maxpool_loss, "last_frame": last_frame_loss, "hybrid": hybrid_loss}


def clip_predictions(posteriors: np.ndarray, rule: str, silence: int) -> np.ndarray:
    """posteriors [B, T, K] -> predicted class per clip, by the rule the model was trained
    for (see the module docstring)."""
    if rule == "last_frame":
        return posteriors[:, -1].argmax(axis=1)
    peaks = posteriors.max(axis=1)  # [B, K]
    if silence < 0:
        return peaks.argmax(axis=1)
    masked = peaks.copy()
    masked[:, silence] = -1.0
    best = masked.argmax(axis=1)
    return np.where(masked.max(axis=1) >= PEAK_THRESHOLD, best, silence)
