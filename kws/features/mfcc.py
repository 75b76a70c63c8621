"""The MFCC front end, defined once.

    frame t = samples [t*hop, t*hop + window)            (no centring: causal, streamable)
    power   = |DFT_n_fft(hann(window) * frame)|^2        (bins in the mel range; the window's
                                                          symmetry halves the work, see fold_frames)
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


def frame_signal(x: torch.Tensor, win: int, hop: int) -> torch.Tensor:
    """[..., samples] -> [..., frames, win], frame t = x[t*hop : t*hop + win].

    The signal is cut into g-sample blocks (g = gcd(win, hop)) and each frame gathers its
    win/g blocks with one index: the same tensor as `unfold`, and in the exported graph
    one Gather of whole blocks (a few hundred bytes each) instead of a slice per block
    (every node costs a device about a microsecond per call, whatever it does). Gathering
    single samples is what is slow in onnxruntime; blocks of g are not."""
    g = math.gcd(win, hop)
    n = (x.shape[-1] - win) // hop + 1
    used = (n - 1) * hop + win
    seg = (x if x.shape[-1] == used else x[..., :used]).reshape(*x.shape[:-1], -1, g)
    first = torch.arange(n, dtype=torch.int64, device=x.device)[:, None] * (hop // g)
    idx = first + torch.arange(win // g, dtype=torch.int64, device=x.device)[None, :]
    return seg.index_select(-2, idx.reshape(-1)).reshape(*x.shape[:-1], n, win)


_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, math.log(6.4) / 27.0


def hz_to_mel(f: float) -> float:
    """Slaney's mel scale (librosa's and torchaudio's default): linear below 1 kHz, log above."""
    if f < _MIN_LOG_HZ:
        return f / _F_SP
    return _MIN_LOG_HZ / _F_SP + math.log(f / _MIN_LOG_HZ) / _LOGSTEP


def mel_to_hz(m: float) -> float:
    min_log_mel = _MIN_LOG_HZ / _F_SP
    if m < min_log_mel:
        return _F_SP * m
    return _MIN_LOG_HZ * math.exp(_LOGSTEP * (m - min_log_mel))


def mel_edges(cfg: FeatureConfig) -> list[float]:
    """The n_mels + 2 band edges in Hz, equally spaced on the mel scale."""
    lo, hi = hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max)
    step = (hi - lo) / (cfg.n_mels + 1)
    return [mel_to_hz(lo + i * step) for i in range(cfg.n_mels + 2)]


