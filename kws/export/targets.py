"""Device target profiles (export/targets/*.toml): what to quantize, threads, chunk size,
input format, the recurrent layers' form (kws.export.recurrent), whether to add the
ORT-format model for onnxruntime's minimal builds, and the operators the target's
onnxruntime build runs (`operators`; none listed: a full build, which runs them all).
Export refuses a graph that uses an operator its target does not list (`check_operators`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from kws.errors import KwsInputError

TARGETS_DIR = Path(__file__).resolve().parents[2] / "export" / "targets"


@dataclass(frozen=True)
class Target:
    name: str = "default"
    description: str = ""
    quantize: str = "dynamic"      # none | dynamic | static
    threads: int = 1
    chunk_hops: int = 10
    input: str = "pcm"             # pcm | pcm16 | features
    recurrent: str = "fused"       # fused (ONNX's RNN/GRU/LSTM operators) | unrolled
    ort_format: bool = False
    operators: tuple[str, ...] = ()  # "Op" (ai.onnx) or "domain:Op"; empty: every operator

    def check(self, where: str) -> None:
        if self.quantize not in ("none", "dynamic", "static"):
            raise KwsInputError(f"{where}: quantize={self.quantize!r}, expected none, dynamic "
                                "or static")
        if self.input not in ("pcm", "pcm16", "features"):
            raise KwsInputError(f"{where}: input={self.input!r}, expected pcm, pcm16 or "
                                "features")
        if self.recurrent not in ("fused", "unrolled"):
            raise KwsInputError(f"{where}: recurrent={self.recurrent!r}, expected fused or "
                                "unrolled")
        if not 1 <= self.chunk_hops <= 100:
            raise KwsInputError(f"{where}: chunk_hops={self.chunk_hops}, expected 1..100")
        if not 0 <= self.threads <= 64:
            raise KwsInputError(f"{where}: threads={self.threads}, expected 0..64")


def available_targets() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml")) if TARGETS_DIR.is_dir() else []


def load_target(name_or_path: str | None) -> Target:
    """A profile by name (export/targets/NAME.toml) or by path; None: the defaults."""
    if not name_or_path:
        return Target()
    path = Path(name_or_path)
    if not path.is_file():
        path = TARGETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise KwsInputError(f"--target {name_or_path}: no such profile (available: "
                            f"{', '.join(available_targets()) or 'none'})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KwsInputError(f"{path}: not valid TOML ({exc})") from None
    known = {f.name: f.type for f in fields(Target)}
    unknown = set(raw) - set(known)
    if unknown:
        raise KwsInputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    defaults = Target()
    for key, value in raw.items():
        want = type(getattr(defaults, key))
        if want is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) and v
                                                      for v in value):
                raise KwsInputError(f"{path}: {key} must be a list of operator names, e.g. "
                                    '["MatMul", "com.microsoft:DynamicQuantizeLSTM"]')
            raw[key] = tuple(value)
        elif (want is int and (isinstance(value, bool) or not isinstance(value, int))) or \
                (want is not int and not isinstance(value, want)):
            raise KwsInputError(f"{path}: {key}={value!r}, expected {want.__name__}")
    target = Target(**{"name": path.stem, **raw})
    target.check(str(path))
    return target


RECURRENT_OPERATORS = {"RNN", "GRU", "LSTM", "com.microsoft:DynamicQuantizeLSTM"}


def graph_operators(model_path: Path, as_device_loads_it: bool = False) -> set[str]:
    """The operators of an ONNX graph ("Op" for ai.onnx, "domain:Op" otherwise). With
    `as_device_loads_it`, those of the graph after onnxruntime's basic optimizations, which
    is what the ORT-format model holds: the front end's constant recipes (Range, Sin, Cos,
    ...) are folded away there, so a minimal build needs no kernel for them."""
    import tempfile

    import onnx

    path = model_path
    with tempfile.TemporaryDirectory(prefix="kws-ops-") as tmp:
        if as_device_loads_it:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            so.optimized_model_filepath = str(Path(tmp) / "basic.onnx")
            so.log_severity_level = 3
            ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
            path = Path(so.optimized_model_filepath)
        graph = onnx.load(str(path)).graph
    return {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"
            for n in graph.node}


def check_operators(model_path: Path, target: str, allowed: tuple[str, ...],
                    as_device_loads_it: bool) -> None:
    """Refuse (one line, naming them) a graph with operators the target does not run."""
    if not allowed:
        return
    missing = sorted(graph_operators(model_path, as_device_loads_it) - set(allowed))
    if missing:
        hint = "; --recurrent unrolled builds the layers from MatMuls" \
            if set(missing) & RECURRENT_OPERATORS else ""
        raise KwsInputError(f"--target {target}: the graph uses {', '.join(missing)}, which "
                            f"{target}'s onnxruntime build does not run (its profile's "
                            f"operators list){hint}")
