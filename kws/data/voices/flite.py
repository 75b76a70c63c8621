"""Flite (BSD-style licence, Debian `flite`): CMU's small engine; voices kal, kal16, awb,
rms (male) and slt (female); tempo (`duration_stretch`) and mean pitch per rendition."""

from __future__ import annotations

import numpy as np

from kws.data.voices.base import Backend, Speaker, grouped, missing_programs, run_to_audio

_MEAN_F0 = {"kal": 105.0, "kal16": 105.0, "awb": 110.0, "rms": 100.0, "slt": 175.0}


class FliteBackend(Backend):
    name = "flite"
    license = "BSD-like (CMU Flite licence); voices the same"
    voices = tuple(_MEAN_F0)

    @classmethod
    def missing(cls) -> str | None:
        return missing_programs("flite")

    def draw(self, rng: np.random.Generator) -> Speaker:
        voice = str(rng.choice(self.voices))
        factor, group = grouped(rng, 0.8, 1.3)
        return Speaker(self.name, voice, (("f0", round(_MEAN_F0[voice] * factor, 1)),
                                          ("stretch", round(float(rng.uniform(0.8, 1.3)), 3))),
                       group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        return run_to_audio(["flite", "-voice", speaker.voice,
                             "--setf", f"duration_stretch={speaker.get('stretch')}",
                             "--setf", f"int_f0_target_mean={speaker.get('f0')}",
                             "-t", text, "-o", "{out}"])
