"""Recurrent encoders (classic RNN, LSTM, GRU) and the keyword-spotting model."""

from kws.models.model import KwsModel, RecurrentLayer
from kws.models.registry import FAMILIES, Family, OnnxRecurrent, get_family, register

__all__ = ["FAMILIES", "Family", "KwsModel", "OnnxRecurrent", "RecurrentLayer", "get_family",
           "register"]
