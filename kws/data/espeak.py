"""Offline text-to-speech with espeak-ng, from the `espeakng-loader` wheel (no system package).

A thin ctypes binding to the library's synchronous API: the library keeps global state, so
one `Espeak` per process (kws.data.synth runs one per worker process).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.errors import KwsInputError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_IPA = 0x02  # espeak_TextToPhonemes: IPA phoneme names (bits 8-23: the separator)
_PARAMS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """One rendition's voice: language (accent), variant, and prosody settings."""

    language: str = "en-us"
    variant: str = ""
    rate: int = 175      # words per minute (80-450)
    pitch: int = 50      # 0-100
    range: int = 50      # pitch range 0-100
    volume: int = 100    # 0-200

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language


def data_dir() -> Path:
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def list_variants() -> list[str]:
    """Voice variants shipped with espeak-ng (male, female, whisper, robotic, ...)."""
    folder = data_dir() / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def list_languages() -> list[str]:
    """Language (and accent) voices shipped with espeak-ng, e.g. `en-us`, `en-gb-scotland`."""
    folder = data_dir() / "lang"
    return sorted(p.name.lower() for p in folder.rglob("*") if p.is_file())


ENGLISH_ACCENTS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd", "en-029", "en-us-nyc")


class Espeak:
    """Synthesize text to float32 mono samples at the library's native rate (22050 Hz)."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                           str(data_dir()).encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (data at {data_dir()})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []

        def collect(wav, n, _events):  # called by the library with each block of samples
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # keep a reference: the library holds a pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def synth(self, text: str, voice: Voice, seed: int = 0) -> np.ndarray:
        """Samples of `text` in `voice`; `seed` fixes the breath/flutter noise of some
        variants, so the same call always gives the same audio."""
        self._lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise KwsInputError(f"espeak-ng has no voice {voice.name!r}")
        for key in ("rate", "pitch", "range", "volume"):
            self._lib.espeak_SetParameter(_PARAMS[key], int(getattr(voice, key)), 0)
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                     None, None)
        self._lib.espeak_Synchronize()
        if err != 0:
            raise RuntimeError(f"espeak-ng failed on {text!r} (error {err})")
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(self._chunks).astype(np.float32) / 32768.0)

    def phonemes(self, text: str, language: str = "en-us") -> list[str]:
        """espeak-ng's phonemes of `text` in IPA, one string per phoneme (stress marks
        kept on the vowel they precede), from its grapheme-to-phoneme rules and lexicon."""
        if self._lib.espeak_SetVoiceByName(language.encode()) != 0:
            raise KwsInputError(f"espeak-ng has no voice {language!r}")
        fn = self._lib.espeak_TextToPhonemes
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_char_p(ctypes.addressof(buf))
        out: list[str] = []
        while ptr.value:  # one clause per call; the library moves ptr past it
            clause = fn(ctypes.byref(ptr), _CHARS_UTF8, _IPA | (ord("_") << 8))
            out += [p for word in (clause or b"").decode("utf-8").split()
                    for p in word.split("_") if p]
        return out
