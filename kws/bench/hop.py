"""Where a hop of a bundle goes: the whole detector against its parts, on one thread.

    detector = session + search + Python
    session  = front end + model            (one onnxruntime call per chunk)

- detector: `Stream.feed` with 100 ms pieces of real speech, decisions included;
- session: the bundle's graph alone, called on the same audio's chunks with the states
  carried (what the Python around it costs is the difference to the detector);
- front end: a graph holding only the bundle's MFCC step (its settings, its chunk), so the
  model's share is the session less it;
- search (enrolled bundles): the phrase search over the same posteriors;
- floor: the model's and front end's multiply-accumulates per hop at this core's measured
  single-core matrix-vector rate (a yardstick, not a bound: onnxruntime's recurrent kernels
  and batched front-end products beat a matrix-vector product).

Rounds interleave the parts and keep each one's best (this machine's speed drifts).
"""

from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from kws.bench.common import cpu_time
from kws.errors import KwsInputError

PIECE_S = 0.1


def detector_rtf(bundle: Path, audio: np.ndarray, rate: int) -> float:
    """CPU seconds per second of audio of a fresh stream fed `audio` in 100 ms pieces."""
    from kws.runtime.detector import Detector

    det = Detector(bundle, threads=1)
    piece = int(PIECE_S * rate)

    def go() -> None:
        s = det.stream()
        for i in range(0, len(audio), piece):
            s.feed(audio[i:i + piece])

    return cpu_time(go, repeat=3, min_seconds=0.3) / (len(audio) / rate)


def _chunks(det, audio: np.ndarray) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The stream's session inputs: its chunks and its first states."""
    b = det.bundle
    states = det.initial_states(1)
    if b.input_kind == "features":
        raise KwsInputError(f"{b.root}: a features-input bundle has no front end to stream "
                            "audio through (export it with --input pcm or pcm16 to time it)")
    states["fe_carry"] = audio[None, :b.carry_samples].astype(np.float32)
    body = audio[b.carry_samples:]
    n = len(body) // b.chunk_samples
    return [body[None, i * b.chunk_samples:(i + 1) * b.chunk_samples] for i in range(n)], \
        states


def session_us_per_hop(det, chunks: list[np.ndarray], states: dict) -> float:
    """CPU µs per hop of the session alone over `chunks`, states carried, called as a
    stream calls it (kws.runtime.detector.BoundCall)."""
    from kws.runtime.detector import BoundCall

    call = BoundCall(det)

    def go() -> None:
        s = states
        for c in chunks:
            _, s = call.run(c[0], s)

    return cpu_time(go, repeat=3, min_seconds=0.2) * 1e6 / (len(chunks) *
                                                           det.bundle.chunk_hops)


def frontend_graph(bundle, path: Path) -> Path:
    """An ONNX graph of the bundle's front end alone (its settings and chunk)."""
    from kws.bench.frontend import front_only_onnx
    from kws.config import FeatureConfig

    names = {f.name for f in fields(FeatureConfig)}
    cfg = FeatureConfig(**{k: v for k, v in bundle.meta["frontend"].items() if k in names})
    front_only_onnx(cfg, bundle.chunk_hops, path)
    return path


def frontend_us_per_hop(path: Path, chunks: list[np.ndarray], carry: np.ndarray,
                        hops: int) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def go() -> None:
        c = carry
        for x in chunks:
            _, c = sess.run(None, {"audio": x, "carry": c})

    return cpu_time(go, repeat=3, min_seconds=0.2) * 1e6 / (len(chunks) * hops)


def search_us_per_hop(det, chunks: list[np.ndarray], states: dict) -> float:
    """CPU µs per hop of the phrase search over the session's posteriors of `chunks`."""
    from kws.runtime.phrase_search import PhraseSearch

    posts, s = [], states
    for c in chunks:
        p, s = det.run(c, s)
        posts.append(p[0])
    search = PhraseSearch(det.bundle.search, det.bundle.frame_seconds)

    def go() -> None:
        search.reset()
        for p in posts:
            search.update(p)

    return cpu_time(go, repeat=3, min_seconds=0.2) * 1e6 / (len(chunks) *
                                                           det.bundle.chunk_hops)


def matvec_macs_per_second() -> float:
    """Single-core float matrix-vector rate (multiply-accumulates per second)."""
    import torch

    w, x = torch.randn(1024, 256), torch.randn(256)
    return w.numel() / cpu_time(lambda: torch.mv(w, x), repeat=5, min_seconds=0.2)


def hop_breakdown(bundle: Path, audio: np.ndarray, rounds: int = 3) -> dict:
    """µs per 10 ms hop of `bundle`: detector, session, front end, model, search, Python,
    and the floor (see the module's docstring). `audio`: 16 kHz speech, float32."""
    import torch

    from kws.runtime.detector import Detector

    torch.set_num_threads(1)
    det = Detector(bundle, threads=1)
    b = det.bundle
    chunks, states = _chunks(det, audio)
    cost: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kws-hop-") as tmp:
        front = frontend_graph(b, Path(tmp) / "front.onnx")
        for _ in range(rounds):
            now = {"detector": detector_rtf(bundle, audio, b.sample_rate) * 1e6 *
                   b.hop_length / b.sample_rate,
                   "session": session_us_per_hop(det, chunks, states),
                   "front_end": frontend_us_per_hop(front, chunks, states["fe_carry"],
                                                    b.chunk_hops)}
            if b.search is not None:
                now["search"] = search_us_per_hop(det, chunks, states)
            cost = {k: min(v, cost.get(k, v)) for k, v in now.items()}
    cost.setdefault("search", 0.0)
    cost["model"] = cost["session"] - cost["front_end"]
    cost["python"] = cost["detector"] - cost["session"] - cost["search"]
    macs = b.meta.get("training", {}).get("macs_per_frame", {})
    if macs:
        per_hop = macs.get("model", 0) + macs.get("frontend", 0)  # both per 10 ms hop
        cost["floor"] = per_hop / matvec_macs_per_second() * 1e6
        cost["macs_per_hop"] = float(per_hop)
    cost["rtf"] = cost["detector"] * b.sample_rate / b.hop_length * 1e-6
    return cost


def breakdown_line(name: str, c: dict) -> str:
    """One line of a report: where a hop of `name` goes."""
    search = f" + search {c['search']:.1f}" if c.get("search") else ""
    floor = f"; floor {c['floor']:.1f} ({c['macs_per_hop'] / 1e3:.0f} k MACs per hop)" \
        if "floor" in c else ""
    return (f"{name}: detector {c['detector']:.1f} µs per hop (RTF {c['rtf']:.5f}) = "
            f"session {c['session']:.1f} (model {c['model']:.1f} + front end "
            f"{c['front_end']:.1f}){search} + Python {c['python']:.1f}{floor}")
