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


def _word_clip(length: int, start: int, end: int) -> torch.Tensor:
    clip = torch.zeros(length)
    clip[start:end] = 0.5
    return clip


def test_end_alignment_puts_the_word_end_at_the_margin_whatever_the_speed():
    """The gap after the word is the configured margin for every speed factor: the last
    frame, which the loss supervises, sits the same time after the word."""
    length, sr = 16000, 16000
    clips = _word_clip(length, 3000, 9000).repeat(64, 1)
    cfg = AugmentConfig(noise_prob=0.0, gain_db=[0.0, 0.0], speed=[0.8, 1.2],
                        end_margin_ms=[100.0, 100.0], context_prob=0.0)
    out = augment_batch(clips, torch.ones(64, dtype=torch.long), clips, torch.ones(64),
                        torch.zeros(0), cfg, 0, sr, torch.Generator().manual_seed(1),
                        torch.full((64,), 9000), silence=0)
    last = torch.stack([torch.nonzero(row > 1e-3).max() for row in out.audio])
    assert torch.all((length - 1 - last - 1600).abs() <= 2), last


def test_a_long_word_keeps_its_onset_in_the_context_region():
    """A word longer than the window allows at its margin is not cut: its start lands in
    the context region and the context prefix ends where the clip begins."""
    length, ctx, sr = 1000, 600, 16000
    clips = _word_clip(length, 50, 900).repeat(32, 1)
    pool = torch.full((4, length), -0.25)
    cfg = AugmentConfig(noise_prob=0.0, gain_db=[0.0, 0.0], speed=[1.0, 1.0],
                        end_margin_ms=[25.0, 25.0], context_prob=1.0)  # 400 samples
    out = augment_batch(clips, torch.ones(32, dtype=torch.long), pool, torch.zeros(4),
                        torch.zeros(0), cfg, ctx, sr, torch.Generator().manual_seed(2),
                        torch.full((32,), 900), silence=0)
    assert out.audio.shape == (32, ctx + length)
    for row in out.audio:
        word = torch.nonzero(row > 0).flatten()
        assert len(word) == 850                       # the whole word, onset included
        assert word.max() == ctx + length - 400 - 1   # ends at the margin
        context = torch.nonzero(row < 0).flatten()
        if len(context):
            assert context.max() < word.min() - 40    # before the clip's first sample


def test_warp_factors_are_drawn_in_range_only_when_asked():
    """augment.warp off (the default) draws nothing, so runs without it keep their random
    stream; on, each example gets its own factor from the range."""
    clips = torch.zeros(64, 400)
    labels = torch.zeros(64, dtype=torch.long)
    args = (clips, labels, clips, labels, torch.zeros(0))
    off = augment_batch(*args, _plain(), 0, 16000, torch.Generator().manual_seed(0))
    assert off.warp is None
    on = augment_batch(*args, _plain(warp=[0.9, 1.1]), 0, 16000,
                       torch.Generator().manual_seed(0))
    assert on.warp.shape == (64,)
    assert torch.all((on.warp >= 0.9) & (on.warp <= 1.1))
    assert on.warp.std() > 0.03
    assert torch.equal(on.audio, off.audio)


def test_augment_spec_mask_covers_cepstra_or_mel_bands():
    """Cepstral masks go into the feature mask; mel masks come back for the front end and
    leave the feature mask with the time masks alone; widths stay within their bounds."""
    from kws.data.augment import spec_mask

    cfg = AugmentConfig(time_masks=2, time_mask_frames=5, freq_masks=2, freq_mask_bins=4)
    g = torch.Generator().manual_seed(0)
    keep, bands = spec_mask((64, 50, 20), cfg, g, "cpu", mel_bands=40)
    assert bands is None and keep.shape == (64, 50, 20)
    masked_cepstra = (~keep).all(dim=1).sum(dim=1)  # masked in every frame
    assert masked_cepstra.max() <= 8 and masked_cepstra.float().mean() > 1
    cfg.freq_mask_space = "mel"
    keep, bands = spec_mask((64, 50, 20), cfg, torch.Generator().manual_seed(0), "cpu",
                            mel_bands=40)
    assert bands.shape == (64, 40) and keep.shape == (64, 50, 20)
    assert not bool((~keep).all(dim=1).any())  # no cepstrum masked in every frame
    masked_bands = (~bands).sum(dim=1)
    assert masked_bands.max() <= 8 and masked_bands.float().mean() > 1
    masked_frames = (~keep[:, :, 0]).sum(dim=1)
    assert masked_frames.max() <= 10 and masked_frames.float().mean() > 1
