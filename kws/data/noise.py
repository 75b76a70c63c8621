"""Background noise: find noise files, and hold them as one bank to draw segments from."""

from __future__ import annotations

from pathlib import Path

from kws.audio import AUDIO_SUFFIXES
from kws.errors import KwsInputError


def noise_files(paths: list[str]) -> list[str]:
    """Audio files named directly or found (recursively) in the given folders."""
    files: list[str] = []
    for entry in paths:
        p = Path(entry).expanduser()
        if p.is_file():
            files.append(str(p.resolve()))
        elif p.is_dir():
            files.extend(str(f.resolve()) for f in sorted(p.rglob("*"))
                         if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
        else:
            raise KwsInputError(f"{p}: noise path does not exist")
    return files
