"""Model families by name. A new family is one `register` call: its explicit cell, its
state names, how many weight blocks it has, and (optionally) a fast torch.nn module that
holds the same parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from kws.models.cells import gru_cell, gru_cho_cell, lstm_cell, rnn_cell


@dataclass(frozen=True)
class OnnxRecurrent:
    """The ONNX operator that computes a family's whole layer (one node, the loop over
    frames inside the runtime's kernel), and how torch.nn's weight blocks map onto it."""
    op: str                                   # "RNN" | "GRU" | "LSTM"
    gate_order: tuple[int, ...]               # torch.nn's block index for each ONNX block
    attributes: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Family:
    name: str
    blocks: int                      # weight blocks per layer: 1 RNN, 4 LSTM, 3 GRU
    states: tuple[str, ...]          # ("h",) or ("h", "c")
    cell: Callable                   # explicit step, see kws.models.cells
    fast: Callable[[int, int], nn.Module] | None  # torch.nn layer (input, hidden), or None
    summary: str
    input_split: tuple[int, ...] = (1,)  # parts of the input projection the cell takes,
    #                                      in multiples of the hidden size
    recurrent_split: tuple[int, ...] = (1,)  # parts of W_hh the cell multiplies separately,
    #                                          in multiples of the hidden size; (1,): whole
    onnx: OnnxRecurrent | None = None    # ONNX's own operator for this cell, if it has one

    def split_recurrent(self, w_hh_t, b_hh, hidden: int) -> tuple[tuple, tuple]:
        """W_hh (transposed) and b_hh cut into the parts the cell multiplies separately.
        The step graph stores the parts as their own constants: a cut made inside the graph
        would hide the weights from the INT8 quantizer."""
        if len(self.recurrent_split) == 1:
            return (w_hh_t,), (b_hh,)
        sizes = [n * hidden for n in self.recurrent_split]
        return tuple(w_hh_t.split(sizes, dim=-1)), tuple(b_hh.split(sizes, dim=-1))

    def split_input(self, gx, hidden: int) -> tuple:
        """The input projection cut into the parts the cell takes (along the last axis)."""
        if len(self.input_split) == 1:
            return (gx,)
        return tuple(gx.split([n * hidden for n in self.input_split], dim=-1))


def _lstm(input_size: int, hidden: int) -> nn.LSTM:
    """torch.nn.LSTM with the forget gate's bias at 1 (Gers et al. 2000; Jozefowicz et al.
    2015): at initialisation the cell keeps its content instead of halving it every frame,
    so gradients reach far-back frames from the first step of training."""
    layer = nn.LSTM(input_size, hidden, batch_first=True)
    with torch.no_grad():
        layer.bias_ih_l0[hidden:2 * hidden].fill_(1.0)
        layer.bias_hh_l0[hidden:2 * hidden].zero_()
    return layer


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


# ONNX orders gates LSTM (i, o, f, c) and GRU (z, r, h); torch.nn LSTM (i, f, g, o), GRU (r, z, n)
register(Family("rnn", 1, ("h",), partial(rnn_cell, nonlinearity="tanh"),
                lambda i, h: nn.RNN(i, h, nonlinearity="tanh", batch_first=True),
                "classic (Elman) RNN, tanh", onnx=OnnxRecurrent("RNN", (0,))))
register(Family("rnn_relu", 1, ("h",), partial(rnn_cell, nonlinearity="relu"),
                lambda i, h: nn.RNN(i, h, nonlinearity="relu", batch_first=True),
                "classic (Elman) RNN, ReLU",
                onnx=OnnxRecurrent("RNN", (0,), (("activations", ("Relu",)),))))
register(Family("lstm", 4, ("h", "c"), lstm_cell, _lstm, "LSTM, forget bias 1 at init",
                onnx=OnnxRecurrent("LSTM", (0, 3, 1, 2))))
register(Family("gru", 3, ("h",), gru_cell,
                lambda i, h: nn.GRU(i, h, batch_first=True),
                "GRU, reset after the recurrent product (cuDNN)", (2, 1),
                onnx=OnnxRecurrent("GRU", (1, 0, 2), (("linear_before_reset", 1),))))
register(Family("gru_cho", 3, ("h",), gru_cho_cell, None,
                "GRU, reset before the recurrent product (Cho et al. 2014)", (2, 1), (2, 1),
                onnx=OnnxRecurrent("GRU", (1, 0, 2), (("linear_before_reset", 0),))))


def get_family(name: str) -> Family:
    from kws.errors import ConfigError

    if name not in FAMILIES:
        raise ConfigError(f"model.family={name!r}: expected one of {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
