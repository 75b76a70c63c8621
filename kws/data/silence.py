"""The `_silence_` class: one-second windows cut from background-noise recordings.

Each noise file is divided along time so that the splits never share audio: the first 80 %
feeds training, the next 10 % validation, the last 10 % test. The windows' offsets come from
a seeded generator, so the same corpus and seed always give the same rows.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from kws.audio import audio_info
from kws.data.manifest import SILENCE, SPLITS, Row
from kws.errors import AudioError, KwsInputError

SPLIT_SPANS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}


def noise_durations(noise_files: list[str]) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """Duration in seconds of each readable noise file, and the unreadable ones."""
    durations, bad = {}, []
    for path in noise_files:
        try:
            rate, frames = audio_info(path)
        except AudioError as exc:
            bad.append((path, str(exc)))
            continue
        durations[path] = frames / rate
    return durations, bad


def silence_rows(rows: list[Row], noise_files: list[str], fraction: float,
                 clip_seconds: float, seed: int = 0, required: bool = True) -> list[Row]:
    """`fraction` x (clips in each split) silence rows, cut from that split's noise span;
    none when there is no noise and they are not `required` (evaluation)."""
    if fraction <= 0:
        return []
    durations, _ = noise_durations(noise_files)
    if not durations and not required:
        return []
    if not durations:
        raise KwsInputError("data.silence_fraction > 0 but no readable noise files: give "
                            "data.noise (e.g. ../shared/data/noise) or set "
                            "data.silence_fraction=0")
    rng = np.random.default_rng(seed)
    counts = Counter(r.split for r in rows)
    files = sorted(durations)
    out = []
    for split in SPLITS:
        n = round(fraction * counts.get(split, 0))
        lo_frac, hi_frac = SPLIT_SPANS[split]
        usable = [f for f in files
                  if (hi_frac - lo_frac) * durations[f] >= clip_seconds]
        if n == 0 or not usable:
            continue
        for i in range(n):
            path = usable[i % len(usable)]
            lo = lo_frac * durations[path]
            hi = hi_frac * durations[path] - clip_seconds
            offset = float(rng.uniform(lo, hi))
            out.append(Row(path, SILENCE, "noise", split, round(offset, 4), clip_seconds))
    return out
