"""Training sequences for continuous audio: several seconds of keywords, other words,
continuous speech and pauses, with a target for every recurrent step.

A clip example teaches what a keyword sounds like with silence around it; a stream is heard
with the state carried for hours, keywords between and inside other speech. A sequence is
built like a stream: items (training clips cut around their spoken part, pieces of
continuous speech, mined hard negatives) laid end to end, joined like running speech
(`sequences.joint_ms`) or apart (`pause_ms`), each at its own level; then the room, the
microphone and the noise over the whole of it. Every step gets a target:

- keyword k for the steps `sequences.window_ms` after the word ends (where a stream
  should fire; it covers the clip examples' decision point, `augment.end_margin_ms`);
- "not a keyword but k" while k is spoken and `sequences.tail_ms` after its window (its
  posterior may rise early and fall late without penalty, any other keyword may not: the
  onset of "stop" must not fire "yes");
- "not a keyword" everywhere else (kws.train.loss.sequence_loss).

All randomness comes from the step's `torch.Generator` (reproducible and resumable, like
kws.data.augment), and everything is batched on the training device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kws.config import AugmentConfig, SequenceConfig
from kws.data.augment import _chance, _uniform, mix_noise, room_and_mic

NOT_KEYWORD = -2   # target of steps where no keyword may fire


def only_free(keyword: Tensor | int) -> Tensor | int:
    """The target of steps where keyword (class index) `keyword` may fire and no other."""
    return -3 - keyword


@dataclass
class Material:
    """What sequences are made of, on the training device: every training clip end to end
    in `flat` (int16), followed by the recordings (continuous speech, hard negatives)."""

    flat: Tensor
    clip_len: int
    spoken: Tensor          # [N, 2] long: start and end of each clip's spoken part
    labels: Tensor          # [N]
    keyword_clips: Tensor   # indices of keyword clips
    other_clips: Tensor     # indices of the other clips (filler classes)
    whole: Tensor           # [N] bool: clips used whole (noise-only _silence_ clips)
    continuous: Tensor      # [M, 2] long: start (in flat) and length of each recording
    hard: Tensor            # [H, 2] long: likewise for hard negatives


def build_material(clips: Tensor, labels: Tensor, spoken: Tensor, keyword: Tensor,
                   silence: int, continuous: list[np.ndarray], hard: list[np.ndarray],
                   ) -> Material:
    """clips [N, L] int16 on the device; `spoken` [N, 2]; `keyword` [N] bool; recordings
    float32 in [-1, 1]."""
    device = clips.device

    def table(recs: list[np.ndarray], first: int) -> tuple[Tensor, Tensor]:
        lengths = torch.tensor([len(r) for r in recs], dtype=torch.long)
        starts = first + torch.cumsum(lengths, 0) - lengths
        pcm = [torch.from_numpy(np.round(np.clip(r, -1, 1) * 32767).astype(np.int16))
               for r in recs]
        return torch.stack([starts, lengths], 1).to(device), \
            torch.cat(pcm).to(device) if pcm else torch.zeros(0, dtype=torch.int16,
                                                              device=device)

    first = clips.numel()
    cont, cont_pcm = table(continuous, first)
    hard_t, hard_pcm = table(hard, first + cont_pcm.numel())
    return Material(torch.cat([clips.reshape(-1), cont_pcm, hard_pcm]), clips.shape[1],
                    spoken.long(), labels, torch.nonzero(keyword).flatten(),
                    torch.nonzero(~keyword).flatten(), labels == silence, cont, hard_t)


@dataclass
class Sequences:
    audio: Tensor     # [B, samples]
    targets: Tensor   # [B, steps] long: a class, NOT_KEYWORD or only_free(class)


def _pick(g: torch.Generator, pool: Tensor, shape: tuple[int, int]) -> Tensor:
    if pool.numel() == 0:
        return torch.zeros(shape, dtype=torch.long, device=pool.device)
    return pool[torch.randint(0, pool.numel(), shape, generator=g, device=pool.device)]


def _recording_items(g: torch.Generator, table: Tensor, shape: tuple[int, int],
                     rate: int, seconds: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """Random pieces (start in flat, length) of random recordings of a table."""
    if table.shape[0] == 0:
        z = torch.zeros(shape, dtype=torch.long, device=table.device)
        return z, z
    rec = torch.randint(0, table.shape[0], shape, generator=g, device=table.device)
    start, length = table[rec, 0], table[rec, 1]
    want = (seconds[0] + (seconds[1] - seconds[0]) *
            torch.rand(shape, generator=g, device=table.device)) * rate
    take = torch.minimum(want.long(), length)
    offset = (torch.rand(shape, generator=g, device=table.device) *
              (length - take + 1)).long()
    return start + offset, take


def make_sequences(m: Material, cfg: SequenceConfig, aug: AugmentConfig, batch: int,
                   rate: int, step_end: Tensor, g: torch.Generator, noise_bank: Tensor,
                   rirs: Tensor | None = None) -> Sequences:
    """`batch` sequences of cfg.seconds; `step_end` [T]: the sample at which each
    recurrent step ends (its targets are set from there)."""
    device = m.flat.device
    length = round(cfg.seconds * rate)
    slots = max(2, math.ceil(cfg.seconds / 0.25))  # more items than fit; the rest fall off
    shape = (batch, slots)
    has_cont, has_hard = m.continuous.shape[0] > 0, m.hard.shape[0] > 0
    p_kw = cfg.keyword_share if m.keyword_clips.numel() else 0.0
    p_cont = cfg.continuous_share if has_cont else 0.0
    p_hard = cfg.hard_share if has_hard else 0.0
    u = torch.rand(shape, generator=g, device=device)
    is_kw = u < p_kw
    is_cont = (u >= p_kw) & (u < p_kw + p_cont)
    is_hard = (u >= p_kw + p_cont) & (u < p_kw + p_cont + p_hard)

    # clips: the spoken part with up to margin_ms of the clip's own audio on each side
    clip = torch.where(is_kw, _pick(g, m.keyword_clips, shape), _pick(g, m.other_clips, shape))
    on, end = m.spoken[clip, 0], m.spoken[clip, 1]
    margin = cfg.margin_ms * rate / 1000
    lo = (on - (torch.rand(shape, generator=g, device=device) * margin).long()).clamp(min=0)
    hi = (end + (torch.rand(shape, generator=g, device=device) * margin).long()) \
        .clamp(max=m.clip_len)
    whole = m.whole[clip]
    lo, hi = torch.where(whole, 0, lo), torch.where(whole, m.clip_len, hi)
    src = clip * m.clip_len + lo
    size = hi - lo
    c_src, c_size = _recording_items(g, m.continuous, shape, rate, (0.5, 3.0))
    h_src, h_size = _recording_items(g, m.hard, shape, rate, (0.5, 3.0))
    src = torch.where(is_cont, c_src, torch.where(is_hard, h_src, src))
    size = torch.where(is_cont, c_size, torch.where(is_hard, h_size, size))

    # layout: a lead, then item, joint or pause, item, ...
    running = _chance(g, batch * slots, cfg.running_share, device).view(shape)
    joint = _uniform(g, batch * slots, *cfg.joint_ms, device).view(shape)
    pause = _uniform(g, batch * slots, *cfg.pause_ms, device).view(shape)
    gap = (torch.where(running, joint, pause) * rate / 1000).long()
    lead = (_uniform(g, batch, 0.0, cfg.pause_ms[1], device) * rate / 1000).long()
    ext = size + gap
    pos = lead[:, None] + torch.cumsum(ext, 1) - ext
    gain = 10 ** (_uniform(g, batch * slots, *aug.gain_db, device).view(shape) / 20)

    # each sample belongs to the last item starting at or before it (items never overlap)
    t = torch.arange(length, device=device)[None].expand(batch, length).contiguous()
    item = (torch.searchsorted(pos, t, right=True) - 1).clamp(min=0)
    rel = t - pos.gather(1, item)
    inside = (rel >= 0) & (rel < size.gather(1, item))
    idx = (src.gather(1, item) + rel.clamp(min=0)).clamp(max=m.flat.numel() - 1)
    audio = m.flat[idx].float() * (inside * gain.gather(1, item) / 32768.0)
    speech = inside & ~whole.gather(1, item)

    # targets: keyword items, free for their keyword from onset to past their window, then
    # the window
    targets = torch.full((batch, step_end.numel()), NOT_KEYWORD, dtype=torch.long,
                         device=device)
    w_lo, w_hi = (x * rate / 1000 for x in cfg.window_ms)
    tail = cfg.tail_ms * rate / 1000
    word_on = pos + (on - lo)
    word_end = pos + (end - lo)
    e = step_end[None]
    windows = []
    for j in range(slots):
        kw = is_kw[:, j:j + 1] & (pos[:, j:j + 1] < length)
        label = m.labels[clip[:, j]][:, None]
        free = kw & (e >= word_on[:, j:j + 1]) & (e < word_end[:, j:j + 1] + w_hi + tail)
        targets = torch.where(free, only_free(label), targets)
        win = kw & (e >= word_end[:, j:j + 1] + w_lo) & (e <= word_end[:, j:j + 1] + w_hi)
        windows.append((win, label[:, 0]))
    for win, label in windows:
        targets = torch.where(win, label[:, None], targets)

    audio = room_and_mic(audio, _chance(g, batch, aug.reverb_prob, device),
                         _chance(g, batch, aug.bandlimit_prob, device), g, rate, rirs)
    snr = _uniform(g, batch, *aug.snr_db, device)
    audio = mix_noise(audio, speech, noise_bank, _chance(g, batch, aug.noise_prob, device),
                      snr, g)
    return Sequences(audio.clamp(-1.0, 1.0), targets)


def step_ends(frames: int, hop: int, win: int, stride: int) -> Tensor:
    """The sample at which each recurrent step's last frame ends (`frames` MFCC frames,
    `stride` of them per step)."""
    return torch.arange(frames // stride) * stride * hop + (stride - 1) * hop + win
