"""Export: step graph for every family, INT8 covering the recurrent weights, verification
that refuses to write a bad bundle, checksums."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from kws.errors import BundleError, KwsInputError
from kws.export.bundle import ExportCheckFailed, ExportOptions, export_bundle
from kws.export.quantize import float_weight_matrices
from kws.export.targets import load_target
from kws.models.registry import get_family
from kws.runtime import Detector, load_bundle
from tests.conftest import random_run

QUIET = {"log": lambda *_: None}
FAST = {"verify_clips": 8, "accuracy_clips": 40, "calibration_clips": 32}


SLOW = pytest.mark.slow


@pytest.mark.parametrize("family,layers,recurrent", [
    ("gru", 2, "fused"), ("lstm", 1, "fused"), ("rnn", 1, "fused"), ("gru", 2, "unrolled"),
    *(pytest.param(family, layers, recurrent, marks=SLOW)
      for family, layers in (("rnn", 2), ("lstm", 2), ("rnn_relu", 1), ("gru_cho", 2),
                             ("gru", 3))
      for recurrent in ("fused", "unrolled")),
    pytest.param("lstm", 1, "unrolled", marks=SLOW), pytest.param("rnn", 1, "unrolled",
                                                                   marks=SLOW),
])
def test_export_every_family_float_and_int8(tiny_corpus, tmp_path, family, layers, recurrent):
    run = random_run(tiny_corpus, tmp_path / "run", family, hidden=16, layers=layers)
    for quant in ("none", "dynamic"):
        out = tmp_path / f"bundle_{quant}"
        meta = export_bundle(run, out, ExportOptions(quantize=quant, chunk_hops=3,
                                                      recurrent=recurrent,
                                                      max_int8_drop=100.0, **FAST), **QUIET)
        assert meta["model"]["recurrent"] == [recurrent] * layers
        checks = meta["verification"]
        assert checks["float_vs_pytorch_max_abs_diff"] <= 1e-4
        assert checks["chunk_vs_one_hop_max_abs_diff"] <= 1e-5
        assert checks["feed_size_max_abs_diff"] == 0.0
        bundle = load_bundle(out)
        model = onnx.load(str(bundle.model_path))
        ops = {n.op_type for n in model.graph.node}
        if quant == "dynamic":
            # the graph walk: no recurrent (or classifier) weight matrix is left in float
            assert float_weight_matrices(model) == []
            assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
            if recurrent == "fused":  # the LSTM on onnxruntime's INT8 kernel
                assert ("DynamicQuantizeLSTM" in ops) == (family == "lstm")
        else:
            # per layer W_ih and W_hh (the operator's W and R, or, unrolled, in the parts the
            # cell multiplies), and the classifier: every one visible to the walk, so the
            # INT8 check above cannot miss one
            parts = 1 if recurrent == "fused" else len(get_family(family).recurrent_split)
            assert len(float_weight_matrices(model)) == layers * (1 + parts) + 1
        fused_nodes = [o for o in ops if o.endswith(get_family(family).onnx.op)]
        assert bool(fused_nodes) == (recurrent == "fused")
        names = [s["name"] for s in meta["states"]]
        expected = 1 + layers * (2 if family == "lstm" else 1)
        assert len(names) == expected and names[0] == "fe_carry"


@pytest.mark.parametrize("family", ["rnn", "rnn_relu", "lstm", "gru", "gru_cho"])
def test_fused_and_unrolled_layers_compute_the_model(tmp_path, family):
    """The fused form (ONNX's operator, gates reordered to its layout) and the unrolled cell
    give the model's own outputs and states, from a random mid-stream state, in PyTorch and
    in onnxruntime."""
    import torch

    from kws.config import FeatureConfig, ModelConfig
    from kws.export.onnx_export import export_step
    from kws.export.step import StepModel
    from kws.models import KwsModel

    torch.manual_seed(0)
    model = KwsModel(FeatureConfig(), ModelConfig(family=family, hidden=16, layers=2),
                     ["_silence_", "_unknown_", "yes", "no"]).eval()
    model.set_normalization(torch.randn(20) * 0.1, torch.rand(20) + 0.5)
    feats = torch.randn(3, 5, 20)
    state = [tuple(0.5 * torch.randn(3, 16) for _ in layer.family.states)
             for layer in model.layers]
    flat = [s for layer in state for s in layer]
    with torch.no_grad():
        logits, new = model(model.normalize(feats), state)
        want = [torch.softmax(logits, -1), *(s for layer in new for s in layer)]
        for form in ("fused", "unrolled"):
            got = StepModel(model, 5, "features", form)(feats, *flat)
            for w, g in zip(want, got, strict=True):
                torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)
    path = export_step(model, 5, "features", tmp_path / "fused.onnx", "fused")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert get_family(family).onnx.op in ops and "MatMul" in ops  # the classifier only
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: x.numpy() for i, x in
                          zip(sess.get_inputs(), [feats, *flat], strict=True)})
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5)


@pytest.mark.parametrize("stride", [2, 3])
def test_export_frame_stride(tiny_corpus, tmp_path, stride):
    run = random_run(tiny_corpus, tmp_path / "run", "gru", hidden=16, layers=2, stride=stride)
    meta = export_bundle(run, tmp_path / "b", ExportOptions(
        quantize="dynamic", chunk_hops=4, max_int8_drop=100.0, **FAST), **QUIET)
    assert meta["chunk_hops"] % stride == 0 and meta["frame_stride"] == stride
    assert meta["output"]["shape"][1] == meta["chunk_hops"] // stride
    assert meta["verification"]["float_vs_pytorch_max_abs_diff"] <= 1e-4
    assert meta["verification"]["feed_size_max_abs_diff"] == 0.0
    det = Detector(tmp_path / "b")
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    assert det.posteriors(x[None]).shape[1] == 98 // stride


def test_export_static_qdq_quantizes_every_weight(tiny_run, tmp_path):
    meta = export_bundle(tiny_run, tmp_path / "b", ExportOptions(
        quantize="static", chunk_hops=4, max_int8_drop=100.0, **FAST), **QUIET)
    model = onnx.load(str(tmp_path / "b" / meta["model"]["file"]))
    assert float_weight_matrices(model) == []
    assert "DequantizeLinear" in {n.op_type for n in model.graph.node}


def test_export_int8_size_at_most_30_percent_for_gru128(tiny_corpus, tmp_path):
    run = random_run(tiny_corpus, tmp_path / "run", "gru", hidden=128, layers=2)
    meta = export_bundle(run, tmp_path / "b", ExportOptions(
        quantize="dynamic", max_int8_drop=100.0, **FAST), **QUIET)
    ratio = meta["verification"]["int8_size_ratio"]
    assert ratio <= 0.30, ratio


def test_export_refuses_to_write_when_a_check_fails(tiny_run, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ExportCheckFailed, match="INT8 accuracy drop"):
        export_bundle(tiny_run, out, ExportOptions(quantize="dynamic", chunk_hops=2,
                                                   max_int8_drop=-1.0, **FAST), **QUIET)
    assert not out.exists()
    from kws.cli import main

    assert main(["export", str(tiny_run), "--out", str(out), "--quantize", "dynamic",
                 "--max-int8-drop", "-1", "--chunk-hops", "2", "--accuracy-clips", "20"]) == 1
    assert not out.exists()


def test_export_bundle_with_altered_model_is_refused(tiny_run, tmp_path):
    out = tmp_path / "b"
    export_bundle(tiny_run, out, ExportOptions(quantize="none", chunk_hops=2, **FAST), **QUIET)
    load_bundle(out)
    model = out / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        load_bundle(out)
    with pytest.raises(BundleError, match="checksum mismatch"):
        Detector(out)


def test_export_target_profile_and_ort_format(tiny_run, tmp_path):
    target = load_target("raspberry-pi")
    assert target.quantize == "dynamic" and target.ort_format
    opts = ExportOptions.from_target(target, max_int8_drop=100.0, **FAST)
    meta = export_bundle(tiny_run, tmp_path / "b", opts, **QUIET)
    assert meta["input"]["kind"] == "pcm16" and meta["input"]["dtype"] == "int16"
    ort_file = tmp_path / "b" / meta["ort_model"]["file"]
    sess = ort.InferenceSession(str(ort_file), providers=["CPUExecutionProvider"])
    assert {i.name for i in sess.get_inputs()} >= {"audio", "fe_carry"}
    det = Detector(tmp_path / "b")
    x = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    assert det.stream().process(x).shape[1] == len(meta["labels"])


def test_export_refuses_a_graph_its_target_cannot_run(tiny_run, tmp_path, capsys):
    """A profile lists the operators its onnxruntime build runs: the phone's mobile build
    has no GRU, so fused layers are refused for it, in one line that names the operator
    and the way out; the graph it does get (unrolled, QDQ) needs nothing outside its list.
    A profile of one's own that lacks an operator the front end needs refuses that one."""
    from kws.cli import main
    from kws.export.targets import graph_operators

    phone = load_target("phone")
    assert "GRU" not in phone.operators and "MatMul" in phone.operators
    out = tmp_path / "b"
    code = main(["export", str(tiny_run), "--out", str(out), "--target", "phone",
                 "--recurrent", "fused", "--quantize", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "--target phone: the graph uses GRU" in err[0] and "--recurrent unrolled" in err[0]
    assert not out.exists()
    meta = export_bundle(tiny_run, out, ExportOptions.from_target(
        phone, max_int8_drop=100.0, **FAST), **QUIET)
    onnx_ops = graph_operators(out / meta["model"]["file"])
    device_ops = graph_operators(out / meta["model"]["file"], as_device_loads_it=True)
    assert device_ops <= set(phone.operators) and "Sigmoid" in device_ops
    assert "Range" in onnx_ops - device_ops  # the front end's recipe, folded on the device
    lean = tmp_path / "lean.toml"
    ops = ", ".join(f'"{o}"' for o in sorted(device_ops - {"Log"}))
    lean.write_text('quantize = "none"\nrecurrent = "unrolled"\nort_format = true\n'
                    f"operators = [{ops}]\n")
    code = main(["export", str(tiny_run), "--out", str(out.with_name("c")), "--target",
                 str(lean)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "the graph uses Log," in err[0] and "unrolled" not in err[0]
    lean.write_text('operators = "all"\n')
    with pytest.raises(KwsInputError, match="operators must be a list"):
        load_target(str(lean))


def test_export_bundle_json_describes_everything(tiny_run, tmp_path):
    meta = export_bundle(tiny_run, tmp_path / "b", ExportOptions(
        quantize="dynamic", chunk_hops=4, max_int8_drop=100.0, **FAST), **QUIET)
    on_disk = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert on_disk == meta
    for key in ("labels", "sample_rate", "frontend", "input", "states", "chunk_hops",
                "decision", "versions", "model", "verification"):
        assert key in meta
    assert meta["model"]["sha256"] and meta["frontend"]["hop_length"] == 160
    # no temporary files are left beside the bundle
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_export_bad_target_and_missing_run(tmp_path):
    from kws.cli import main

    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")]) == 2
    bad = tmp_path / "t.toml"
    bad.write_text('quantize = "int4"\n')
    with pytest.raises(KwsInputError, match="quantize='int4'"):
        load_target(str(bad))
    shutil.rmtree(tmp_path / "b", ignore_errors=True)
