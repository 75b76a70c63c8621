"""Transcripts of continuous speech, so that real connected speech without labels becomes
phoneme targets for the base encoder (kws.data.phonetic reads the CSV).

Whisper tiny.en (kws.data.intelligibility.Listener, offline) writes what it hears; its
word errors become phoneme-target errors, so transcripts are training material, not a
test. Every recording keeps the split of kws.data.continuous (a hash of its name): the
encoder trains on the `train` part only, and test streams are built from the `test` part.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from kws.atomic import atomic_write_text
from kws.audio import load_audio
from kws.data.continuous import continuous_rows
from kws.data.intelligibility import missing
from kws.data.phonetic import TRANSCRIPT_FIELDS
from kws.errors import AudioError, KwsInputError


def transcribe_folder(folder: str | Path, out: str | Path,
                      log: Callable[[str], None] = print) -> list[dict]:
    """Transcribe every recording under `folder` into the CSV `out` (file,text,split);
    unreadable recordings are reported and left out."""
    if why := missing():
        raise KwsInputError(f"kws pretrain transcribe: {why} (scripts/setup.sh --voices)")
    from kws.data.intelligibility import Listener

    listener = Listener()
    rows = continuous_rows([str(folder)])
    out_rows = []
    for i, row in enumerate(rows, 1):
        try:
            audio = load_audio(row.path, 16000)
        except AudioError as exc:
            log(f"left out {exc}")
            continue
        text = listener.transcribe(audio)  # words_of() reads it: homophones kept apart
        if text:
            out_rows.append({"file": row.path, "text": text, "split": row.split})
        if i % 50 == 0:
            log(f"transcribed {i}/{len(rows)}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TRANSCRIPT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(out_rows)
    atomic_write_text(out, buf.getvalue())
    return out_rows
