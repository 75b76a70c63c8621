"""Decoded-waveform cache: every clip of a manifest as int16, fixed length, on disk.

Decoding, resampling and cutting happen once per corpus; training then reads rows of one
memory-mapped array, so loading never starves the model (augmentation and features run
batched on the training device). Unreadable files are reported and left out, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write, atomic_write_json
from kws.audio import load_audio
from kws.data.manifest import Row
from kws.data.parallel import map_in_chunks
from kws.errors import AudioError

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """$KWS_CACHE_DIR, else $XDG_CACHE_HOME/kws, else ~/.cache/kws (never the data folder)."""
    if os.environ.get("KWS_CACHE_DIR"):
        return Path(os.environ["KWS_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kws"


def decode_row(row: Row, rate: int) -> np.ndarray:
    """The audio of one row at `rate` (a part of the file when the row has a duration)."""
    return load_audio(row.path, rate, offset=row.offset,
                      duration=row.duration if row.duration > 0 else None)


def fit_clip(audio: np.ndarray, length: int) -> np.ndarray:
    """Centre a short clip in `length` samples; crop a long one to its loudest window."""
    n = audio.shape[0]
    if n == length:
        return audio
    if n < length:
        out = np.zeros(length, dtype=np.float32)
        start = (length - n) // 2
        out[start:start + n] = audio
        return out
    energy = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    window = energy[length:] - energy[:-length]
    start = int(np.argmax(window))
    return audio[start:start + length]


def _decode_chunk(rows: list[Row], rate: int, length: int) -> list[tuple[np.ndarray | None, str]]:
    out = []
    for row in rows:
        try:
            clip = fit_clip(decode_row(row, rate), length)
            out.append((np.round(clip * 32767.0).astype(np.int16), ""))
        except AudioError as exc:
            out.append((None, str(exc)))
    return out


def decode_all(rows: list[Row], rate: int, length: int,
               workers: int = 0) -> tuple[np.ndarray, list[int], list[tuple[Row, str]]]:
    """Decode rows in parallel -> (int16 [kept, length], kept indices, bad rows + reasons)."""
    flat = map_in_chunks(partial(_decode_chunk, rate=rate, length=length), rows, workers)
    kept = [i for i, (clip, _) in enumerate(flat) if clip is not None]
    bad = [(rows[i], reason) for i, (clip, reason) in enumerate(flat) if clip is None]
    data = np.stack([flat[i][0] for i in kept]) if kept else np.zeros((0, length), np.int16)
    return data, kept, bad


def _key(rows: list[Row], rate: int, length: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}|{rate}|{length}".encode())
    for r in rows:
        try:
            st = os.stat(r.path)
            stamp = f"{st.st_size}|{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{r.path}|{r.offset}|{r.duration}|{stamp}\n".encode())
    return h.hexdigest()[:24]


@dataclass
class WaveformCache:
    """Clips (int16, [N, length]) with the rows they came from; `bad` lists left-out rows."""

    clips: np.ndarray
    rows: list[Row]
    bad: list[tuple[Row, str]]


def load_or_build(rows: list[Row], rate: int, length: int, cache_dir: str | Path = "",
                  workers: int = 0, log=print) -> WaveformCache:
    """The cached clips for `rows`, decoding them (once) if the cache lacks them."""
    folder = Path(cache_dir) if cache_dir else default_cache_dir() / "waveforms"
    key = _key(rows, rate, length)
    npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
    if npy.is_file() and meta.is_file():
        try:
            info = json.loads(meta.read_text())
            clips = np.load(npy, mmap_mode="r")
            if clips.shape == (len(info["kept"]), length):
                kept_rows = [rows[i] for i in info["kept"]]
                bad = [(rows[i], reason) for i, reason in info["bad"]]
                return WaveformCache(clips, kept_rows, bad)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            pass  # a damaged cache entry is rebuilt below
    log(f"decoding {len(rows)} clips at {rate} Hz into the cache {folder} ...")
    data, kept, bad = decode_all(rows, rate, length, workers)
    kept_set = set(kept)
    bad_idx = [i for i in range(len(rows)) if i not in kept_set]
    atomic_write(npy, lambda fh: np.save(fh, data))
    atomic_write_json(meta, {"kept": kept, "bad": [[i, reason] for i, (_, reason)
                                                   in zip(bad_idx, bad, strict=True)]})
    return WaveformCache(np.load(npy, mmap_mode="r"), [rows[i] for i in kept], bad)
