"""A recurrent layer over a chunk of frames, in the two forms the step graph can take.

- unrolled: the family's explicit cell (kws.models.cells) once per frame, every operation a
  graph node. Any registered family exports this way, and every weight is a MatMul with a
  constant B that onnxruntime's INT8 quantizer turns into an integer product; but the runtime
  pays a fixed cost per node (about 1 µs here), ~11 nodes per frame and layer for the GRU.
- fused: ONNX's own RNN / GRU / LSTM operator (Family.onnx), one node per layer with the
  loop over frames inside the runtime's kernel: the model 2.4x and the whole detector
  1.3-2x cheaper per hop (docs/benchmarks.md), and the form onnxruntime can run in INT8
  for the LSTM (DynamicQuantizeLSTM).

The fused form is a torch custom op whose PyTorch implementation *is* the unrolled cell (so
the step model computes the same function either way, and the export check holds the ONNX
kernel to it) and whose ONNX translation is the operator.
"""

from __future__ import annotations

import torch
from onnxscript import opset18 as op
from torch import Tensor

from kws.models.registry import Family, get_family


def unrolled_layer(family: Family, x: Tensor, state: tuple[Tensor, ...], w_ih_t: Tensor,
                   b_ih: Tensor, w_hh, b_hh, hidden: int) -> tuple[Tensor, tuple[Tensor, ...]]:
    """x [B, T, in] -> (outputs [B, T, hidden], new state): the input projection of the whole
    chunk as one product, then the cell per frame. The parts are cut by one Split each and
    the states keep a time axis: few nodes, since in the graph every operation costs."""
    gx = x @ w_ih_t + b_ih
    parts = [p.split(1, dim=1) for p in family.split_input(gx, hidden)]
    state = tuple(s.unsqueeze(1) for s in state)
    outs = []
    for gx_t in zip(*parts, strict=True):
        state = family.cell(gx_t, state, w_hh, b_hh)
        outs.append(state[0])
    return torch.cat(outs, dim=1), tuple(s.squeeze(1) for s in state)


def _blocks(t: Tensor, order: tuple[int, ...], hidden: int) -> Tensor:
    """Reorder the gate blocks of `t` along its first axis: block k of the result is block
    order[k] of `t`."""
    parts = t.split(hidden, dim=0)
    return torch.cat([parts[k] for k in order], dim=0)


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(order)), key=order.__getitem__))


def onnx_weights(family: Family, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor,
                 hidden: int) -> tuple[Tensor, Tensor, Tensor]:
    """torch.nn's weights (gates in torch's order) -> the ONNX operator's W [1, G*H, in],
    R [1, G*H, H] and B [1, 2*G*H] (gates in ONNX's order)."""
    order = family.onnx.gate_order
    w, r = _blocks(w_ih, order, hidden), _blocks(w_hh, order, hidden)
    b = torch.cat([_blocks(b_ih, order, hidden), _blocks(b_hh, order, hidden)])
    return w[None].contiguous(), r[None].contiguous(), b[None].contiguous()


@torch.library.custom_op("kws::fused_recurrent", mutates_args=())
def fused_recurrent(x: Tensor, states: list[Tensor], w: Tensor, r: Tensor, b: Tensor,
                    family: str, hidden: int) -> list[Tensor]:
    """[outputs [B, T, hidden], *new states] of a layer given in ONNX's weight layout,
    computed by the family's explicit cell."""
    fam = get_family(family)
    back = _inverse(fam.onnx.gate_order)
    w_ih, w_hh = _blocks(w[0], back, hidden), _blocks(r[0], back, hidden)
    b_ih, b_hh = (_blocks(p, back, hidden) for p in b[0].chunk(2))
    y, new = unrolled_layer(fam, x, tuple(states), w_ih.t(), b_ih, w_hh.t(), b_hh, hidden)
    return [y, *new]


@fused_recurrent.register_fake
def _fused_recurrent_shapes(x, states, w, r, b, family, hidden):
    return [x.new_empty(x.shape[0], x.shape[1], hidden), *(s.new_empty(s.shape) for s in states)]


def _fused_recurrent_onnx(x, states, w, r, b, family: str, hidden: int):
    """ONNX: the operator on time-major input (onnxruntime's recurrent kernels take no
    batch-major layout), states [B, H] <-> the operator's [1, B, H]."""
    spec = get_family(family).onnx
    attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.attributes}
    initial = [op.Unsqueeze(s, [0]) for s in states]
    outs = getattr(op, spec.op)(op.Transpose(x, perm=[1, 0, 2]), w, r, b, None, *initial,
                                hidden_size=hidden, **attrs)
    y = op.Transpose(op.Squeeze(outs[0], [1]), perm=[1, 0, 2])
    return [y, *(op.Squeeze(s, [0]) for s in outs[1:1 + len(states)])]


ONNX_TRANSLATIONS = {torch.ops.kws.fused_recurrent.default: _fused_recurrent_onnx}
