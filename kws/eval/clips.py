"""Clip-level scoring of a PyTorch model: per-frame log-posteriors of whole clips, and the
clip decision (kws.train.loss.clip_predictions) on top of them."""

from __future__ import annotations

import numpy as np
import torch

from kws.models import KwsModel


@torch.no_grad()
def clip_log_posteriors(model: KwsModel, clips: np.ndarray | torch.Tensor,
                        device: torch.device | str = "cpu",
                        batch_size: int = 256) -> np.ndarray:
    """clips int16 or float [N, L] -> log-posteriors [N, frames, classes] (float32), each
    clip from a fresh state, no augmentation."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for lo in range(0, len(clips), batch_size):
            part = torch.from_numpy(np.array(clips[lo:lo + batch_size]))
            wave = part.float() / 32768.0 if part.dtype == torch.int16 else part.float()
            logits, _ = model(model.features(wave.to(device)))
            out.append(torch.log_softmax(logits.float(), dim=-1).cpu().numpy())
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, 0, len(model.labels)), np.float32)
    return np.concatenate(out)
