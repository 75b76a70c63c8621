"""Read and check a device bundle (numpy-free, torch-free: json and hashlib only).

A bundle is a directory with the ONNX model and `bundle.json`, the contract between
training and devices (its format is specified in export/README.md). Loading refuses, with a
one-line reason, anything that is not exactly what the runtime needs: another format or
version, missing or mistyped fields, model paths that leave the bundle directory, and model
files whose SHA-256 differs from the one recorded at export.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kws.errors import BundleError

BUNDLE_FORMAT = "kws-bundle"
BUNDLE_VERSION = 1          # a keyword head: posteriors over `labels`
SEARCH_BUNDLE_VERSION = 2   # a phrase search (kws enroll): posteriors over `search.units`
BUNDLE_FILE = "bundle.json"
INPUT_KINDS = ("pcm", "pcm16", "features")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _field(meta: dict, key: str, kind: type | tuple, where: str = "") -> Any:
    name = f"{where}{key}"
    if not isinstance(meta, dict) or key not in meta:
        raise BundleError(f"bundle.json: missing field {name!r}")
    value = meta[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise BundleError(f"bundle.json: field {name!r} must be {kind}, got a boolean")
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else \
            " or ".join(k.__name__ for k in kind)
        raise BundleError(f"bundle.json: field {name!r} must be {expected}, "
                          f"got {type(value).__name__}")
    return value


def _inside(root: Path, rel: str, name: str) -> Path:
    """`rel` resolved inside `root`; absolute paths, '..' and links out are refused."""
    if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts or "\\" in rel:
        raise BundleError(f"bundle.json: {name} {rel!r} must be a plain file name inside the "
                          "bundle")
    path = (root / rel).resolve()
    if root.resolve() not in path.parents:
        raise BundleError(f"bundle.json: {name} {rel!r} points outside the bundle")
    return path


@dataclass(frozen=True)
class SearchSpec:
    """What a search bundle's `search` field holds (export/README.md)."""

    units: list[str]                         # the posteriors' columns (blank first)
    phrases: dict[str, list[list[str]]]      # phrase -> its pronunciations (units)
    max_seconds: dict[str, float]            # phrase -> longest time it may take
    floor: float = -4.0                      # lowest cost of one frame
    blank: int = 0                           # column of the blank

    def as_dict(self) -> dict:
        return {"kind": "phrases", "units": list(self.units),
                "phrases": {k: [list(p) for p in v] for k, v in self.phrases.items()},
                "max_seconds": dict(self.max_seconds), "floor": self.floor,
                "blank": self.blank}


@dataclass(frozen=True)
class StateInfo:
    name: str
    output: str
    size: int
    kind: str  # frontend | recurrent


