"""Recurrent encoders (classic RNN, LSTM, GRU) and the keyword-spotting model."""

from kws.models.model import KwsModel, RecurrentLayer
from kws.models.registry import FAMILIES, Family, get_family, register

__all__ = ["FAMILIES", "Family", "KwsModel", "RecurrentLayer", "get_family", "register"]
