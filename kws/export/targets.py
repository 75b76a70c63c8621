"""Device target profiles (export/targets/*.toml): what to quantize, threads, chunk size,
input format, the recurrent layers' form (kws.export.recurrent) and whether to add the
ORT-format model for onnxruntime's minimal builds."""

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
        if (want is int and (isinstance(value, bool) or not isinstance(value, int))) or \
                (want is not int and not isinstance(value, want)):
            raise KwsInputError(f"{path}: {key}={value!r}, expected {want.__name__}")
    target = Target(**{"name": path.stem, **raw})
    target.check(str(path))
    return target
