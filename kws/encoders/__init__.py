"""The base encoders that ship inside kws: a keyword run starts from one with
`train.init: encoder:base` (kws.train.trainer's transfer keeps its recurrent layers and
feature statistics and trains a keyword classifier on top), so a fresh machine needs no
pretraining.

Each encoder is `NAME.pt` (an ordinary model file whose labels are the phoneme inventory
of kws.data.phonemes) beside `NAME.json`, its training report: version, data, phoneme
error rates, and the command that rebuilds it (recipes/pretrain/run.sh).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from kws.atomic import atomic_write_bytes, atomic_write_json
from kws.errors import KwsInputError

PREFIX = "encoder:"
FOLDER = Path(__file__).parent


def shipped() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.pt"))


def resolve(value: str, key: str = "train.init") -> str:
    """A model path as given, or the shipped file of `encoder:NAME`."""
    if not value.startswith(PREFIX):
        return value
    name = value[len(PREFIX):] or "base"
    path = FOLDER / f"{name}.pt"
    if not path.is_file():
        raise KwsInputError(f"{key}={value}: no shipped encoder {name!r} (shipped: "
                            f"{', '.join(shipped()) or 'none'})")
    return str(path)


def identity(path: str | Path) -> dict | None:
    """{name, version, sha256} of a shipped encoder's model file; None for other files."""
    p = Path(path).resolve()
    if p.parent != FOLDER.resolve() or not p.with_suffix(".json").is_file():
        return None
    report = json.loads(p.with_suffix(".json").read_text())
    return {"name": p.stem, "version": report["version"],
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}


REBUILD = "recipes/pretrain/run.sh --data ../shared/data --out exp/pretrain --ship"


def ship(run: str | Path, name: str = "base", folder: Path = FOLDER) -> dict:
    """Copy a pretraining run's model into `folder` as NAME.pt with its report NAME.json
    (training summary, phoneme error rates, how to rebuild it); returns the report."""
    run = Path(run)
    files = {k: run / f for k, f in (("model", "model.pt"), ("summary", "summary.json"))}
    for path in files.values():
        if not path.is_file():
            raise KwsInputError(f"{path}: missing; ship a finished pretraining run")
    blob = files["model"].read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    summary = json.loads(files["summary"].read_text())
    report = {"name": name, "version": f"{name}-{time.strftime('%Y%m%d')}-{digest[:8]}",
              "sha256": digest, "rebuild": REBUILD,
              "training": {k: v for k, v in summary.items() if k not in ("run", "model")},
              "phoneme_error_rates": {p.stem: json.loads(p.read_text())["sets"]
                                      for p in sorted(run.glob("per*.json"))}}
    atomic_write_bytes(folder / f"{name}.pt", blob)
    atomic_write_json(folder / f"{name}.json", report)
    return report
