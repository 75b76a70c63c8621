"""The seed's recurrent cells (../shared/docs/seed.md), written as explicit step functions.

Every cell takes the input projection `gx = W_x x_t + b_x` (computed for a whole chunk at
once, since it does not depend on the state), the previous state, and the recurrent weights
in torch.nn's layout, and returns the new state. Holding torch.nn's layout means one set of
parameters serves the fast cuDNN/torch.nn path used in training and this explicit form used
for export and as the reference.

Gate order follows torch.nn: LSTM (i, f, g, o); GRU (r, z, n). For the GRU, torch.nn's
update gate is the seed's `1 - z`:  h_t = (1 - z) * n + z * h_{t-1}  here is the seed's
h_t = (1 - z') * h_{t-1} + z' * h~_t with z' = 1 - z (the same model, gate weights negated).
"""

from __future__ import annotations

import torch
from torch import Tensor


def rnn_cell(gx: Tensor, state: tuple[Tensor], w_hh_t: Tensor, b_hh: Tensor,
             nonlinearity: str = "tanh") -> tuple[Tensor]:
    """Elman: h_t = f(W_hh h_{t-1} + W_xh x_t + b), f = tanh or ReLU."""
    (h,) = state
    a = gx + h @ w_hh_t + b_hh
    return (torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a),)


def lstm_cell(gx: Tensor, state: tuple[Tensor, Tensor], w_hh_t: Tensor,
              b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM (Hochreiter & Schmidhuber): forget, input, candidate, output; C carries."""
    h, c = state
    gates = gx + h @ w_hh_t + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(gx: Tensor, state: tuple[Tensor], w_hh_t: Tensor,
             b_hh: Tensor) -> tuple[Tensor]:
    """GRU with the reset gate after the recurrent product (cuDNN, torch.nn, ONNX
    linear_before_reset=1): n = tanh(W_nx x + b_nx + r * (W_nh h + b_nh))."""
    (h,) = state
    gh = h @ w_hh_t + b_hh
    xr, xz, xn = gx.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (n + z * (h - n),)


def gru_cho_cell(gx: Tensor, state: tuple[Tensor], w_hh_t: Tensor,
                 b_hh: Tensor) -> tuple[Tensor]:
    """GRU as Cho et al. wrote it (the seed's equations, ONNX linear_before_reset=0): the
    reset gate scales h before the product, n = tanh(W_nx x + b_nx + W_nh (r * h) + b_nh)."""
    (h,) = state
    hidden = h.shape[-1]
    xr, xz, xn = gx.chunk(3, dim=-1)
    grz = h @ w_hh_t[:, :2 * hidden] + b_hh[:2 * hidden]
    r = torch.sigmoid(xr + grz[..., :hidden])
    z = torch.sigmoid(xz + grz[..., hidden:])
    n = torch.tanh(xn + (r * h) @ w_hh_t[:, 2 * hidden:] + b_hh[2 * hidden:])
    return (n + z * (h - n),)
