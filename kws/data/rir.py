"""Measured room impulse responses (e.g. `../shared/data/rir`), ready to convolve: each
starts at its direct path and holds `seconds` of the room's response, peak 1."""

from __future__ import annotations

import numpy as np

from kws.audio import load_audio
from kws.data.noise import noise_files
from kws.errors import AudioError, KwsInputError


def load_rirs(paths: list[str], rate: int, seconds: float = 0.5) -> np.ndarray:
    """[R, seconds * rate] float32 impulse responses from the files and folders in `paths`;
    unreadable or silent files are left out, and none at all is a one-line error."""
    n = int(seconds * rate)
    out = []
    for path in noise_files(paths):
        try:
            h = load_audio(path, rate)
        except AudioError:
            continue
        peak = int(np.argmax(np.abs(h)))
        if np.abs(h[peak]) <= 0:
            continue
        h = h[peak:peak + n] / h[peak]
        out.append(np.pad(h, (0, n - len(h))).astype(np.float32))
    if not out:
        raise KwsInputError(f"augment.rir={paths}: no readable impulse responses found")
    return np.stack(out)
