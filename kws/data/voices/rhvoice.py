"""RHVoice (LGPL-2.1, Debian non-free `rhvoice rhvoice-english`): the English voices alan,
bdl, clb and slt (LGPL; evgeniy-eng and lyubov are non-commercial and left out); pitch and
rate in percent per rendition."""

from __future__ import annotations

import numpy as np

from kws.data.voices.base import Backend, Speaker, grouped, missing_programs, run_to_audio


class RhvoiceBackend(Backend):
    name = "rhvoice"
    license = "LGPL-2.1 (engine; voices alan, bdl, clb, slt: their own free licences)"
    voices = ("alan", "bdl", "clb", "slt")

    @classmethod
    def missing(cls) -> str | None:
        return missing_programs("RHVoice-test")

    def draw(self, rng: np.random.Generator) -> Speaker:
        pitch, group = grouped(rng, 20.0, 180.0)
        return Speaker(self.name, str(rng.choice(self.voices)),
                       (("pitch", round(pitch)), ("rate", int(rng.integers(70, 141)))), group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        return run_to_audio(["RHVoice-test", "-p", speaker.voice,
                             "-t", str(int(speaker.get("pitch"))),
                             "-r", str(int(speaker.get("rate"))), "-o", "{out}"], stdin=text)
