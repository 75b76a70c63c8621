"""What every speech engine backend offers: its voices, a random speaker, and audio.

A backend is found at run time (`missing()` says why not); it draws a `Speaker` (one of its
voices with prosody settings) from a generator, so a corpus is reproducible per seed, and
renders text in it as float32 samples at 16 kHz.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.audio import load_audio, resample

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Speaker:
    """One rendition's voice. `params` are the engine's own settings, (name, value) pairs;
    `group` (0-3) is the quarter of the pitch (or tempo) range they were drawn from: engines
    with few voices get four pseudo-speakers per voice, so the speaker-hash split puts
    different pitches in training and held-out sets at least."""

    engine: str
    voice: str
    params: tuple[tuple[str, float], ...] = ()
    group: int = 0

    def get(self, key: str, default: float = 0.0) -> float:
        return dict(self.params).get(key, default)

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.voice}-{self.group}"


class Backend(ABC):
    """One speech engine. Subclasses set `name`, `license` and `voices`, and implement
    `missing`, `draw` and `render`."""

    name = ""
    license = ""
    voices: tuple[str, ...] = ()

    @classmethod
    @abstractmethod
    def missing(cls) -> str | None:
        """Why this engine cannot run here (None when it can)."""

    def prepare(self) -> None:
        """One-time work before worker processes render (nothing by default)."""
        return

    @abstractmethod
    def draw(self, rng: np.random.Generator) -> Speaker:
        """A random speaker of this engine (voice and prosody)."""

    @abstractmethod
    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        """`text` in `speaker`'s voice: float32 mono at 16 kHz."""


def grouped(rng: np.random.Generator, lo: float, hi: float) -> tuple[float, int]:
    """A value uniform in [lo, hi] and the quarter of the range it fell in."""
    group = int(rng.integers(4))
    width = (hi - lo) / 4
    return float(lo + width * (group + rng.random())), group


def missing_modules(*modules: str) -> str | None:
    """Why Python packages are not usable here (None when they all are)."""
    import importlib.util

    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    return f"{', '.join(absent)} not installed (scripts/setup.sh --voices)" if absent \
        else None


def missing_programs(*programs: str) -> str | None:
    absent = [p for p in programs if shutil.which(p) is None]
    return f"program {', '.join(absent)} not found" if absent else None


def run_to_audio(cmd: list[str], stdin: str | None = None) -> np.ndarray:
    """Run an engine's command line that writes a WAV file, and read it back at 16 kHz.
    `cmd` holds "{out}" where the output path goes."""
    with tempfile.TemporaryDirectory(prefix="kws-voice-") as tmp:
        out = str(Path(tmp) / "out.wav")
        args = [a.replace("{out}", out) for a in cmd]
        done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0 or not Path(out).is_file():
            raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[:200]}")
        return load_audio(out, SAMPLE_RATE)


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `audio` `factor` times faster: tempo and pitch together (tape speed), for
    engines that have no pitch setting of their own."""
    if abs(factor - 1.0) < 1e-3:
        return audio
    return resample(audio, round(SAMPLE_RATE * factor), SAMPLE_RATE)
