"""The MFCC front end, defined once.

    frame t = samples [t*hop, t*hop + window)            (no centring: causal, streamable)
    power   = |DFT_n_fft(hann(window) * frame)|^2        (one-sided bins in the mel range)
    mel     = power @ slaney_mel_filterbank              (torchaudio.functional.melscale_fbanks)
    logmel  = 10 * log10(max(mel, log_floor))            (absolute floor, no per-utterance top_db)
    mfcc    = scale * (logmel @ orthonormal DCT-II)      (torchaudio.functional.create_dct)

The windowed DFT is one matrix product with a constant [window, 2 * bins] matrix: the same
code then runs batched on a GPU for training, per chunk when streaming, and as a plain MatMul
inside the exported ONNX graph (onnxruntime's DFT operator is slower than the MatMul on
small chunks). Only bins that some mel filter uses are computed.

Forms: `Mfcc` (batched: [B, samples] -> [B, frames, cepstra]), `MfccStep` (a fixed chunk of
hops plus the carried samples -> frames and the new carry: the exported form), and
`MfccStreamer` (any piece size; emits exactly the frames of the batched form).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio.functional as AF
from torch import nn

from kws.config import FeatureConfig


def num_frames(num_samples: int, cfg: FeatureConfig) -> int:
    """Frames the batched form emits for a signal of `num_samples`."""
    if num_samples < cfg.win_length:
        return 0
    return 1 + (num_samples - cfg.win_length) // cfg.hop_length


def frame_end_seconds(t: int | np.ndarray, cfg: FeatureConfig) -> float | np.ndarray:
    """Time (s) of the last sample of frame t: when a streaming model can first react."""
    return (np.asarray(t) * cfg.hop_length + cfg.win_length) / cfg.sample_rate


def mel_bins(cfg: FeatureConfig) -> tuple[int, int]:
    """[first, last) DFT bins that carry weight in some mel filter."""
    fb = AF.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels,
                            cfg.sample_rate, norm="slaney", mel_scale="slaney")
    used = torch.nonzero(fb.sum(dim=1) > 0).flatten()
    return int(used[0]), int(used[-1]) + 1


def mfcc_constants(cfg: FeatureConfig,
                   dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The front end's constant matrices: windowed DFT, mel filterbank, scaled DCT."""
    lo, hi = mel_bins(cfg)
    n = torch.arange(cfg.win_length, dtype=torch.float64)[:, None]
    k = torch.arange(lo, hi, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * n * k / cfg.n_fft
    window = torch.hann_window(cfg.win_length, periodic=True, dtype=torch.float64)[:, None]
    dft = torch.cat([window * torch.cos(angle), -window * torch.sin(angle)], dim=1)
    fb = AF.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels,
                            cfg.sample_rate, norm="slaney", mel_scale="slaney")[lo:hi]
    dct = AF.create_dct(cfg.n_cepstra, cfg.n_mels, norm="ortho").double()
    return {"dft": dft.to(dtype), "mel": fb.double().to(dtype),
            "dct": (dct * cfg.scale).to(dtype)}


def frames_to_mfcc(frames: torch.Tensor, dft: torch.Tensor, mel: torch.Tensor,
                   dct: torch.Tensor, log_floor: float) -> torch.Tensor:
    """[..., window] raw frames -> [..., cepstra]. The single implementation of the math."""
    spec = frames @ dft
    bins = dft.shape[1] // 2
    re, im = spec[..., :bins], spec[..., bins:]
    power = re * re + im * im
    logmel = (10.0 / math.log(10.0)) * torch.log(torch.clamp(power @ mel, min=log_floor))
    return logmel @ dct


class _MfccBase(nn.Module):
    """Holds the constants in the compute dtype. PyTorch forms compute in float64: the
    direct DFT of a quiet frame loses ~1e-5 to float32 rounding, which would make the
    result depend on how many frames a BLAS call holds; the exported graph uses float32
    (what a device runs), held to this form by the export checks."""

    def __init__(self, cfg: FeatureConfig, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.cfg = cfg
        self.dtype = dtype
        for name, value in mfcc_constants(cfg, dtype).items():
            self.register_buffer(name, value, persistent=False)

    def _mfcc(self, frames: torch.Tensor) -> torch.Tensor:
        # Autocast off: log-power in fp16/bf16 would lose the floor and the fine structure.
        with torch.autocast(device_type=frames.device.type, enabled=False):
            out = frames_to_mfcc(frames.to(self.dtype), self.dft, self.mel, self.dct,
                                 self.cfg.log_floor)
        return out.float()


class Mfcc(_MfccBase):
    """Batched: waveforms [B, samples] -> MFCC [B, frames, cepstra]."""

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave.unfold(-1, self.cfg.win_length, self.cfg.hop_length)
        return self._mfcc(frames)


class MfccStep(_MfccBase):
    """Streaming step: (chunk [B, n*hop], carry [B, window-hop]) -> (MFCC [B, n, cepstra],
    new carry). The carry holds the samples the next frames still need; a stream's first
    carry is its first window-hop samples (see `MfccStreamer`)."""

    def forward(self, chunk: torch.Tensor,
                carry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        buf = torch.cat([carry, chunk], dim=-1)
        frames = buf.unfold(-1, self.cfg.win_length, self.cfg.hop_length)
        keep = self.cfg.win_length - self.cfg.hop_length
        return self._mfcc(frames), buf[..., buf.shape[-1] - keep:]


class MfccStreamer:
    """Feed audio in pieces of any size; emits exactly the batched form's frames.

    It keeps the samples that the next frame still needs and runs `MfccStep` on every
    whole hop it has, so it is the step graph's arithmetic, driven the way the runtime
    drives it.
    """

    def __init__(self, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self.step = MfccStep(cfg)
        self.reset()

    def reset(self) -> None:
        self.buffer = torch.zeros(0)

    @torch.no_grad()
    def push(self, samples: np.ndarray | torch.Tensor) -> torch.Tensor:
        """New samples -> the frames they complete ([n, cepstra], n may be 0)."""
        x = torch.as_tensor(np.asarray(samples, dtype=np.float32)).flatten()
        self.buffer = torch.cat([self.buffer, x])
        keep = self.cfg.win_length - self.cfg.hop_length
        n = (self.buffer.numel() - keep) // self.cfg.hop_length
        if n <= 0:
            return torch.zeros(0, self.cfg.n_cepstra)
        used = keep + n * self.cfg.hop_length
        feats, _ = self.step(self.buffer[keep:used][None], self.buffer[:keep][None])
        self.buffer = self.buffer[used - keep:]
        return feats[0]
