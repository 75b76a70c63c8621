"""`kws export`: a trained run -> a verified device bundle.

Steps: export the step graph (float), check it against PyTorch, check that the state is
carried across calls (feeding 1 hop, N hops or the whole utterance gives the same
posteriors, and the N-hop graph equals N one-hop steps), quantize, check that no recurrent
weight matrix is left in float and that INT8 accuracy is within the configured bound, then
write the bundle directory atomically. Any failed check stops the export with its reason and
writes nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

import kws
from kws.atomic import atomic_directory
from kws.config import to_dict
from kws.data.manifest import SILENCE
from kws.data.task import prepare_task
from kws.errors import KwsInputError
from kws.eval.clips import clip_log_posteriors
from kws.export.onnx_export import OPSET, compact_names, export_step
from kws.export.quantize import (
    FRONTEND_PREFIX,
    calibration_feeds,
    float_weight_matrices,
    quantize_dynamic_model,
    quantize_static_model,
)
from kws.export.step import RECURRENT_FORMS, layer_form, state_specs
from kws.export.targets import Target, check_operators
from kws.runtime.bundle import (
    BUNDLE_FILE,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    SEARCH_BUNDLE_VERSION,
    SearchSpec,
    load_bundle,
    sha256_file,
)
from kws.runtime.detector import Detector
from kws.train.checkpoint import load_model
from kws.train.loss import clip_predictions

FLOAT_TOLERANCE = 1e-4   # ONNX vs PyTorch posteriors, max abs difference
CHUNK_TOLERANCE = 1e-5   # N-hop graph vs N one-hop steps


class ExportCheckFailed(RuntimeError):
    """A verification check failed: the bundle is not written."""


@dataclass(frozen=True)
class ExportOptions:
    quantize: str = "dynamic"
    chunk_hops: int = 10
    input_kind: str = "pcm"
    recurrent: str = "fused"        # fused | unrolled (kws.export.recurrent)
    threads: int = 1
    ort_format: bool = False
    target: str = "default"         # the device profile's name (kws.export.targets)
    operators: tuple[str, ...] = ()  # what the target runs; empty: every operator
    max_int8_drop: float = 0.5      # accuracy points
    verify_clips: int = 64          # utterances for the float and chunking checks
    accuracy_clips: int = 0         # validation clips for float vs INT8 accuracy; 0 = all
    calibration_clips: int = 256
    thresholds: dict | None = None  # keyword -> threshold; default: the run's, else 0.5
    smoothing_ms: float = 50.0
    refractory_ms: float = 1000.0

    @classmethod
    def from_target(cls, target: Target, **overrides) -> ExportOptions:
        base = cls(quantize=target.quantize, chunk_hops=target.chunk_hops,
                   input_kind=target.input, recurrent=target.recurrent,
                   threads=target.threads,
                   ort_format=target.ort_format, target=target.name,
                   operators=target.operators)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def _model_file(run: Path) -> Path:
    if run.is_dir() and (run / "model.pt").is_file():
        return run / "model.pt"
    if run.is_file() and run.suffix == ".pt":
        return run
    raise KwsInputError(f"{run}: not a run directory with model.pt, nor a model file")


def _spread(n_total: int, n: int) -> np.ndarray:
    if n <= 0 or n >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n).round().astype(int))


def _run_thresholds(run: Path, keywords: list[str]) -> tuple[dict[str, float], dict | None]:
    """Thresholds calibrated by the run's streaming evaluation (kws eval --stream writes
    RUN/eval/thresholds.json), if any, and where they came from: the calibration stream,
    the false-alarm budget and what they gave on that stream."""
    path = (run if run.is_dir() else run.parent) / "eval" / "thresholds.json"
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text())
        thresholds = {k: float(v) for k, v in data.get("thresholds", {}).items()
                      if k in keywords}
    except (ValueError, AttributeError, TypeError):
        return {}, None
    return thresholds, {"stream": data.get("stream"),
                        "target_false_alarms_per_hour":
                            data.get("target_false_alarms_per_hour"),
                        "on_that_stream": data.get("at_calibrated_thresholds")}


def write_meta(folder: Path, model_file: str, model, cfg, opts: ExportOptions,
               quantization: str, thresholds: dict[str, float], extra: dict,
               calibration: dict | None = None, search: SearchSpec | None = None) -> dict:
    """bundle.json for `model_file` in `folder` (checksum computed here); `calibration` says
    where the thresholds came from (None: given, or the 0.5 default). With `search` (an
    encoder's phoneme posteriors searched for phrases, kws enroll) the labels are the
    phrases and the bundle is version 2."""
    fe = cfg.features
    specs = state_specs(model, opts.input_kind)
    input_name = "features" if opts.input_kind == "features" else "audio"
    if opts.input_kind == "features":
        input_shape = ["batch", opts.chunk_hops, fe.n_cepstra]
    else:
        input_shape = ["batch", opts.chunk_hops * fe.hop_length]
    path = folder / model_file
    labels = list(search.phrases) if search is not None else list(model.labels)
    meta = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION if search is None else SEARCH_BUNDLE_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {"kws": kws.__version__, "torch": torch.__version__,
                     "onnx": onnx.__version__, "onnxruntime": ort.__version__, "opset": OPSET},
        "labels": labels,
        "keywords": [x for x in labels if not x.startswith("_")],
        "sample_rate": fe.sample_rate,
        "frontend": {**to_dict(fe), "win_length": fe.win_length,
                     "hop_length": fe.hop_length, "inside_graph": opts.input_kind != "features"},
        "input": {"name": input_name, "kind": opts.input_kind,
                  "dtype": "int16" if opts.input_kind == "pcm16" else "float32",
                  "shape": input_shape},
        "chunk_hops": opts.chunk_hops,
        "frame_stride": model.stride,
        "states": [{"name": s.name, "output": s.output, "size": s.size, "kind": s.kind,
                    "dtype": "float32", "shape": ["batch", s.size],
                    "initial": "first window-hop samples of the stream" if s.kind == "frontend"
                    else "zeros"} for s in specs],
        "output": {"name": "posteriors", "dtype": "float32",
                   "shape": ["batch", opts.chunk_hops // model.stride, len(model.labels)]},
        "model": {"file": model_file, "sha256": sha256_file(path),
                  "size_bytes": path.stat().st_size, "quantization": quantization,
                  "recurrent": _forms(model, opts)},
        "decision": {"thresholds": thresholds, "smoothing_ms": opts.smoothing_ms,
                     "refractory_ms": opts.refractory_ms, "reset_after_detection": False,
                     "calibration": calibration},
        "runtime": {"threads": opts.threads},
        **({"search": search.as_dict()} if search is not None else {}),
        **extra,
    }
    (folder / BUNDLE_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _forms(model, opts: ExportOptions) -> list[str]:
    """Each recurrent layer's form in the graph: fused or unrolled."""
    return [layer_form(layer.family, opts.recurrent) for layer in model.layers]


def _accuracy(post: np.ndarray, truth: np.ndarray, rule: str, silence: int) -> float:
    return float((clip_predictions(post, rule, silence) == truth).mean())


def export_bundle(run: str | Path, out: str | Path, opts: ExportOptions,
                  log: Callable[[str], None] = print) -> dict:
    """Export, verify and write the bundle; returns bundle.json's content."""
    run = Path(run)
    model_path = _model_file(run)
    model, cfg, blob = load_model(model_path)
    if opts.chunk_hops % model.stride:
        chunk = opts.chunk_hops + model.stride - opts.chunk_hops % model.stride
        log(f"chunk of {opts.chunk_hops} hops rounded up to {chunk}, a multiple of the "
            f"model's frame stride ({model.stride})")
        opts = replace(opts, chunk_hops=chunk)
    if opts.quantize not in ("none", "dynamic", "static"):
        raise KwsInputError(f"--quantize {opts.quantize}: expected none, dynamic or static")
    if opts.recurrent not in RECURRENT_FORMS:
        raise KwsInputError(f"--recurrent {opts.recurrent}: expected one of "
                            f"{', '.join(RECURRENT_FORMS)}")
    rule = cfg.train.loss
    silence = model.labels.index(SILENCE) if SILENCE in model.labels else -1
    log(f"export {model_path}: {cfg.model.family} {cfg.model.layers}x{cfg.model.hidden}, "
        f"{len(model.labels)} classes, chunk {opts.chunk_hops} hops, input {opts.input_kind}, "
        f"recurrent layers {'/'.join(_forms(model, opts))}, quantization {opts.quantize}")
    task = prepare_task(cfg.data, cfg.features.sample_rate, cfg.train.seed,
                        log=lambda *_: None)
    val = task.splits["validation"]
    val_clips = np.asarray(val.clips)
    truth = task.label_indices("validation")
    thresholds, calibration = (opts.thresholds, None) if opts.thresholds is not None else \
        _run_thresholds(run, [x for x in model.labels if not x.startswith("_")])
    checks: dict = {}
    with tempfile.TemporaryDirectory(prefix="kws-export-") as tmp_name:
        tmp = Path(tmp_name)
        quantize = None if opts.quantize == "none" else \
            lambda src, dst: _quantize(src, dst, opts, task, src.parent, model, cfg, thresholds)
        graphs = step_graphs(model, cfg, opts, tmp, thresholds, quantize)
        float_dir, one_dir, q_dir = graphs["float"], graphs["one_hop"], graphs["int8"]
        final = q_dir / "model.int8.onnx" if opts.quantize != "none" else \
            float_dir / "model.onnx"
        check_operators(final, opts.target, opts.operators, opts.ort_format)
        det = Detector(float_dir, threads=1)
        one = Detector(one_dir, threads=1)

        # 1-2. ONNX vs PyTorch, and the state carried across chunks
        checks.update(check_step_graph(model, opts, val_clips[_spread(len(val_clips),
                                                                      opts.verify_clips)],
                                       det, one, log))
        # 3. accuracy, float and (when quantized) INT8
        acc_pick = _spread(len(val_clips), opts.accuracy_clips)
        acc_clips = val_clips[acc_pick].astype(np.float32) / 32768.0
        if opts.input_kind == "features":
            acc_clips = np.stack([model.frontend(torch.from_numpy(c)[None])[0].numpy()
                                  for c in acc_clips])
        float_acc = _accuracy(det.posteriors(acc_clips), truth[acc_pick], rule, silence)
        checks["float_accuracy"] = float_acc
        checks["accuracy_clips"] = len(acc_pick)
        float_size = (float_dir / "model.onnx").stat().st_size
        checks["float_size_bytes"] = float_size
        final_dir, model_file = float_dir, "model.onnx"
        if opts.quantize != "none":
            write_meta(q_dir, "model.int8.onnx", model, cfg, opts, opts.quantize, thresholds,
                       {})
            q_det = Detector(q_dir, threads=1)
            int8_acc = _accuracy(q_det.posteriors(acc_clips), truth[acc_pick], rule, silence)
            drop = 100 * (float_acc - int8_acc)
            int8_size = (q_dir / "model.int8.onnx").stat().st_size
            checks.update({"int8_accuracy": int8_acc, "int8_drop_points": drop,
                           "int8_size_bytes": int8_size,
                           "int8_size_ratio": int8_size / float_size})
            log(f"check: accuracy on {len(acc_pick)} validation clips: float "
                f"{100 * float_acc:.2f}%, INT8 {100 * int8_acc:.2f}% (drop {drop:.2f} points, "
                f"limit {opts.max_int8_drop}); size {float_size / 1024:.0f} KB -> "
                f"{int8_size / 1024:.0f} KB ({100 * int8_size / float_size:.0f}%)")
            if drop > opts.max_int8_drop:
                raise ExportCheckFailed(f"INT8 accuracy drop {drop:.2f} points > "
                                        f"{opts.max_int8_drop}")
            final_dir, model_file = q_dir, "model.int8.onnx"
        else:
            log(f"check: float accuracy on {len(acc_pick)} validation clips "
                f"{100 * float_acc:.2f}%; size {float_size / 1024:.0f} KB")
        # 4. the bundle, atomically
        extra = {"verification": checks,
                 "training": {"run": str(run), "family": cfg.model.family,
                              "hidden": cfg.model.hidden, "layers": cfg.model.layers,
                              "params": model.num_params(),
                              "macs_per_frame": model.macs_per_frame(),
                              "loss": cfg.train.loss, "config": to_dict(cfg),
                              # the shipped base encoder the run started from (None: none)
                              "encoder": blob.get("encoder")},
                 "export_options": {**asdict(opts), "operators": list(opts.operators)}}
        with atomic_directory(out) as staging:
            shutil.copy2(final_dir / model_file, staging / model_file)
            if opts.ort_format:
                extra["ort_model"] = _to_ort_format(staging / model_file)
            meta = write_meta(staging, model_file, model, cfg, opts,
                              opts.quantize, thresholds, extra, calibration)
            load_bundle(staging)  # what a device will do first
    log(f"bundle written: {out} ({model_file}, {meta['model']['size_bytes'] / 1024:.0f} KB)")
    return meta


def step_graphs(model, cfg, opts: ExportOptions, tmp: Path, thresholds: dict,
                quantize: Callable[[Path, Path], None] | None) -> dict[str, Path]:
    """The step graph, as `kws export` and `kws enroll` both build it, in folders of `tmp`:
    `float` (a chunk of `opts.chunk_hops`), `one_hop` (one step: the chunking check's
    reference) and, with `quantize(src, dst)`, `int8` (checked to hold no float weight
    matrix); names compacted, the float ones with their bundle.json, ready for a Detector."""
    dirs = {k: tmp / k for k in ("float", "one_hop", "int8")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    export_step(model, opts.chunk_hops, opts.input_kind, dirs["float"] / "model.onnx",
                opts.recurrent)
    export_step(model, model.stride, opts.input_kind, dirs["one_hop"] / "model.onnx",
                opts.recurrent)
    q = dirs["int8"] / "model.int8.onnx"
    if quantize is not None:
        quantize(dirs["float"] / "model.onnx", q)
    for path in (dirs["float"] / "model.onnx", dirs["one_hop"] / "model.onnx", q):
        if path.is_file():
            _compact(path)
    if q.is_file():
        left = float_weight_matrices(onnx.load(str(q)))
        if left:
            raise ExportCheckFailed(f"INT8 graph still has float weight matrices: {left}")
    write_meta(dirs["float"], "model.onnx", model, cfg, opts, "none", thresholds, {})
    write_meta(dirs["one_hop"], "model.onnx", model, cfg,
               replace(opts, chunk_hops=model.stride), "none", thresholds, {})
    return dirs


def check_step_graph(model, opts: ExportOptions, sample: np.ndarray, det: Detector,
                     one: Detector, log: Callable[[str], None] = print,
                     tolerance: float = FLOAT_TOLERANCE) -> dict:
    """Checks 1-2 of every export: the `chunk_hops` graph (`det`) gives PyTorch's posteriors
    on the int16 utterances `sample`, and equals the one-step graph (`one`) and itself fed
    in any piece size (the state is carried, never reset by accident). Raises
    ExportCheckFailed; returns the numbers."""
    inputs = sample if opts.input_kind != "features" else \
        np.stack([model.frontend(torch.from_numpy(c).float()[None] / 32768.0)[0].numpy()
                  for c in sample])
    pcm = inputs if opts.input_kind == "features" else sample.astype(np.float32) / 32768.0
    torch_post = np.exp(clip_log_posteriors(model, sample))
    onnx_post = det.posteriors(pcm)
    diff = float(np.abs(onnx_post - torch_post).max())
    log(f"check: ONNX vs PyTorch posteriors over {len(sample)} utterances: max abs diff "
        f"{diff:.2e} (limit {tolerance:.0e})")
    if not diff <= tolerance:
        raise ExportCheckFailed(f"ONNX posteriors differ from PyTorch by {diff:.2e} > "
                                f"{tolerance:.0e}")
    diff_one = float(np.abs(one.posteriors(pcm) - onnx_post).max())
    stream_diff = _feed_size_invariance(det, pcm[:8])
    log(f"check: {opts.chunk_hops}-hop graph vs 1-step graph: max abs diff {diff_one:.2e}; "
        f"feeding 1 hop / {opts.chunk_hops} hops / whole: max abs diff {stream_diff:.2e}")
    if not diff_one <= CHUNK_TOLERANCE or stream_diff != 0.0:
        raise ExportCheckFailed("posteriors depend on how audio is chunked "
                                f"({diff_one:.2e}, {stream_diff:.2e}): state not carried")
    return {"float_vs_pytorch_max_abs_diff": diff, "chunk_vs_one_hop_max_abs_diff": diff_one,
            "feed_size_max_abs_diff": stream_diff}


def _quantize(src: Path, dst: Path, opts: ExportOptions, task, float_dir: Path, model, cfg,
              thresholds: dict) -> None:
    if opts.quantize == "dynamic":
        quantize_dynamic_model(src, dst)
        return
    write_meta(float_dir, src.name, model, cfg, opts, "none", thresholds, {})
    train = np.asarray(task.splits["train"].clips)
    cal = train[_spread(len(train), opts.calibration_clips)].astype(np.float32) / 32768.0
    if opts.input_kind == "features":
        cal = np.stack([model.frontend(torch.from_numpy(c)[None])[0].numpy() for c in cal])
    quantize_static_model(src, dst, calibration_feeds(Detector(float_dir, threads=1), cal))


def _compact(path: Path) -> None:
    proto = onnx.load(str(path))
    compact_names(proto, keep_prefixes=(FRONTEND_PREFIX,))
    onnx.save_model(proto, str(path), save_as_external_data=False)


def _feed_size_invariance(det: Detector, clips: np.ndarray) -> float:
    """Max abs difference between posteriors when the same audio is fed 1 hop at a time,
    one chunk at a time, and whole."""
    b = det.bundle
    unit = 1 if b.input_kind == "features" else b.hop_length
    worst = 0.0
    for clip in clips:
        runs = []
        for piece in (unit, b.chunk_hops * unit, len(clip)):
            s = det.stream()
            runs.append(np.concatenate([s.process(clip[i:i + piece])
                                        for i in range(0, len(clip), piece)]))
        worst = max(worst, float(np.abs(runs[0] - runs[1]).max()),
                    float(np.abs(runs[0] - runs[2]).max()))
    return worst


def _to_ort_format(model_path: Path) -> dict:
    """Add the ORT-format model (for onnxruntime's minimal mobile builds) beside the ONNX."""
    ort_path = model_path.with_suffix(".ort")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(ort_path)
    so.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    return {"file": ort_path.name, "sha256": sha256_file(ort_path),
            "size_bytes": ort_path.stat().st_size}