def mel_bins(cfg: FeatureConfig) -> tuple[int, int]:
    """[first, last) DFT bins that carry weight in some mel filter."""
    edges = mel_edges(cfg)
    bin_hz = cfg.sample_rate / cfg.n_fft
    first = math.floor(edges[0] / bin_hz) + 1
    last = math.ceil(edges[-1] / bin_hz)
    return max(first, 0), min(last, cfg.n_fft // 2 + 1)


def fold_frames(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each frame about its centre c = window/2 into the even part p (x[c+d] +
    x[c-d]) and the odd part q (x[c+d] - x[c-d]). The Hann window is symmetric about c, so
    the windowed DFT's real part depends only on p and its imaginary part only on q: half
    the multiply-accumulates of a full DFT product, for the same spectrum. Sample 0 (window
    weight 0) is dropped. For an even window c is a sample and d runs from 0: p's first row
    is 2 x[c] (its DFT row is halved, see `dft_matrices`) and q's is 0, which keeps the
    fold three slices and two sums in the exported graph; for an odd window c lies between
    two samples and d from 1/2."""
    w = frames.shape[-1]
    half = w // 2
    right = frames[..., half + w % 2:]
    left = torch.flip(frames[..., 1:half + 1], dims=[-1])
    return right + left, right - left


def _offsets_x2(win: int) -> torch.Tensor:
    """2d for the rows of p and q (d = distance from the window centre; integer or half)."""
    return torch.arange(0, win // 2, dtype=torch.int64) * 2 + win % 2


def dft_matrices(cfg: FeatureConfig, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos [rows of p, bins], sin [rows of q, bins]): the hann-windowed DFT of the folded
    frame (see `fold_frames`) for the bins that some mel filter uses.

    Written with exportable tensor operations (not stored constants): traced into the ONNX
    graph it becomes a few nodes that onnxruntime folds at load, so the model file does not
    carry the largest matrices of the model. Phases are reduced modulo 2*n_fft in integers,
    so float32 sin/cos get small, exact arguments."""
    lo, hi = mel_bins(cfg)
    k = torch.arange(lo, hi, dtype=torch.int64)
    d2 = _offsets_x2(cfg.win_length)
    window = 0.5 + 0.5 * torch.cos(d2.to(dtype) * (math.pi / cfg.win_length))
    if cfg.win_length % 2 == 0:  # p's first row holds the centre sample twice
        window = window * torch.where(d2 == 0, 0.5, 1.0).to(dtype)
    phase = torch.remainder(d2[:, None] * k[None, :], 2 * cfg.n_fft).to(dtype) \
        * (math.pi / cfg.n_fft)
    return window[:, None] * torch.cos(phase), window[:, None] * torch.sin(phase)


def warp_edges(edges: torch.Tensor, warp: torch.Tensor, f_min: float,
               f_max: float) -> torch.Tensor:
    """Vocal tract length perturbation (Jaitly & Hinton 2013) of filter edges [E] by factors
    [B] -> [B, E]: frequencies scale by `warp` about f_min up to a knee at 80 % of the band,
    then run linearly to f_max, so every edge stays inside [f_min, f_max] and the bins the
    filters use do not change. A filter that read f reads warp(f): the spectrum looks
    compressed by the factor, as from a longer or shorter vocal tract."""
    w = warp[:, None]
    span = f_max - f_min
    knee = f_min + 0.8 * span * torch.clamp(1.0 / w, max=1.0)
    knee_to = f_min + w * (knee - f_min)
    x = edges[None, :]
    low = f_min + w * (x - f_min)
    high = knee_to + (x - knee) * (f_max - knee_to) / (f_max - knee)
    return torch.where(x <= knee, low, high)


def mel_matrix(cfg: FeatureConfig, dtype: torch.dtype,
               warp: torch.Tensor | None = None) -> torch.Tensor:
    """[bins, n_mels] slaney-normalised triangular filters over the mel-range bins (the same
    matrix as torchaudio.functional.melscale_fbanks(norm='slaney', mel_scale='slaney'),
    which the tests hold it to), from its n_mels + 2 edges with exportable operations.
    With `warp` [B] (training only), one frequency-warped matrix per example [B, bins,
    n_mels], see `warp_edges`."""
    lo, hi = mel_bins(cfg)
    device = warp.device if warp is not None else None
    edges = torch.tensor(mel_edges(cfg), dtype=torch.float64, device=device)
    if warp is not None:
        edges = warp_edges(edges, warp.to(torch.float64), cfg.f_min, cfg.f_max)
    edges = edges.to(dtype)
    freqs = torch.arange(lo, hi, dtype=torch.int64, device=device).to(dtype) \
        * (cfg.sample_rate / cfg.n_fft)
    slopes = edges[..., None, :] - freqs[:, None]
    width = (edges[..., 1:] - edges[..., :-1])[..., None, :]
    down = -slopes[..., :-2] / width[..., :-1]
    up = slopes[..., 2:] / width[..., 1:]
    tri = torch.clamp(torch.minimum(down, up), min=0.0)
    return tri * (2.0 / (edges[..., 2:] - edges[..., :-2]))[..., None, :]


def dct_matrix(cfg: FeatureConfig, dtype: torch.dtype) -> torch.Tensor:
    """[n_mels, n_cepstra] orthonormal DCT-II (torchaudio's), times the dB factor
    10/ln(10) and the configured scale, so log-mel -> cepstra is one product."""
    dct = AF.create_dct(cfg.n_cepstra, cfg.n_mels, norm="ortho").to(torch.float64)
    return (dct * (cfg.scale * 10.0 / math.log(10.0))).to(dtype)


def mfcc_constants(cfg: FeatureConfig,
                   dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The front end's matrices: windowed DFT, mel filterbank, scaled DCT."""
    cos, sin = dft_matrices(cfg, dtype)
    return {"dft_cos": cos, "dft_sin": sin, "mel": mel_matrix(cfg, dtype),
            "dct": dct_matrix(cfg, dtype)}


def frames_to_mfcc(frames: torch.Tensor, dft_cos: torch.Tensor, dft_sin: torch.Tensor,
                   mel: torch.Tensor, dct: torch.Tensor, log_floor: float,
                   band_keep: torch.Tensor | None = None) -> torch.Tensor:
    """[..., window] raw frames -> [..., cepstra]. The single implementation of the math
    (`dct` includes the dB factor and the scale, see `dct_matrix`).

    `band_keep` [..., n_mels] (training only: SpecAugment's frequency masks on the mel
    bands, which a cepstral mask cannot express): a masked band takes its mean log energy
    over the frames, so the band's level stays and its time course is gone."""
    p, q = fold_frames(frames)
    re, im = p @ dft_cos, q @ dft_sin
    power = re * re + im * im
    logmel = torch.log(torch.clamp(power @ mel, min=log_floor))
    if band_keep is not None:
        fill = logmel.mean(dim=-2, keepdim=True)
        logmel = torch.where(band_keep[..., None, :], logmel, fill)
    return logmel @ dct


class _MfccBase(nn.Module):
    """Holds the constants (float64) and computes in `dtype`: float64 by default, since the
    direct DFT of a quiet frame loses ~1e-5 to float32 rounding, enough to make the result
    depend on how many frames one BLAS call holds. Training asks for float32 (speed; the
    difference is far below any augmentation); the exported graph is float32 (what a device
    runs) and is held to this form by the export checks."""

    def __init__(self, cfg: FeatureConfig, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.cfg = cfg
        self.dtype = dtype  # of the constants and of the computation unless asked otherwise
        for name, value in mfcc_constants(cfg, dtype).items():
            self.register_buffer(name, value, persistent=False)

    def _mfcc(self, frames: torch.Tensor, dtype: torch.dtype | None = None,
              warp: torch.Tensor | None = None,
              band_keep: torch.Tensor | None = None) -> torch.Tensor:
        dtype = dtype or self.dtype
        mel = self.mel if warp is None else mel_matrix(self.cfg, self.dtype, warp)
        consts = [self.dft_cos, self.dft_sin, mel, self.dct]
        if dtype != self.dtype:
            consts = [c.to(dtype) for c in consts]
        # Autocast off: log-power in fp16/bf16 would lose the floor and the fine structure.
        with torch.autocast(device_type=frames.device.type, enabled=False):
            out = frames_to_mfcc(frames.to(dtype), *consts, self.cfg.log_floor, band_keep)
        return out.float()


class Mfcc(_MfccBase):
    """Batched: waveforms [B, samples] -> MFCC [B, frames, cepstra]."""

    def forward(self, wave: torch.Tensor, dtype: torch.dtype | None = None,
                warp: torch.Tensor | None = None,
                band_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Training augmentation: `warp` [B], per-example frequency warp factors;
        `band_keep` [B, n_mels], mel bands kept by SpecAugment (see `frames_to_mfcc`)."""
        if wave.shape[-1] < self.cfg.win_length:
            return wave.new_zeros(*wave.shape[:-1], 0, self.cfg.n_cepstra)
        frames = frame_signal(wave, self.cfg.win_length, self.cfg.hop_length)
        return self._mfcc(frames, dtype, warp, band_keep)


class MfccStep(_MfccBase):
    """Streaming step: (chunk [B, n*hop], carry [B, window-hop]) -> (MFCC [B, n, cepstra],
    new carry). The carry holds the samples the next frames still need; a stream's first
    carry is its first window-hop samples (see `MfccStreamer`).

    With `generate=True` (the exported form) the DFT and mel matrices are computed in
    `forward` from their definitions instead of read from buffers, so the exported graph
    holds their recipe, not their values."""

    def __init__(self, cfg: FeatureConfig, dtype: torch.dtype = torch.float64,
                 generate: bool = False) -> None:
        super().__init__(cfg, dtype)
        self.generate = generate

    def forward(self, chunk: torch.Tensor,
                carry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        buf = torch.cat([carry, chunk], dim=-1)
        frames = frame_signal(buf, self.cfg.win_length, self.cfg.hop_length)
        keep = self.cfg.win_length - self.cfg.hop_length
        if self.generate:
            feats = frames_to_mfcc(frames.to(self.dtype), *dft_matrices(self.cfg, self.dtype),
                                   mel_matrix(self.cfg, self.dtype), self.dct,
                                   self.cfg.log_floor).float()
        else:
            feats = self._mfcc(frames)
        return feats, buf[..., buf.shape[-1] - keep:]


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
