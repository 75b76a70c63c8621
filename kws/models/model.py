"""The keyword-spotting model: MFCC front end, normalization, stacked unidirectional
recurrent layers, and a classifier that emits class posteriors at every frame.

`forward(feats, state) -> (logits, state)` is the one streaming signature (as wekws): the
state is explicit, so feeding a sequence in pieces equals feeding it whole. Layers hold
their parameters in torch.nn's layout; training runs the fast torch.nn/cuDNN module, and
`explicit=True` runs the seed's cells from kws.models.cells on the same parameters.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kws.config import FeatureConfig, ModelConfig
from kws.features.mfcc import Mfcc, mfcc_constants
from kws.models.registry import Family, get_family

State = list[tuple[Tensor, ...]]  # per layer: (h,) or (h, c), each [B, hidden]


class _Params(nn.Module):
    """Parameters named like a one-layer torch.nn RNN, for families without a fast module."""

    def __init__(self, input_size: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.weight_ih_l0 = nn.Parameter(torch.empty(blocks * hidden, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(blocks * hidden, hidden))
        self.bias_ih_l0 = nn.Parameter(torch.empty(blocks * hidden))
        self.bias_hh_l0 = nn.Parameter(torch.empty(blocks * hidden))
        bound = 1.0 / math.sqrt(hidden)  # torch.nn's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)


class RecurrentLayer(nn.Module):
    """One unidirectional recurrent layer of a registered family."""

    def __init__(self, family: Family, input_size: int, hidden: int,
                 recurrent_init: str = "torch") -> None:
        super().__init__()
        self.family = family
        self.hidden = hidden
        self.rnn = family.fast(input_size, hidden) if family.fast else \
            _Params(input_size, hidden, family.blocks)
        if recurrent_init != "torch":
            self.init_recurrent(recurrent_init)

    @torch.no_grad()
    def init_recurrent(self, kind: str) -> None:
        """W_hh of every gate block orthogonal or the identity, so that at the start a state
        neither shrinks nor grows through the recurrence (torch.nn's uniform init shrinks
        it: spectral radius about 0.58), and the recurrent biases 0 (the LSTM keeps its
        forget-gate bias of 1, which sits in the input bias)."""
        _, w_hh, _, b_hh = self.weights
        for block in w_hh.split(self.hidden, dim=0):
            if kind == "orthogonal":
                nn.init.orthogonal_(block)
            else:
                block.copy_(torch.eye(self.hidden))
        b_hh.zero_()

    @property
    def weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r = self.rnn
        return r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> tuple[Tensor, ...]:
        return tuple(torch.zeros(batch, self.hidden, device=device, dtype=dtype)
                     for _ in self.family.states)

    def input_projection(self, x: Tensor) -> Tensor:
        """W_x x_t + b_x for every frame at once: [B, T, in] -> [B, T, blocks*hidden]."""
        w_ih, _, b_ih, _ = self.weights
        return x @ w_ih.t() + b_ih

    def step(self, gx_t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One frame through the explicit cell."""
        _, w_hh, _, b_hh = self.weights
        return self.family.cell(self.family.split_input(gx_t, self.hidden), state, w_hh.t(),
                                b_hh)

    def forward(self, x: Tensor, state: tuple[Tensor, ...],
                explicit: bool = False) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.family.fast is not None and not explicit:
            packed = tuple(s.unsqueeze(0).contiguous() for s in state)
            out, new = self.rnn(x, packed if len(packed) > 1 else packed[0])
            new = new if isinstance(new, tuple) else (new,)
            return out, tuple(s.squeeze(0) for s in new)
        gx = self.input_projection(x)
        outs = []
        for t in range(x.shape[1]):
            state = self.step(gx[:, t], state)
            outs.append(state[0])
        return torch.stack(outs, dim=1), state


class KwsModel(nn.Module):
    """MFCC -> normalize -> recurrent layers -> per-frame class logits."""

    def __init__(self, features: FeatureConfig, model: ModelConfig, labels: list[str]) -> None:
        super().__init__()
        self.feature_cfg = features
        self.model_cfg = model
        self.labels = list(labels)
        self.family = get_family(model.family)
        self.frontend = Mfcc(features)
        self.register_buffer("feat_mean", torch.zeros(features.n_cepstra))
        self.register_buffer("feat_std", torch.ones(features.n_cepstra))
        self.stride = model.frame_stride
        sizes = [features.n_cepstra * self.stride] + [model.hidden] * model.layers
        self.layers = nn.ModuleList(RecurrentLayer(self.family, sizes[i], sizes[i + 1],
                                                   model.recurrent_init)
                                    for i in range(model.layers))
        self.dropout = nn.Dropout(model.dropout)
        self.classifier = nn.Linear(model.hidden, len(labels))

    # -- features ---------------------------------------------------------------------
    def normalize(self, feats: Tensor) -> Tensor:
        return (feats - self.feat_mean) / self.feat_std

    def features(self, wave: Tensor, dtype: torch.dtype | None = None,
                 warp: Tensor | None = None, band_keep: Tensor | None = None) -> Tensor:
        """Waveforms [B, samples] -> normalized MFCC [B, frames, cepstra] (front end in
        float64 unless `dtype` says otherwise; training uses float32 and may pass
        per-example frequency `warp` factors and mel-band masks)."""
        return self.normalize(self.frontend(wave, dtype, warp, band_keep))

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Store the training set's feature statistics in the model (saved with it)."""
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(torch.clamp(std, min=1e-3))

    # -- recurrence -------------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | None = None) -> State:
        return [layer.initial_state(batch, device) for layer in self.layers]

    def stack(self, feats: Tensor) -> Tensor:
        """[B, T, C] -> [B, T // stride, stride * C]: each recurrent step sees `stride`
        consecutive frames; a trailing incomplete group is dropped."""
        if self.stride == 1:
            return feats
        b, t, c = feats.shape
        steps = t // self.stride
        return feats[:, :steps * self.stride].reshape(b, steps, self.stride * c)

    def forward(self, feats: Tensor, state: State | None = None,
                explicit: bool = False) -> tuple[Tensor, State]:
        """Normalized features [B, T, C] -> (logits [B, T // stride, classes], new state).
        Fed in pieces, each piece must hold a multiple of `stride` frames."""
        if state is None:
            state = self.initial_state(feats.shape[0], feats.device)
        x, new_state = self.stack(feats), []
        for i, layer in enumerate(self.layers):
            x, s = layer(x, state[i], explicit=explicit)
            new_state.append(s)
            if i < len(self.layers) - 1:
                x = self.dropout(x)
        return self.classifier(x), new_state

    # -- size -------------------------------------------------------------------------
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def macs_per_frame(self) -> dict[str, int]:
        """Multiply-accumulates per frame (hop): encoder + classifier (which run once per
        `stride` frames), and the front end."""
        enc = 0
        for layer in self.layers:
            w_ih, w_hh, _, _ = layer.weights
            enc += w_ih.numel() + w_hh.numel()
        model = (enc + self.classifier.weight.numel()) // self.stride
        front = sum(c.numel() for c in mfcc_constants(self.feature_cfg).values())
        return {"model": model, "frontend": front, "total": model + front}

    def state_size(self) -> int:
        """Floats of recurrent state per stream."""
        return sum(len(layer.family.states) * layer.hidden for layer in self.layers)
