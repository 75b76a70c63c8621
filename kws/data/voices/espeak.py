"""espeak-ng (GPL-3.0, the `espeakng-loader` wheel): formant voices in every English accent
and voice variant, with rate, pitch, pitch range and volume drawn per rendition. Its speaker
names are the voice's name alone (`en-us-m3`), as before there were other engines, so an
espeak-ng corpus keeps its files and splits."""

from __future__ import annotations

import zlib

import numpy as np

from kws.audio import resample
from kws.data.espeak import ENGLISH_ACCENTS, Espeak, Voice, list_languages, list_variants
from kws.data.voices.base import SAMPLE_RATE, Backend, Speaker


def draw_voice(rng: np.random.Generator, languages: list[str], variants: list[str]) -> Voice:
    """One random voice: accent, variant and prosody spread over natural ranges."""
    return Voice(language=str(rng.choice(languages)),
                 variant=str(rng.choice(variants)),
                 rate=int(rng.integers(110, 261)),
                 pitch=int(rng.integers(15, 86)),
                 range=int(rng.integers(10, 91)),
                 volume=int(rng.integers(60, 141)))


def to_voice(speaker: Speaker) -> Voice:
    language, _, variant = speaker.voice.partition("+")
    return Voice(language, variant, *(int(speaker.get(k)) for k in
                                      ("rate", "pitch", "range", "volume")))


def from_voice(voice: Voice) -> Speaker:
    return Speaker("espeak", voice.name, tuple((k, float(getattr(voice, k))) for k in
                                               ("rate", "pitch", "range", "volume")))


class EspeakBackend(Backend):
    name = "espeak"
    license = "GPL-3.0-or-later (espeak-ng and its voices)"

    def __init__(self, languages: list[str] | None = None) -> None:
        self.languages = languages or [x for x in ENGLISH_ACCENTS if x in list_languages()]
        self.variants = ["", *list_variants()]
        self.voices = tuple(self.languages)
        self._engine: Espeak | None = None

    @classmethod
    def missing(cls) -> str | None:
        try:
            import espeakng_loader  # noqa: F401
        except ImportError:
            return "the espeakng-loader package is not installed"
        return None

    def draw(self, rng: np.random.Generator) -> Speaker:
        return from_voice(draw_voice(rng, self.languages, self.variants))

    def render(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        if self._engine is None:
            self._engine = Espeak()
        audio = self._engine.synth(text, to_voice(speaker),
                                   seed=zlib.crc32(f"{text}|{seed}".encode()))
        return resample(audio, self._engine.sample_rate, SAMPLE_RATE)
