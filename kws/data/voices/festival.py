"""Festival (X11-style licence, Debian `festival` with festvox voices): the HTS voice
cmu_us_slt_arctic_hts and the diphone voices kal, ked, rab and don, whichever are
installed; tempo (`Duration_Stretch`) per rendition, pitch by playing it faster or slower."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.data.voices.base import (
    Backend,
    Speaker,
    change_speed,
    grouped,
    missing_programs,
    run_to_audio,
)

_ROOT = Path("/usr/share/festival/voices")
_KNOWN = ("cmu_us_slt_arctic_hts", "kal_diphone", "ked_diphone", "rab_diphone",
          "don_diphone")


def installed_voices() -> tuple[str, ...]:
    found = {p.name for p in _ROOT.glob("*/*") if p.is_dir()} if _ROOT.is_dir() else set()
    return tuple(v for v in _KNOWN if v in found)


class FestivalBackend(Backend):
    name = "festival"
    license = "X11-style (Festival, festvox diphone and HTS voices; rab and don: contrib)"

    def __init__(self) -> None:
        self.voices = installed_voices()

    @classmethod
    def missing(cls) -> str | None:
        absent = missing_programs("text2wave")
        if absent:
            return absent
        return None if installed_voices() else f"no festival voice under {_ROOT}"

    def draw(self, rng: np.random.Generator) -> Speaker:
        speed, group = grouped(rng, 0.88, 1.14)
        return Speaker(self.name, str(rng.choice(self.voices)),
                       (("speed", round(speed, 3)),
                        ("stretch", round(float(rng.uniform(0.85, 1.25)), 3))), group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        audio = run_to_audio(["text2wave", "-eval", f"(voice_{speaker.voice})",
                              "-eval", f"(Parameter.set 'Duration_Stretch "
                              f"{speaker.get('stretch')})", "-o", "{out}"], stdin=text)
        return change_speed(audio, speaker.get("speed", 1.0))
