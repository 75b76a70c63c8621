"""Untrained models saved as run directories: what the speed benchmarks and tests export.

Timing does not depend on the weights' values, so the speed suites need no training; the
export's checks (ONNX vs PyTorch, chunking, INT8 size) run on these models as on trained ones.
"""

from __future__ import annotations

from pathlib import Path

from kws.config import RunConfig, load_config


def bench_corpus(folder: Path, per_word: int = 12) -> Path:
    """A small synthetic corpus (a few words, generated noise) for the export's checks."""
    from kws.data.synth import synthesize_corpus

    if not (folder / "synth.json").exists():
        synthesize_corpus(["yes", "no", "stop"], folder, per_word=per_word,
                          negatives=["window"], per_negative=per_word, seed=0,
                          noise_seconds=8)
    return folder


def untrained_run(folder: Path, cfg: RunConfig) -> Path:
    """Save an untrained model of `cfg` (its corpus gives the labels) as `folder`/model.pt."""
    from kws.data.task import prepare_task
    from kws.models import KwsModel
    from kws.train.checkpoint import save_model

    task = prepare_task(cfg.data, cfg.features.sample_rate, log=lambda *_: None)
    model = KwsModel(cfg.features, cfg.model, task.labels)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(folder / "model.pt", model, cfg)
    return folder


def model_config(corpus: Path, family: str, hidden: int = 128, layers: int = 2,
                 stride: int = 1, **extra) -> RunConfig:
    values = {"data.corpus": str(corpus), "model.family": family, "model.hidden": hidden,
              "model.layers": layers, "model.frame_stride": stride} | extra
    return load_config(None, [f"{k}={v}" for k, v in values.items()])


def speed_bundle(run: Path, out: Path, quantize: str, chunk_hops: int,
                 input_kind: str = "pcm", recurrent: str = "fused",
                 trained: bool = False) -> Path:
    """Export `run` for timing, INT8 never refused (the benchmark reports what it costs).
    Untrained weights have no accuracy to keep: the export's checks run on a few clips;
    a trained run gets the export's own calibration for static INT8."""
    from kws.export.bundle import ExportOptions, export_bundle

    fast = {} if trained else {"verify_clips": 4, "accuracy_clips": 16,
                               "calibration_clips": 16}
    export_bundle(run, out, ExportOptions(quantize=quantize, chunk_hops=chunk_hops,
                                          input_kind=input_kind, recurrent=recurrent,
                                          max_int8_drop=100.0, **fast),
                  log=lambda *_: None)
    return out
