"""Timing helpers and report writing shared by the benchmark suites."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write_json, atomic_write_text


def cpu_time(fn: Callable[[], object], repeat: int = 5, min_seconds: float = 0.2) -> float:
    """Best-of-`repeat` process CPU seconds of one call (calls batched to >= min_seconds)."""
    fn()
    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t0
        if dt >= min_seconds or n >= 1 << 16:
            break
        n *= 2
    best = dt / n
    for _ in range(repeat - 1):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n)
    return best


def speech_audio(seconds: float = 30.0, rate: int = 16000) -> tuple[np.ndarray, str]:
    """Real speech from ../shared/data when available (what the numbers are about), else
    pink-ish noise of the same length."""
    import os

    from kws.audio import load_audio

    root = Path(os.environ.get("KWS_SHARED_DATA",
                               Path(__file__).resolve().parents[2].parent / "shared" / "data"))
    files = sorted((root / "speech_commands_mini").glob("*/*.flac"))
    if files:
        parts, total = [], 0
        for f in files[::7]:
            a = load_audio(f, rate)
            parts.append(a)
            total += a.size
            if total >= seconds * rate:
                break
        return np.concatenate(parts)[:int(seconds * rate)], "speech_commands_mini"
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(int(seconds * rate))).astype(np.float32)
    return (0.1 * x / np.abs(x).max()).astype(np.float32), "synthetic noise"


def machine() -> dict:
    import onnxruntime
    import torch

    return {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "torch_threads": torch.get_num_threads()}


def write_report(out: Path, suite: str, report: dict, table: list[list[str]],
                 notes: list[str]) -> Path:
    """OUT/<suite>.json and OUT/<suite>.md (a table and notes)."""
    report = {"suite": suite, "machine": machine(), **report}
    atomic_write_json(out / f"{suite}.json", report)
    head, *rows = table
    md = [f"## {suite}", "", "| " + " | ".join(head) + " |",
          "| " + " | ".join("---" for _ in head) + " |"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += [""] + [f"- {n}" for n in notes] + [""]
    atomic_write_text(out / f"{suite}.md", "\n".join(md))
    return out / f"{suite}.md"


def dumps(obj) -> str:
    return json.dumps(obj, indent=2)
