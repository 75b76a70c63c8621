"""The model in step form: what a device runs once per chunk of N hops.

    inputs : audio [B, N*hop] (float32 PCM, or int16 PCM), or features [B, N, cepstra]
             fe_carry [B, window-hop]            (PCM inputs: the front end's carried samples)
             state_<l>_h [B, hidden] (and state_<l>_c for the LSTM), per layer
    outputs: posteriors [B, N/stride, classes], fe_carry_out, state_<l>_h_out, ...

It is the trained model's own code: the front end is kws.features.MfccStep, each recurrent
layer the registered family's explicit cell (kws.models.cells) over the N frames, either
unrolled into the graph or as ONNX's own operator for the family (see kws.export.recurrent
for the two forms and why "fused" is the default). Unrolled weights are stored pre-transposed
so each product is a MatMul with a constant B, which onnxruntime's quantizer turns into an
INT8 product for every family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from kws.export.recurrent import fused_recurrent, onnx_weights, unrolled_layer
from kws.features.mfcc import MfccStep
from kws.models import Family, KwsModel

INPUT_KINDS = ("pcm", "pcm16", "features")
RECURRENT_FORMS = ("fused", "unrolled")


def layer_form(family: Family, recurrent: str) -> str:
    """The form of a layer of `family` in the graph: fused where asked and the family has
    an ONNX operator (Family.onnx), else unrolled."""
    return "fused" if recurrent == "fused" and family.onnx is not None else "unrolled"


@dataclass(frozen=True)
class StateSpec:
    name: str
    output: str
    size: int
    kind: str  # "frontend" or "recurrent"


def state_specs(model: KwsModel, input_kind: str) -> list[StateSpec]:
    specs = []
    if input_kind != "features":
        cfg = model.feature_cfg
        specs.append(StateSpec("fe_carry", "fe_carry_out", cfg.win_length - cfg.hop_length,
                               "frontend"))
    for i, layer in enumerate(model.layers):
        for s in layer.family.states:
            specs.append(StateSpec(f"state_{i}_{s}", f"state_{i}_{s}_out", layer.hidden,
                                   "recurrent"))
    return specs


class StepModel(nn.Module):
    """forward(input, *states) -> (posteriors, *new_states) for a chunk of `chunk` hops."""

    def __init__(self, model: KwsModel, chunk: int, input_kind: str = "pcm",
                 recurrent: str = "fused") -> None:
        super().__init__()
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input kind {input_kind!r}: expected one of {INPUT_KINDS}")
        if recurrent not in RECURRENT_FORMS:
            raise ValueError(f"recurrent form {recurrent!r}: expected one of {RECURRENT_FORMS}")
        if chunk % model.stride:
            raise ValueError(f"chunk of {chunk} hops: must be a multiple of the model's frame "
                             f"stride ({model.stride})")
        self.chunk = chunk
        self.stride = model.stride
        self.input_kind = input_kind
        self.families = [layer.family for layer in model.layers]
        self.hidden = [layer.hidden for layer in model.layers]
        self.num_states = [len(layer.family.states) for layer in model.layers]
        self.forms = [layer_form(layer.family, recurrent) for layer in model.layers]
        self.frontend = MfccStep(model.feature_cfg, dtype=torch.float32, generate=True) \
            if input_kind != "features" else None
        with torch.no_grad():
            self.register_buffer("feat_mean", model.feat_mean.detach().clone().float())
            self.register_buffer("feat_inv_std", (1.0 / model.feat_std.detach()).float())
            for i, layer in enumerate(model.layers):
                w_ih, w_hh, b_ih, b_hh = (p.detach().float() for p in layer.weights)
                if self.forms[i] == "fused":
                    for name, t in zip("wrb", onnx_weights(layer.family, w_ih, w_hh, b_ih, b_hh,
                                                           layer.hidden), strict=True):
                        self.register_buffer(f"{name}_{i}", t)
                    continue
                self.register_buffer(f"w_ih_{i}", w_ih.t().contiguous())
                self.register_buffer(f"b_ih_{i}", b_ih.clone())
                w_parts, b_parts = layer.family.split_recurrent(w_hh.t(), b_hh, layer.hidden)
                for k, (w, b) in enumerate(zip(w_parts, b_parts, strict=True)):
                    self.register_buffer(f"w_hh_{i}_{k}", w.contiguous())
                    self.register_buffer(f"b_hh_{i}_{k}", b.clone())
            self.register_buffer("w_out", model.classifier.weight.detach().t().contiguous())
            self.register_buffer("b_out", model.classifier.bias.detach().clone())

    def forward(self, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        new_states: list[Tensor] = []
        if self.frontend is not None:
            if self.input_kind == "pcm16":
                x = x.to(torch.float32) * (1.0 / 32768.0)
            feats, carry = self.frontend(x, states[0])
            new_states.append(carry)
            states = states[1:]
        else:
            feats = x
        h = (feats - self.feat_mean) * self.feat_inv_std
        if self.stride > 1:  # the chunk holds a whole number of stacked groups
            h = h.reshape(h.shape[0], self.chunk // self.stride, -1)
        pos = 0
        for i, family in enumerate(self.families):
            n = self.num_states[i]
            state = tuple(states[pos:pos + n])
            pos += n
            if self.forms[i] == "fused":
                h, *state = fused_recurrent(h, list(state), getattr(self, f"w_{i}"),
                                            getattr(self, f"r_{i}"), getattr(self, f"b_{i}"),
                                            family.name, self.hidden[i])
            else:
                cuts = len(family.recurrent_split)
                w_hh = tuple(getattr(self, f"w_hh_{i}_{k}") for k in range(cuts))
                b_hh = tuple(getattr(self, f"b_hh_{i}_{k}") for k in range(cuts))
                if cuts == 1:  # the cells that multiply W_hh whole take it as one tensor
                    w_hh, b_hh = w_hh[0], b_hh[0]
                h, state = unrolled_layer(family, h, state, getattr(self, f"w_ih_{i}"),
                                          getattr(self, f"b_ih_{i}"), w_hh, b_hh,
                                          self.hidden[i])
            new_states.extend(state)
        posteriors = torch.softmax(h @ self.w_out + self.b_out, dim=-1)
        return (posteriors, *new_states)
