"""Continuous speech: long recordings of people talking (no keyword labels), the audio a
detector hears all day between keywords. Used as negatives in training (kws.data.sequences),
as the running speech of test streams (kws.eval.longstream) and for hard-negative mining.

Any folder of audio files is such a corpus (searched recursively; e.g.
`../shared/data/continuous_speech`). Recordings carry no speaker ids, so they are split by a
stable hash of the file name (80 % train, 10 % validation, 10 % test, the Speech Commands
rule): a test stream never replays audio that training heard.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.audio import AUDIO_SUFFIXES, load_audio
from kws.data.corpora import hash_split
from kws.data.manifest import UNKNOWN, Row, resolve
from kws.errors import AudioError, KwsInputError


def continuous_rows(paths: list[str], split: str = "all") -> list[Row]:
    """One row per recording found under `paths` (files or folders), of `split` ("all":
    every split). A path that does not exist, or holds no audio, is a one-line error."""
    rows = []
    for entry in paths:
        p = Path(entry).expanduser()
        if p.is_file():
            files = [p]
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*")
                           if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
        else:
            raise KwsInputError(f"{p}: continuous speech path does not exist")
        if not files:
            raise KwsInputError(f"{p}: no audio files of continuous speech found")
        for f in files:
            which = hash_split(f.name)
            if split in ("all", which):
                rows.append(Row(resolve(f), UNKNOWN, f.stem, which))
    return rows


def load_recordings(rows: list[Row], rate: int, max_seconds: float = float("inf"),
                    log=print) -> list[np.ndarray]:
    """Decode recordings (float32 at `rate`), at most `max_seconds` of them (the last one
    cut to fit); unreadable files are reported and left out."""
    out, total, limit = [], 0, max_seconds * rate
    for r in rows:
        if total >= limit:
            break
        try:
            audio = load_audio(r.path, rate)
        except AudioError as exc:
            log(f"left out {exc}")
            continue
        audio = audio[:int(min(audio.size, limit - total))]
        out.append(audio)
        total += audio.size
    return out


def pause_points(audio: np.ndarray, rate: int, lo: float = 0.2, hi: float = 0.8,
                 count: int = 5) -> np.ndarray:
    """Sample positions of the `count` quietest 30 ms stretches between `lo` and `hi` of the
    recording: the pauses between words where a keyword can be spoken into running
    speech."""
    hop = rate // 100
    n = len(audio) // hop
    if n < 10:
        return np.array([len(audio) // 2])
    frames = audio[:n * hop].reshape(n, hop).astype(np.float64)
    level = np.convolve(np.mean(frames ** 2, axis=1), np.ones(3) / 3, mode="same")
    first, last = max(1, int(lo * n)), max(int(lo * n) + 2, int(hi * n))
    order = np.argsort(level[first:last], kind="stable")[:count] + first
    return order * hop + hop // 2
