"""The seed's recurrent cells (../shared/docs/seed.md), written as explicit step functions.

Every cell takes the input projection `gx = W_x x_t + b_x` (computed for a whole chunk at
once, since it does not depend on the state) already split into the parts the cell uses
(`Family.input_split`), the previous state, and the recurrent weights in torch.nn's layout
(transposed), and returns the new state. Holding torch.nn's layout means one set of
parameters serves the fast cuDNN/torch.nn path used in training and this explicit form used
for export and as the reference.

Gate order follows torch.nn: LSTM (i, f, g, o); GRU (r, z, n). For the GRU, torch.nn's
update gate is the seed's `1 - z`:  h_t = (1 - z) * n + z * h_{t-1}  here is the seed's
h_t = (1 - z') * h_{t-1} + z' * h~_t with z' = 1 - z (the same model, gate weights negated).
"""

from __future__ import annotations

import torch
from torch import Tensor


def rnn_cell(gx: tuple[Tensor], state: tuple[Tensor], w_hh_t: Tensor, b_hh: Tensor,
             nonlinearity: str = "tanh") -> tuple[Tensor]:
    """Elman: h_t = f(W_hh h_{t-1} + W_xh x_t + b), f = tanh or ReLU."""
    (gx,) = gx
    (h,) = state
    a = gx + (h @ w_hh_t + b_hh)
    return (torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a),)


def lstm_cell(gx: tuple[Tensor], state: tuple[Tensor, Tensor], w_hh_t: Tensor,
              b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM (Hochreiter & Schmidhuber): forget, input, candidate, output; C carries."""
    (gx,) = gx
    h, c = state
    i, f, g, o = (gx + (h @ w_hh_t + b_hh)).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(gx: tuple[Tensor, Tensor], state: tuple[Tensor], w_hh_t: Tensor,
             b_hh: Tensor) -> tuple[Tensor]:
    """GRU with the reset gate after the recurrent product (cuDNN, torch.nn, ONNX
    linear_before_reset=1): n = tanh(W_nx x + b_nx + r * (W_nh h + b_nh)).

    Written with few tensor operations (one sigmoid for both gates, one split each): in the
    exported step graph every operation is a node, and per-node overhead dominates."""
    x_rz, x_n = gx
    (h,) = state
    hidden = h.shape[-1]
    h_rz, h_n = (h @ w_hh_t + b_hh).split([2 * hidden, hidden], dim=-1)
    r, z = torch.sigmoid(x_rz + h_rz).split([hidden, hidden], dim=-1)
    n = torch.tanh(x_n + r * h_n)
    return (n + z * (h - n),)


def gru_cho_cell(gx: tuple[Tensor, Tensor], state: tuple[Tensor],
                 w_hh_t: Tensor | tuple[Tensor, Tensor],
                 b_hh: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor]:
    """GRU as Cho et al. wrote it (the seed's equations, ONNX linear_before_reset=0): the
    reset gate scales h before the product, n = tanh(W_nx x + b_nx + W_nh (r * h) + b_nh)."""
    x_rz, x_n = gx
    (h,) = state
    hidden = h.shape[-1]
    # W_hh may come already cut (the step graph's constants, see Family.split_recurrent)
    w_rz, w_n = w_hh_t if isinstance(w_hh_t, tuple) else \
        w_hh_t.split([2 * hidden, hidden], dim=-1)
    b_rz, b_n = b_hh if isinstance(b_hh, tuple) else b_hh.split([2 * hidden, hidden], dim=-1)
    r, z = torch.sigmoid(x_rz + (h @ w_rz + b_rz)).split([hidden, hidden], dim=-1)
    n = torch.tanh(x_n + ((r * h) @ w_n + b_n))
    return (n + z * (h - n),)
