"""Model files and training checkpoints, written atomically and loaded without pickle code.

- A *model file* (`model.pt`, `best.pt`) holds what evaluation and export need: the run's
  config, the labels, the weights (normalization statistics included).
- *Training checkpoints* (`ckpt/step-*.pt`) also hold optimizer, scheduler and progress.
  Each is listed with its SHA-256 in `ckpt/index.json`; loading takes the newest one whose
  checksum and contents are sound and falls back to the one before, so a truncated or
  damaged file never ends a run that has an older good checkpoint.

Everything is loaded with `torch.load(weights_only=True)`: a file from elsewhere cannot run
code.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kws.atomic import atomic_write_bytes, atomic_write_json
from kws.config import RunConfig, from_dict, to_dict
from kws.errors import KwsInputError

MODEL_FORMAT = "kws-model"
MODEL_VERSION = 1


def _serialize(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_model(path: str | Path, model, cfg: RunConfig, extra: dict | None = None) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, _serialize({
        "format": MODEL_FORMAT, "version": MODEL_VERSION, "config": to_dict(cfg),
        "labels": list(model.labels), "state_dict": state, **(extra or {})}))


def read_model_file(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise KwsInputError(f"{p}: model file not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise KwsInputError(f"{p}: not a readable kws model file "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") \
            from None
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise KwsInputError(f"{p}: not a kws model file")
    if blob.get("version") != MODEL_VERSION:
        raise KwsInputError(f"{p}: model file version {blob.get('version')}, expected "
                            f"{MODEL_VERSION}")
    return blob


def load_model(path: str | Path):
    """(model in eval mode on CPU, its RunConfig, the whole file's dict)."""
    from kws.models import KwsModel

    blob = read_model_file(path)
    cfg = from_dict(RunConfig, blob["config"])
    model = KwsModel(cfg.features, cfg.model, blob["labels"])
    model.load_state_dict(blob["state_dict"])
    return model.eval(), cfg, blob


class CheckpointStore:
    """Rolling training checkpoints in `folder`, newest `keep` kept."""

    def __init__(self, folder: str | Path, keep: int = 2) -> None:
        self.folder = Path(folder)
        self.keep = keep

    @property
    def index_path(self) -> Path:
        return self.folder / "index.json"

    def entries(self) -> list[dict]:
        try:
            data = json.loads(self.index_path.read_text())
            return [e for e in data.get("checkpoints", []) if isinstance(e, dict)]
        except (OSError, ValueError):
            # no index (or a damaged one): fall back to whatever files are there
            files = sorted(self.folder.glob("step-*.pt"))
            return [{"file": f.name, "sha256": None} for f in files]

    def save(self, state: dict, global_step: int) -> Path:
        blob = _serialize(state)
        name = f"step-{global_step:09d}.pt"
        path = self.folder / name
        atomic_write_bytes(path, blob)
        entries = [e for e in self.entries() if e["file"] != name]
        entries.append({"file": name, "sha256": hashlib.sha256(blob).hexdigest(),
                        "step": global_step})
        entries.sort(key=lambda e: e["file"])
        stale, entries = entries[:-self.keep], entries[-self.keep:]
        atomic_write_json(self.index_path, {"checkpoints": entries})
        for e in stale:
            (self.folder / e["file"]).unlink(missing_ok=True)
        return path

    def load_latest(self, log: Callable[[str], None] = print) -> dict | None:
        for entry in reversed(self.entries()):
            path = self.folder / entry["file"]
            try:
                blob = path.read_bytes()
                if entry.get("sha256") and hashlib.sha256(blob).hexdigest() != entry["sha256"]:
                    raise ValueError("checksum mismatch (truncated or altered)")
                return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            except Exception as exc:
                log(f"checkpoint {path} is unusable ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:100] if str(exc) else ''}); "
                    "trying the previous one")
        return None
