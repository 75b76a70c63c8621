"""Model families by name. A new family is one `register` call: its explicit cell, its
state names, how many weight blocks it has, and (optionally) a fast torch.nn module that
holds the same parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from kws.models.cells import gru_cell, gru_cho_cell, lstm_cell, rnn_cell


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

    def split_input(self, gx, hidden: int) -> tuple:
        """The input projection cut into the parts the cell takes (along the last axis)."""
        if len(self.input_split) == 1:
            return (gx,)
        return tuple(gx.split([n * hidden for n in self.input_split], dim=-1))


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


register(Family("rnn", 1, ("h",), partial(rnn_cell, nonlinearity="tanh"),
                lambda i, h: nn.RNN(i, h, nonlinearity="tanh", batch_first=True),
                "classic (Elman) RNN, tanh"))
register(Family("rnn_relu", 1, ("h",), partial(rnn_cell, nonlinearity="relu"),
                lambda i, h: nn.RNN(i, h, nonlinearity="relu", batch_first=True),
                "classic (Elman) RNN, ReLU"))
register(Family("lstm", 4, ("h", "c"), lstm_cell,
                lambda i, h: nn.LSTM(i, h, batch_first=True), "LSTM"))
register(Family("gru", 3, ("h",), gru_cell,
                lambda i, h: nn.GRU(i, h, batch_first=True),
                "GRU, reset after the recurrent product (cuDNN)", (2, 1)))
register(Family("gru_cho", 3, ("h",), gru_cho_cell, None,
                "GRU, reset before the recurrent product (Cho et al. 2014)", (2, 1)))


def get_family(name: str) -> Family:
    from kws.errors import ConfigError

    if name not in FAMILIES:
        raise ConfigError(f"model.family={name!r}: expected one of {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
