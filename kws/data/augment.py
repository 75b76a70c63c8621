"""Training-time augmentation, batched on the training device (GPU when there is one).

Clean clips come from the waveform cache; everything random here is drawn from one
`torch.Generator` seeded per step, for the whole global batch, so a run is reproducible,
resumable mid-epoch, and identical whether one process or several (DDP) train on it.

Per example, in order: speed perturbation and time shift (one resampling gather), gain,
reverberation (a synthetic room impulse response) and band-limiting (microphone colouring)
in one FFT, a context prefix (other clips end to end, up to context_ms, so the recurrent
state is not fresh when the keyword starts and words seconds before it must not decide,
as on a stream), background noise at a random SNR, clipping at full
scale; then a vocal tract length factor that the front end applies to its mel filters.
Features get SpecAugment masks afterwards (`spec_mask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from kws.config import AugmentConfig


@dataclass
class Composite:
    """An augmented batch: audio [B, context + clip], each example's context label (-1 when
    it has none), so the loss can leave the context's keyword alone, and its front-end
    frequency warp factor (None when augment.warp is off)."""

    audio: Tensor
    context_label: Tensor
    warp: Tensor | None = None


def _uniform(g: torch.Generator, n: int, lo: float, hi: float, device) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def _chance(g: torch.Generator, n: int, p: float, device) -> Tensor:
    return torch.rand(n, generator=g, device=device) < p


def speed_and_shift(x: Tensor, speed: Tensor, shift: Tensor, pad: int = 0) -> Tensor:
    """Resample each row by its speed factor about the clip centre (linear interpolation;
    tempo and pitch change together, like Kaldi's speed perturbation), then shift it by
    `shift` output samples: input sample i lands at centre + (i - centre) / speed + shift.
    The output is `pad` + L long, the clip's window last; the `pad` samples before it hold
    what a left shift moved out of the window; samples from outside the clip are zeros."""
    length = x.shape[-1]
    j = torch.arange(-pad, length, device=x.device, dtype=torch.float32)
    centre = (length - 1) / 2
    pos = centre + (j[None] - shift[:, None] - centre) * speed[:, None]
    i0 = torch.floor(pos)
    frac = pos - i0
    i0 = i0.long()
    out = torch.zeros(x.shape[0], pad + length, device=x.device, dtype=x.dtype)
    for k, w in ((0, 1 - frac), (1, frac)):
        idx = i0 + k
        valid = (idx >= 0) & (idx < length)
        out += torch.gather(x, 1, idx.clamp(0, length - 1)) * w * valid
    return out


def room_and_mic(x: Tensor, reverb: Tensor, band: Tensor, g: torch.Generator,
                 sample_rate: int, rirs: Tensor | None = None) -> Tensor:
    """Convolve rows flagged in `reverb` with a synthetic room impulse response
    (exponentially decaying noise, RT60 0.2-0.9 s, random direct-to-reverberant ratio), or
    for half of them with a measured one from `rirs` ([R, 0.5 s], kws.data.rir), and
    colour rows flagged in `band` with a random band-pass (high-pass 50-400 Hz, low-pass
    2.5-7.5 kHz, 2nd-4th order), both in one FFT; level is kept."""
    rows = torch.nonzero(reverb | band).flatten()
    if rows.numel() == 0:
        return x
    n, length, device = rows.numel(), x.shape[-1], x.device
    rir_len = int(0.5 * sample_rate)
    nfft = 1 << math.ceil(math.log2(length + rir_len))
    t = torch.arange(rir_len, device=device) / sample_rate
    rt60 = _uniform(g, n, 0.2, 0.9, device)
    tail = torch.randn(n, rir_len, generator=g, device=device)
    tail = tail * torch.exp(-6.9 * t[None] / rt60[:, None])
    drr_db = _uniform(g, n, -3.0, 12.0, device)  # direct energy over tail energy
    tail = tail / tail.norm(dim=1, keepdim=True) * 10 ** (-drr_db[:, None] / 20)
    tail[:, 0] = 1.0
    rir = torch.where(reverb[rows][:, None], tail, torch.zeros_like(tail))
    rir[:, 0] = 1.0
    if rirs is not None and rirs.numel():
        pick = torch.randint(0, rirs.shape[0], (n,), generator=g, device=device)
        measured = rirs[pick, :rir_len]
        measured = torch.nn.functional.pad(measured, (0, rir_len - measured.shape[1]))
        use = reverb[rows] & _chance(g, n, 0.5, device)
        rir = torch.where(use[:, None], measured, rir)
    spec = torch.fft.rfft(x[rows], nfft) * torch.fft.rfft(rir, nfft)
    freqs = torch.fft.rfftfreq(nfft, 1 / sample_rate).to(device)
    hp = _uniform(g, n, 50.0, 400.0, device)[:, None]
    lp = _uniform(g, n, 2500.0, 7500.0, device)[:, None]
    order = torch.randint(2, 5, (n, 1), generator=g, device=device).float()
    f = freqs[None].clamp(min=1.0)
    mask = 1 / torch.sqrt(1 + (f / lp) ** (2 * order)) / torch.sqrt(1 + (hp / f) ** (2 * order))
    mask = torch.where(band[rows][:, None], mask, torch.ones_like(mask))
    y = torch.fft.irfft(spec * mask, nfft)[:, :length]
    power_in = x[rows].pow(2).mean(dim=1, keepdim=True)
    power_out = y.pow(2).mean(dim=1, keepdim=True).clamp(min=1e-12)
    out = x.clone()
    out[rows] = y * torch.sqrt(power_in / power_out)
    return out


def mix_noise(x: Tensor, region: slice | Tensor, noise_bank: Tensor, apply: Tensor,
              snr_db: Tensor, g: torch.Generator) -> Tensor:
    """Add a random segment of `noise_bank` to rows flagged in `apply`, scaled to `snr_db`
    against the signal power inside `region`: a slice (the clip, not the context) or a
    bool mask [B, L] (where a sequence holds speech)."""
    if noise_bank.numel() <= x.shape[-1] or not bool(apply.any()):
        return x
    b, length = x.shape
    start = torch.randint(0, noise_bank.numel() - length, (b,), generator=g,
                          device=x.device)
    seg = noise_bank[start[:, None] + torch.arange(length, device=x.device)[None]]
    if isinstance(region, slice):
        p_sig = x[:, region].pow(2).mean(dim=1).clamp(min=1e-8)
    else:
        p_sig = ((x.pow(2) * region).sum(dim=1) / region.sum(dim=1).clamp(min=1)).clamp(min=1e-8)
    p_noise = seg.pow(2).mean(dim=1).clamp(min=1e-10)
    scale = torch.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return x + seg * (scale * apply)[:, None]


def augment_batch(clips: Tensor, labels: Tensor, pool: Tensor, pool_labels: Tensor,
                  noise_bank: Tensor, cfg: AugmentConfig, context_samples: int,
                  sample_rate: int, g: torch.Generator, word_ends: Tensor | None = None,
                  silence: int = -1, rirs: Tensor | None = None) -> Composite:
    """clips [B, L] float in [-1, 1] -> augmented composites [B, context + L].

    `pool` ([N, L]) is where context prefixes come from (the training clips); `rirs`
    measured room impulse responses for reverberation (kws.data.rir). With
    `word_ends` (sample where each clip's spoken part ends) and cfg.end_align, spoken clips
    are shifted so the word ends end_margin_ms before the clip's end: the last frame, which
    last-frame training supervises, then comes a fixed short time after the word, which is
    when a stream should fire. A word too long for its margin keeps its onset in the
    context region (the context prefix then ends where the clip begins), as it would on a
    stream; only what reaches past the context is lost."""
    b, length = clips.shape
    device = clips.device
    lo, hi = cfg.speed
    speed = _uniform(g, b, lo, hi, device)
    max_shift = cfg.shift_ms * sample_rate / 1000
    shift = _uniform(g, b, -max_shift, max_shift, device)
    centre = (length - 1) / 2
    if cfg.end_align and word_ends is not None:
        end = centre + (word_ends.float() - centre) / speed  # where the word ends after speed
        margin = _uniform(g, b, *cfg.end_margin_ms, device) * sample_rate / 1000
        shift = torch.where(labels != silence, length - margin - end, shift)
    x = speed_and_shift(clips, speed, shift, context_samples)
    gain = 10 ** (_uniform(g, b, *cfg.gain_db, device) / 20)
    x = x * gain[:, None]
    x = room_and_mic(x, _chance(g, b, cfg.reverb_prob, device),
                     _chance(g, b, cfg.bandlimit_prob, device), g, sample_rate, rirs)
    context_label = torch.full((b,), -1, dtype=torch.long, device=device)
    if context_samples > 0:
        use = _chance(g, b, cfg.context_prob, device)
        # as many whole clips as the context needs, end to end; the last one is adjacent
        n_clips = -(-context_samples // length)
        picks = torch.randint(0, pool.shape[0], (b, n_clips), generator=g, device=device)
        pick = picks[:, -1]
        take = (torch.rand(b, generator=g, device=device) * context_samples).long()
        ctx = pool[picks].reshape(b, n_clips * length)[:, -context_samples:]
        ctx = ctx.float() / 32768.0 if pool.dtype == torch.int16 else ctx
        ctx = ctx * (10 ** (_uniform(g, b, *cfg.gain_db, device) / 20))[:, None]
        # the context ends where the clip's first sample landed (the window's start unless
        # a left shift moved the clip into the context region); of it, only the last
        # `take` samples are kept, the rest is silence
        first = centre - centre / speed + shift  # the clip's sample 0, window coordinates
        boundary = (context_samples + torch.floor(first).clamp(max=0)).clamp(min=0).long()
        pos = torch.arange(context_samples + length, device=device)[None]
        src = pos + context_samples - boundary[:, None]
        keep = (pos < boundary[:, None]) & (src >= context_samples - take[:, None]) \
            & use[:, None]
        placed = torch.gather(ctx, 1, src.clamp(0, context_samples - 1)) * keep
        x = x + placed
        context_label = torch.where(use & (take > 0) & (boundary > 0), pool_labels[pick],
                                    context_label)
    snr = _uniform(g, b, *cfg.snr_db, device)
    x = mix_noise(x, slice(context_samples, None), noise_bank,
                  _chance(g, b, cfg.noise_prob, device), snr, g)
    warp = None if cfg.warp == [1.0, 1.0] else _uniform(g, b, *cfg.warp, device)
    return Composite(x.clamp(-1.0, 1.0), context_label, warp)


def band_keep(batch: int, size: int, count: int, width: int, g: torch.Generator,
              device: torch.device | str) -> Tensor:
    """[batch, size] keep-mask with `count` masked bands of 0..`width` cells per row."""
    keep = torch.ones(batch, size, device=device, dtype=torch.bool)
    if width <= 0:
        return keep
    idx = torch.arange(size, device=device)[None]
    for _ in range(count):
        w = torch.randint(0, width + 1, (batch, 1), generator=g, device=device)
        start = (torch.rand(batch, 1, generator=g, device=device) * (size - w + 1)).long()
        keep &= ~((idx >= start) & (idx < start + w))
    return keep


def spec_mask(shape: tuple[int, int, int], cfg: AugmentConfig, g: torch.Generator,
              device: torch.device | str, mel_bands: int = 0) -> tuple[Tensor, Tensor | None]:
    """SpecAugment: (keep-mask [B, T, C] for normalized features, whose masked cells become
    0, the mean; keep-mask [B, mel_bands] for the front end, or None). `time_masks` bands
    of up to `time_mask_frames` frames; `freq_masks` bands of up to `freq_mask_bins`
    cepstra, or mel bands when cfg.freq_mask_space is "mel" (masked in the front end,
    before the DCT, see kws.features.mfcc.frames_to_mfcc)."""
    b, t, c = shape
    time = band_keep(b, t, cfg.time_masks, cfg.time_mask_frames, g, device)[:, :, None]
    if cfg.freq_mask_space == "mel":
        bands = band_keep(b, mel_bands, cfg.freq_masks, cfg.freq_mask_bins, g, device)
        return time.expand(b, t, c), bands
    freq = band_keep(b, c, cfg.freq_masks, cfg.freq_mask_bins, g, device)[:, None, :]
    return time & freq, None
