"""Benchmark suites: they run, write JSON + Markdown, and their measurement helpers measure
what they claim (speed numbers themselves are never asserted here)."""

from __future__ import annotations

import json

import numpy as np
import torch

from kws.bench.gradients import Reader, hidden_gradient_norms
from kws.bench.seed_table import arabic_accuracy, longest_learned, verdicts
from kws.cli import main


def test_bench_frontend_writes_json_and_table(tmp_path, capsys):
    assert main(["bench", "frontend", "--quick", "--seconds", "2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "frontend.json").read_text())
    names = set(report["results"])
    assert any("librosa" in n for n in names) and any("streaming" in n for n in names)
    assert all(r["throughput"] > 0 for r in report["results"].values())
    table = (tmp_path / "frontend.md").read_text()
    assert table.count("\n|") >= 5 and "vs librosa" in table
    assert "frontend.md" in capsys.readouterr().out


def test_bench_gradients_vanish_with_distance_and_the_lstm_keeps_more():
    """dL/dh_t shrinks with the distance from the loss for a classic RNN; the LSTM's cell
    path (forget bias 1) carries more of it back than the RNN does."""
    torch.manual_seed(0)
    rnn = hidden_gradient_norms(Reader("rnn"), 60, "cpu")
    torch.manual_seed(0)
    lstm = hidden_gradient_norms(Reader("lstm"), 60, "cpu")
    assert rnn.shape == (60,) and np.all(np.isfinite(rnn))
    assert rnn[0] < 1e-3 * rnn[-1]
    assert lstm[0] / lstm[-1] > 100 * rnn[0] / rnn[-1]


def test_bench_seed_table_reads_runs_and_judges(tmp_path):
    run = tmp_path / "arabic_gru_hidden"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"epoch": i, "val_accuracy": a}) + "\n"
                for i, a in enumerate([0.5, 0.9, 0.8])))
    assert arabic_accuracy(run) == 0.9
    assert arabic_accuracy(tmp_path / "missing") is None
    grads = {"learned": {"rnn": {"25": {"accuracy": 0.95}, "100": {"accuracy": 0.3}},
                         "gru": {"25": {"accuracy": 0.99}, "100": {"accuracy": 0.97}}}}
    assert longest_learned(grads, "rnn") == 25 and longest_learned(grads, "gru") == 100
    assert longest_learned(grads, "lstm") is None
    row = {"us_per_hop_int8": 1.0, "macs_per_frame": 1, "state_floats": 1,
           "longest_T_learned": None, "arabic_val": None, "sc_test": None}
    t = {f"{f}_{s}": dict(row) for f in ("rnn", "lstm", "gru") for s in ("hidden", "params")}
    t["rnn_hidden"]["us_per_hop_int8"] = 0.5
    t["lstm_hidden"]["us_per_hop_int8"] = 2.0
    assert "rnn < gru < lstm" in verdicts(t, False)[0] and "agrees" in verdicts(t, False)[0]
    t["lstm_hidden"]["us_per_hop_int8"] = 0.1
    assert "disagrees" in verdicts(t, False)[0]


def test_bench_native_gru_graph_computes_the_step_graphs_function(tmp_path):
    """The runtime bench times the model as ONNX GRU operators against our step graph: the
    comparison only holds if both compute the same posteriors and states (same reset-gate
    position, normalization, classifier)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from kws.bench.runtime import export_native_gru
    from kws.config import FeatureConfig, ModelConfig
    from kws.export.step import StepModel
    from kws.models import KwsModel

    torch.manual_seed(0)
    model = KwsModel(FeatureConfig(), ModelConfig(family="gru", hidden=32, layers=2),
                     ["_silence_", "_unknown_", "yes", "no"])
    model.set_normalization(torch.randn(20) * 0.1, torch.rand(20) + 0.5)
    sess = ort.InferenceSession(str(export_native_gru(model, tmp_path / "g.onnx", 10)))
    step = StepModel(model, 10, input_kind="features").eval()
    feats = torch.randn(1, 10, 20)
    states = [0.5 * torch.randn(1, 32) for _ in range(2)]
    with torch.no_grad():
        want = step(feats, *states)
    got = sess.run(None, {i.name: x.numpy() for i, x in
                          zip(sess.get_inputs(), [feats, *states], strict=True)})
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5)
