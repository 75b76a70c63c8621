"""Training augmentation: the context prefix that makes a clip look like part of a stream."""

from __future__ import annotations

import torch

from kws.config import AugmentConfig
from kws.data.augment import augment_batch


def _plain(**kw) -> AugmentConfig:
    """Everything off but the context prefix."""
    return AugmentConfig(noise_prob=0.0, gain_db=[0.0, 0.0], shift_ms=0.0, end_align=False,
                         speed=[1.0, 1.0], context_prob=1.0, **kw)


def test_augment_context_longer_than_a_clip_is_several_clips_end_to_end():
    """A 2.5-clip context is made of whole pool clips, the adjacent one last: words said
    seconds before the keyword reach the model, as on a stream."""
    length, n = 100, 6
    pool = torch.stack([torch.full((length,), float(i + 1) / 10) for i in range(n)])
    pool_labels = torch.arange(n)
    clips = torch.zeros(32, length)
    g = torch.Generator().manual_seed(0)
    out = augment_batch(clips, torch.zeros(32, dtype=torch.long), pool, pool_labels,
                        torch.zeros(0), _plain(), 250, 16000, g)
    assert out.audio.shape == (32, 250 + length)
    seen_several = 0
    for row, label in zip(out.audio, out.context_label, strict=True):
        ctx = row[:250]
        kept = ctx[ctx != 0]
        assert torch.all(row[250:] == 0)
        if kept.numel() == 0:
            continue
        # the context's last samples come from the clip its label names
        assert torch.isclose(ctx[-1], pool[label, -1])
        seen_several += len(torch.unique(kept)) > 1
    assert seen_several > 5   # prefixes longer than one clip hold several clips
