"""INT8 quantization of the step graph with onnxruntime's tools.

The recurrent layers are explicit MatMuls with constant weights (kws.export.step), so
onnxruntime's quantizer covers every weight matrix of every family, not only an LSTM node.
The front end stays float: its products act on raw samples and log-power, where 8 bits lose
the quiet half of speech.

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
        if node.op_type not in ("MatMul", "Gemm", "MatMulInteger", "DynamicQuantizeMatMul",
                                "FusedMatMul"):
            continue
        for name in node.input:
            init = inits.get(name)
            if init is None or name.startswith(FRONTEND_PREFIX):
                continue
            arr = numpy_helper.to_array(init)
            if arr.ndim >= 2 and arr.dtype.kind == "f":
                found.add(name)
    return sorted(found)


def quantize_dynamic_model(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=frontend_nodes(model),
                     extra_options={"MatMulConstBOnly": True})


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


def calibration_feeds(detector, clips: np.ndarray, batch: int = 64) -> list[dict]:
    """The step graph's real inputs (chunk + carried state) while the float model streams
    `clips`: what static quantization calibrates its activation ranges on."""
    feeds: list[dict] = []
    detector.posteriors(clips, batch=batch, observe=feeds.append)
    return feeds
