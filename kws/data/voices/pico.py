"""SVOX Pico (Apache-2.0, Debian non-free `libttspico-utils`): US and UK English; pitch and
speed levels per rendition through its markup."""

from __future__ import annotations

from xml.sax.saxutils import escape

import numpy as np

from kws.data.voices.base import Backend, Speaker, grouped, missing_programs, run_to_audio


class PicoBackend(Backend):
    name = "pico"
    license = "Apache-2.0 (SVOX Pico; Debian ships it in non-free)"
    voices = ("en-US", "en-GB")

    @classmethod
    def missing(cls) -> str | None:
        return missing_programs("pico2wave")

    def draw(self, rng: np.random.Generator) -> Speaker:
        pitch, group = grouped(rng, 70.0, 140.0)
        return Speaker(self.name, str(rng.choice(self.voices)),
                       (("pitch", round(pitch)), ("speed", int(rng.integers(80, 126)))), group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        markup = (f'<pitch level="{int(speaker.get("pitch"))}"><speed level='
                  f'"{int(speaker.get("speed"))}">{escape(text)}</speed></pitch>')
        return run_to_audio(["pico2wave", "-l", speaker.voice, "-w", "{out}", markup])
