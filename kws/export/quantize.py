"""INT8 quantization of the step graph with onnxruntime's tools.

Unrolled recurrent layers are explicit MatMuls with constant weights (kws.export.step), so
onnxruntime's quantizer covers every weight matrix of every family. Fused layers (ONNX's
RNN / GRU / LSTM operators): the LSTM becomes onnxruntime's INT8 LSTM kernel
(DynamicQuantizeLSTM) in dynamic mode; the others, for which onnxruntime has no INT8 kernel,
store their weights in INT8 (one scale per gate row) behind a Cast and a Mul that the
runtime folds into float weights once, at session start: the file is as small as an INT8
one and the numbers are the INT8 weights', the arithmetic is float. The front end stays
float: its products act on raw samples and log-power, where 8 bits lose the quiet half of
speech.

- dynamic: weights INT8 (one scale per matrix), activations quantized on the fly per call.
- static (QDQ): weights and activations INT8, activation ranges calibrated on real training
  audio streamed through the float model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

FRONTEND_PREFIX = "frontend."
RECURRENT_OPS = ("RNN", "GRU", "LSTM")  # inputs 1 and 2 are the weights W and R


def frontend_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that compute the front end: everything upstream of the product
    with the DCT (the last front-end matrix), which the quantizer must leave alone."""
    produced_by = {out: node for node in model.graph.node for out in node.output}
    dct = [n for n in model.graph.node if n.op_type == "MatMul"
           and any(i.startswith(FRONTEND_PREFIX + "dct") for i in n.input)]
    seen, todo = set(), list(dct)
    while todo:
        node = todo.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        todo.extend(produced_by[i] for i in node.input if i in produced_by)
    return sorted(seen)


def float_weight_matrices(model: onnx.ModelProto) -> list[str]:
    """Float initializers of rank >= 2 used as weights (MatMul/Gemm inputs), front end
    excluded. An INT8 bundle must have none: this is what the export check and the tests
    walk the graph for."""
    inits = {i.name: i for i in model.graph.initializer}
    found = set()
    for node in model.graph.node:
        if node.op_type in RECURRENT_OPS:
            names = node.input[1:3]
        elif node.op_type in ("MatMul", "Gemm", "MatMulInteger", "DynamicQuantizeMatMul",
                              "FusedMatMul"):
            names = node.input
        else:
            continue
        for name in names:
            init = inits.get(name)
            if init is None or name.startswith(FRONTEND_PREFIX):
                continue
            arr = numpy_helper.to_array(init)
            if arr.ndim >= 2 and arr.dtype.kind == "f":
                found.add(name)
    return sorted(found)


def int8_recurrent_weights(model: onnx.ModelProto) -> None:
    """Store the W and R of every RNN / GRU / LSTM node in INT8, symmetric, one scale per row
    (per gate and unit), read through Cast -> Mul: constants the runtime folds at load."""
    inits = {i.name: i for i in model.graph.initializer}
    prologue = []
    for node in model.graph.node:
        if node.op_type not in RECURRENT_OPS:
            continue
        for k in (1, 2):
            name = node.input[k]
            w = numpy_helper.to_array(inits[name]).astype(np.float32)
            scale = np.maximum(np.abs(w).max(axis=-1, keepdims=True), 1e-12) / 127.0
            q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            model.graph.initializer.remove(inits.pop(name))
            model.graph.initializer.extend([numpy_helper.from_array(q, f"{name}_int8"),
                                            numpy_helper.from_array(scale, f"{name}_scale")])
            prologue += [
                onnx.helper.make_node("Cast", [f"{name}_int8"], [f"{name}_cast"],
                                      to=onnx.TensorProto.FLOAT),
                onnx.helper.make_node("Mul", [f"{name}_cast", f"{name}_scale"], [name])]
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(prologue + nodes)


def quantize_dynamic_model(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False,
                     op_types_to_quantize=["MatMul", "LSTM"],
                     nodes_to_exclude=frontend_nodes(model),
                     extra_options={"MatMulConstBOnly": True})
    _int8_recurrent_weights_in_place(dst)


def _int8_recurrent_weights_in_place(path: Path) -> None:
    model = onnx.load(str(path))
    if any(n.op_type in RECURRENT_OPS for n in model.graph.node):
        int8_recurrent_weights(model)
        onnx.save_model(model, str(path), save_as_external_data=False)


def quantize_static_model(src: Path, dst: Path, calibration: Iterable[dict]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(calibration)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    model = onnx.load(str(src))
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, op_types_to_quantize=["MatMul"],
                    nodes_to_exclude=frontend_nodes(model),
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                   "MatMulConstBOnly": True})
    _int8_recurrent_weights_in_place(dst)


def calibration_feeds(detector, clips: np.ndarray, batch: int = 64) -> list[dict]:
    """The step graph's real inputs (chunk + carried state) while the float model streams
    `clips`: what static quantization calibrates its activation ranges on."""
    feeds: list[dict] = []
    detector.posteriors(clips, batch=batch, observe=feeds.append)
    return feeds