@dataclass(frozen=True)
class Bundle:
    root: Path
    meta: dict
    model_path: Path
    labels: list[str]
    keywords: list[str]
    sample_rate: int
    win_length: int
    hop_length: int
    input_kind: str
    input_name: str
    n_features: int
    chunk_hops: int
    states: list[StateInfo]
    output_name: str
    thresholds: dict[str, float]
    decision: dict
    threads: int
    frame_stride: int = 1
    search: SearchSpec | None = None  # a phrase search turns the posteriors into `labels`

    @property
    def chunk_samples(self) -> int:
        """Samples per call (frames per call for a features-input bundle)."""
        return self.chunk_hops * self.hop_length

    @property
    def carry_samples(self) -> int:
        return self.win_length - self.hop_length

    @property
    def frame_seconds(self) -> float:
        """Time between two posteriors (hop x frame stride)."""
        return self.hop_length * self.frame_stride / self.sample_rate

    @property
    def first_output_seconds(self) -> float:
        """Time of the first posterior: the end of the first stacked group of frames."""
        return (self.win_length + (self.frame_stride - 1) * self.hop_length) / self.sample_rate


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Parse and check `path/bundle.json` and the model file it names."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle directory")
    meta_path = root / BUNDLE_FILE
    if not meta_path.is_file():
        raise BundleError(f"{root}: no {BUNDLE_FILE} (not a kws bundle)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{meta_path}: not valid JSON ({exc})".splitlines()[0]) from None
    if not isinstance(meta, dict):
        raise BundleError(f"{meta_path}: expected a JSON object")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{meta_path}: format {meta.get('format')!r}, expected "
                          f"{BUNDLE_FORMAT!r}")
    version = meta.get("version")
    if version not in (BUNDLE_VERSION, SEARCH_BUNDLE_VERSION) or isinstance(version, bool):
        raise BundleError(f"{meta_path}: bundle version {version!r} is not supported by this "
                          f"runtime (it reads versions {BUNDLE_VERSION} and "
                          f"{SEARCH_BUNDLE_VERSION}); re-export the model")
    labels = _field(meta, "labels", list)
    if not labels or not all(isinstance(x, str) and x for x in labels) \
            or len(set(labels)) != len(labels):
        raise BundleError("bundle.json: 'labels' must be a list of distinct non-empty strings")
    keywords = [x for x in labels if not x.startswith("_")]
    sample_rate = _field(meta, "sample_rate", int)
    fe = _field(meta, "frontend", dict)
    win = _field(fe, "win_length", int, "frontend.")
    hop = _field(fe, "hop_length", int, "frontend.")
    if not (8000 <= sample_rate <= 48000 and 0 < hop <= win):
        raise BundleError("bundle.json: sample_rate/frontend values out of range")
    inp = _field(meta, "input", dict)
    kind = _field(inp, "kind", str, "input.")
    if kind not in INPUT_KINDS:
        raise BundleError(f"bundle.json: input.kind {kind!r}, expected one of {INPUT_KINDS}")
    n_features = _field(fe, "n_cepstra", int, "frontend.")
    chunk = _field(meta, "chunk_hops", int)
    if not 1 <= chunk <= 1000:
        raise BundleError(f"bundle.json: chunk_hops {chunk} out of range 1..1000")
    states = []
    for i, st in enumerate(_field(meta, "states", list)):
        where = f"states[{i}]."
        states.append(StateInfo(_field(st, "name", str, where), _field(st, "output", str, where),
                                _field(st, "size", int, where), _field(st, "kind", str, where)))
        if not 1 <= states[-1].size <= 1 << 20:
            raise BundleError(f"bundle.json: {where}size {states[-1].size} out of range "
                              "1..1048576")
    if kind != "features" and (not states or states[0].kind != "frontend"):
        raise BundleError("bundle.json: a PCM-input bundle must list the frontend state first")
    model = _field(meta, "model", dict)
    model_path = _inside(root, _field(model, "file", str, "model."), "model.file")
    if not model_path.is_file():
        raise BundleError(f"{root}: model file {model_path.name} is missing")
    if verify:
        want = _field(model, "sha256", str, "model.")
        got = sha256_file(model_path)
        if got != want:
            raise BundleError(f"{model_path}: checksum mismatch (sha256 {got[:12]}..., bundle "
                              f"says {want[:12]}...): the model file was altered or damaged")
    decision = _field(meta, "decision", dict)
    raw_thr = _field(decision, "thresholds", dict, "decision.")
    thresholds = {}
    for k in keywords:
        v = raw_thr.get(k, 0.5)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 < v <= 1.0:
            raise BundleError(f"bundle.json: decision.thresholds[{k!r}] must be in (0, 1]")
        thresholds[k] = float(v)
    runtime = meta.get("runtime", {}) if isinstance(meta.get("runtime", {}), dict) else {}
    stride = meta.get("frame_stride", 1)
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= 4 \
            or chunk % stride:
        raise BundleError("bundle.json: frame_stride must be 1..4 and divide chunk_hops")
    threads = runtime.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= 256:
        raise BundleError("bundle.json: runtime.threads must be an integer 0..256")
    search = _search(meta, labels) if version == SEARCH_BUNDLE_VERSION else None
    return Bundle(root=root, meta=meta, model_path=model_path, labels=labels,
                  keywords=keywords, sample_rate=sample_rate, win_length=win,
                  hop_length=hop, input_kind=kind, input_name=_field(inp, "name", str, "input."),
                  n_features=n_features, chunk_hops=chunk, states=states,
                  output_name=_field(_field(meta, "output", dict), "name", str, "output."),
                  thresholds=thresholds, decision=decision, threads=threads,
                  frame_stride=stride, search=search)


def _search(meta: dict, labels: list[str]) -> SearchSpec:
    """The `search` field of a version-2 bundle: every phrase is a label, every
    pronunciation a non-empty list of the posteriors' units."""
    search = _field(meta, "search", dict)
    if search.get("kind") != "phrases":
        raise BundleError(f"bundle.json: search.kind {search.get('kind')!r}, expected "
                          "'phrases'")
    units = _field(search, "units", list, "search.")
    if len(units) < 2 or not all(isinstance(u, str) and u for u in units) \
            or len(set(units)) != len(units):
        raise BundleError("bundle.json: search.units must be distinct non-empty strings")
    phrases = _field(search, "phrases", dict, "search.")
    if sorted(phrases) != sorted(labels):
        raise BundleError(f"bundle.json: search.phrases {sorted(phrases)} must be the labels "
                          f"{sorted(labels)}")
    known = set(units)
    for name, prons in phrases.items():
        if not isinstance(prons, list) or not prons or not all(
                isinstance(p, list) and p and all(u in known for u in p) for p in prons):
            raise BundleError(f"bundle.json: search.phrases[{name!r}] must be a list of "
                              "pronunciations, each a non-empty list of search.units")
    max_s = _field(search, "max_seconds", dict, "search.")
    for name in phrases:
        v = max_s.get(name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 30:
            raise BundleError(f"bundle.json: search.max_seconds[{name!r}] must be in (0, 30]")
    floor = _field(search, "floor", (int, float), "search.")
    blank = _field(search, "blank", int, "search.")
    if not -50 <= floor < 0 or not 0 <= blank < len(units):
        raise BundleError("bundle.json: search.floor must be in [-50, 0) and search.blank "
                          "a column of search.units")
    return SearchSpec(units=list(units), phrases={k: [list(p) for p in v]
                                                  for k, v in phrases.items()},
                      max_seconds={k: float(max_s[k]) for k in phrases},
                      floor=float(floor), blank=blank)
