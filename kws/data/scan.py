"""Decode every file of a corpus once to find the unreadable ones and measure durations.

Headers alone miss real faults (a FLAC that fails mid-stream with "decoder lost sync"), so
each file is decoded in full, in parallel. A bad file is reported with its reason and the
scan goes on.
"""

from __future__ import annotations

from kws.audio import load_audio_with_rate
from kws.data.manifest import Row
from kws.data.parallel import map_in_chunks
from kws.errors import AudioError


def _scan_chunk(rows: list[Row]) -> list[tuple[float, str]]:
    out = []
    for row in rows:
        try:
            audio, rate = load_audio_with_rate(
                row.path, None, offset=row.offset,
                duration=row.duration if row.duration > 0 else None)
            out.append((audio.shape[0] / rate, ""))
        except AudioError as exc:
            out.append((0.0, str(exc)))
    return out


def scan_rows(rows: list[Row], workers: int = 0) -> tuple[list[float], list[tuple[Row, str]]]:
    """(duration in seconds of each row, 0 when bad; the bad rows with their reasons)."""
    flat = map_in_chunks(_scan_chunk, rows, workers)
    durations = [d for d, _ in flat]
    bad = [(row, reason) for row, (_, reason) in zip(rows, flat, strict=True) if reason]
    return durations, bad
