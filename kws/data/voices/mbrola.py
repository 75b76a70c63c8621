"""MBROLA diphone voices through the espeak-ng program (Debian `espeak-ng mbrola
mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1`; the voices are for non-commercial use):
three US and one British voice; pitch and words per minute per rendition."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.data.voices.base import Backend, Speaker, grouped, missing_programs, run_to_audio

_VOICES = {"us1": "mb-us1", "us2": "mb-us2", "us3": "mb-us3", "en1": "mb-en1"}


def installed_voices() -> tuple[str, ...]:
    return tuple(v for v in _VOICES if Path(f"/usr/share/mbrola/{v}").exists())


class MbrolaBackend(Backend):
    name = "mbrola"
    license = "espeak-ng GPL-3.0; MBROLA AGPL-3.0; its voices non-commercial"

    def __init__(self) -> None:
        self.voices = installed_voices()

    @classmethod
    def missing(cls) -> str | None:
        absent = missing_programs("espeak-ng", "mbrola")
        if absent:
            return absent
        return None if installed_voices() else "no MBROLA English voice in /usr/share/mbrola"

    def draw(self, rng: np.random.Generator) -> Speaker:
        pitch, group = grouped(rng, 15.0, 85.0)
        return Speaker(self.name, str(rng.choice(self.voices)),
                       (("pitch", round(pitch)), ("wpm", int(rng.integers(120, 211)))), group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        return run_to_audio(["espeak-ng", "-v", _VOICES[speaker.voice],
                             "-p", str(int(speaker.get("pitch"))),
                             "-s", str(int(speaker.get("wpm"))), "-w", "{out}", text])
