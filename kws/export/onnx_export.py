"""PyTorch step model -> one self-contained ONNX file."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch

from kws.export.recurrent import ONNX_TRANSLATIONS
from kws.export.step import StepModel, state_specs
from kws.models import KwsModel

OPSET = 18


def example_input(model: KwsModel, chunk: int, input_kind: str) -> torch.Tensor:
    cfg = model.feature_cfg
    if input_kind == "features":
        return torch.zeros(1, chunk, cfg.n_cepstra)
    dtype = torch.int16 if input_kind == "pcm16" else torch.float32
    return torch.zeros(1, chunk * cfg.hop_length, dtype=dtype)


def _strip_debug_info(proto: onnx.ModelProto) -> None:
    """Drop the exporter's per-node debug metadata (stack traces, module paths): it is a
    quarter of the file and a device has no use for it."""
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del proto.graph.value_info[:]
    proto.doc_string = ""


def compact_names(proto: onnx.ModelProto, keep_prefixes: tuple[str, ...] = ()) -> None:
    """Give internal tensors short names and nodes none: with a few hundred unrolled nodes,
    the exporter's names are a tenth of a small model's file. Graph inputs and outputs,
    and initializers whose name starts with one of `keep_prefixes`, keep their names."""
    g = proto.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    keep |= {i.name for i in g.initializer if i.name.startswith(keep_prefixes)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, format(len(names), "x"))

    del g.value_info[:]  # shape annotations (the quantizer adds them); onnxruntime infers
    for init in g.initializer:
        init.name = short(init.name)
    for node in g.node:
        node.name = ""
        node.input[:] = [short(x) for x in node.input]
        node.output[:] = [short(x) for x in node.output]


# the exporter warns once per torchvision operator it cannot register; we use none of them
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


def export_step(model: KwsModel, chunk: int, input_kind: str, path: str | Path,
                recurrent: str = "fused") -> Path:
    """Export the step form (see kws.export.step) with a dynamic batch dimension.

    The graph is optimized with a small constant-folding limit: the exporter's default
    would fold the front end's DFT and mel recipes into large stored matrices; onnxruntime
    folds them at session start instead, so the file holds the learned weights only."""
    step = StepModel(model.cpu().eval(), chunk, input_kind, recurrent).eval()
    specs = state_specs(model, input_kind)
    x = example_input(model, chunk, input_kind)
    states = tuple(torch.zeros(1, s.size) for s in specs)
    batch = torch.export.Dim("batch", min=1, max=65536)
    input_name = "features" if input_kind == "features" else "audio"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            step, (x, *states), dynamo=True, optimize=False, opset_version=OPSET,
            input_names=[input_name] + [s.name for s in specs],
            output_names=["posteriors"] + [s.output for s in specs],
            dynamic_shapes=({0: batch}, tuple({0: batch} for _ in specs)), verbose=False,
            custom_translation_table=ONNX_TRANSLATIONS)
    import onnxscript.optimizer

    proto = onnxscript.optimizer.optimize(program.model_proto, input_size_limit=64,
                                          output_size_limit=64)
    proto.producer_name = "kws"
    _strip_debug_info(proto)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(out), save_as_external_data=False)
    onnx.checker.check_model(str(out))
    return out
