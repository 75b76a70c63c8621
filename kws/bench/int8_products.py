"""When integer matrix products pay on this CPU: one product of a layer's width, float
(`MatMul`) against INT8 (onnxruntime's dynamic quantization: `DynamicQuantizeMatMul` after
its optimizations, the activations quantized per call), as a session of its own, one
thread. Rows of 1 are a recurrent step (h @ R); rows of 10 a chunk's input projections.

The answer decides the export: a GRU 2 x 128's products are too small for INT8 to win
against the per-call quantization, which is why its fused layers compute in float from
INT8-stored weights (kws.export.quantize)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from kws.bench.common import cpu_time

WIDTHS = (128, 256, 512, 1024)
ROWS = (1, 10)


def _session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _product_graph(k: int, n: int, path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = (np.random.default_rng(0).standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", n])],
        [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def crossover(widths: tuple[int, ...] = WIDTHS, rows: tuple[int, ...] = ROWS) -> list[dict]:
    """µs per call of a square product of each width, float and INT8, for each row count."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = []
    with tempfile.TemporaryDirectory(prefix="kws-int8-") as tmp:
        for width in widths:
            f = Path(tmp) / f"f{width}.onnx"
            q = Path(tmp) / f"q{width}.onnx"
            _product_graph(width, 3 * width, f)  # a GRU's three gates
            quantize_dynamic(str(f), str(q), weight_type=QuantType.QInt8)
            sf, sq = _session(f), _session(q)
            for r in rows:
                x = {"x": np.random.default_rng(1).standard_normal((r, width))
                     .astype(np.float32)}
                tf = cpu_time(lambda s=sf, x=x: s.run(None, x), 5, 0.1)
                tq = cpu_time(lambda s=sq, x=x: s.run(None, x), 5, 0.1)
                out.append({"width": width, "rows": r, "float_us": tf * 1e6,
                            "int8_us": tq * 1e6, "int8_speedup": tf / tq})
    return out


def crossover_note(cells: list[dict]) -> str:
    """One line for the report: where INT8 products start to pay."""
    parts = [f"{c['width']} x {3 * c['width']}, {c['rows']} row{'s' if c['rows'] > 1 else ''}: "
             f"float {c['float_us']:.1f} µs, INT8 {c['int8_us']:.1f} µs "
             f"({c['int8_speedup']:.2f}x)" for c in cells]
    return ("one product per session call, float MatMul against dynamic INT8 "
            "(DynamicQuantizeMatMul; per call, session overhead included): " + "; ".join(parts))
