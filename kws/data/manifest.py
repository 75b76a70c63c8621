"""The manifest: the one row format every corpus reader produces.

A row names an audio file (or a part of one, for silence cut from a noise recording), its
label, its speaker and its split. Labels that start with an underscore (`_silence_`,
`_unknown_`) are filler classes: the background a streaming detector must not report.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

SPLITS = ("train", "validation", "test")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"


def is_filler(label: str) -> bool:
    """Filler classes are not keywords: the detector never reports them."""
    return label.startswith("_")


def order_labels(labels: set[str] | list[str]) -> list[str]:
    """Class order used by every model: filler classes first (sorted), then keywords."""
    unique = set(labels)
    return sorted(x for x in unique if is_filler(x)) + sorted(x for x in unique if not is_filler(x))


@dataclass(frozen=True)
class Row:
    """One example: `path` (absolute), label, speaker, split; `offset`/`duration` in seconds
    select a part of the file (duration 0: the whole file)."""

    path: str
    label: str
    speaker: str
    split: str
    offset: float = 0.0
    duration: float = 0.0


def rows_to_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    names = [f.name for f in fields(Row)]
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return buf.getvalue()


def rows_from_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    return [Row(path=r["path"], label=r["label"], speaker=r["speaker"], split=r["split"],
                offset=float(r["offset"]), duration=float(r["duration"])) for r in reader]


def summarize(rows: list[Row]) -> dict:
    """Counts per label and split, and speakers per split."""
    per_label: dict[str, Counter] = {}
    speakers: dict[str, set] = {s: set() for s in SPLITS}
    for row in rows:
        per_label.setdefault(row.label, Counter())[row.split] += 1
        speakers.setdefault(row.split, set()).add(row.speaker)
    all_speakers = set().union(*speakers.values()) if speakers else set()
    return {
        "labels": {lab: dict(sorted(c.items())) for lab, c in sorted(per_label.items())},
        "splits": dict(Counter(r.split for r in rows)),
        "speakers": {s: len(v) for s, v in speakers.items() if v},
        "speakers_total": len(all_speakers),
        "clips": len(rows),
    }


def select(rows: list[Row], split: str) -> list[Row]:
    return [r for r in rows if r.split == split]


def resolve(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())
