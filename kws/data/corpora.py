"""Corpus readers: every supported layout becomes the same manifest rows.

Layouts:
- Google Speech Commands (v0.01/v0.02): folder per word, `_background_noise_/`,
  `validation_list.txt` / `testing_list.txt` when present, else the dataset's hash-of-speaker
  split. WAV or FLAC.
- CSV manifests (`file,class[,speaker]`, paths relative to the CSV), as Arabic Speech Commands.
  The split comes from the file name (train.csv, val.csv, test.csv).
- Free Spoken Digit Dataset: `<digit>_<speaker>_<index>`; indices 0-4 are the test split, 5-9
  validation (our choice, for model selection), the rest training.
- Folder per label (anything else), split by list files or by speaker hash.

Readers only list files; `scan` decodes them to find the bad ones and their durations.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kws.audio import AUDIO_SUFFIXES
from kws.data.manifest import SILENCE, UNKNOWN, Row, resolve
from kws.errors import KwsInputError

SC_COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SC_NOISE_DIR = "_background_noise_"
FSDD_PATTERN = re.compile(r"^(\d+)_([^_]+)_(\d+)$")
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1


@dataclass
class Corpus:
    """A corpus as found on disk: raw labels (folder or CSV class names)."""

    root: Path
    layout: str
    rows: list[Row]
    noise_files: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        return sorted({r.label for r in self.rows})


def speaker_of(stem: str) -> str:
    """Speaker id from a file name: before `_nohash_` (Speech Commands), before `_NO_`
    (Arabic Speech Commands), else the first `_`-separated token."""
    for marker in ("_nohash_", "_NO_"):
        if marker in stem:
            return stem.split(marker, 1)[0]
    return stem.split("_", 1)[0]


def hash_split(name: str, validation_pct: float = 10.0, testing_pct: float = 10.0) -> str:
    """The Speech Commands split rule (the dataset README's `which_set`): a stable hash of
    the speaker part of the file name, so one speaker never spans two splits."""
    base = re.sub(r"_nohash_.*$", "", Path(name).name)
    digest = hashlib.sha1(base.encode("utf-8")).hexdigest()
    pct = (int(digest, 16) % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if pct < validation_pct:
        return "validation"
    if pct < validation_pct + testing_pct:
        return "test"
    return "train"


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _read_list(path: Path) -> set[str]:
    """Relative paths in a Speech Commands list file, without their suffix (WAV lists match
    a FLAC copy and the other way round)."""
    if not path.is_file():
        return set()
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            names.add(str(Path(line).with_suffix("")))
    return names


def _split_by_lists(root: Path, files: Iterable[Path]) -> list[tuple[Path, str]]:
    val = _read_list(root / "validation_list.txt")
    test = _read_list(root / "testing_list.txt")
    out = []
    for f in files:
        key = str(f.relative_to(root).with_suffix(""))
        if key in val:
            split = "validation"
        elif key in test:
            split = "test"
        elif val or test:
            split = "train"
        else:
            split = hash_split(f.name)
        out.append((f, split))
    return out


def read_folders(root: Path) -> Corpus:
    """Folder per label (Speech Commands is one): every depth-1 folder with audio files but
    `_background_noise_` is a label; splits from the list files, else the speaker hash."""
    files = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name != SC_NOISE_DIR:
            files.extend(_audio_files(folder))
    rows = [Row(resolve(f), f.parent.name, speaker_of(f.stem), split)
            for f, split in _split_by_lists(root, files)]
    noise_dir = root / SC_NOISE_DIR
    noise = [resolve(p) for p in _audio_files(noise_dir)] if noise_dir.is_dir() else []
    is_sc = bool(noise) or (root / "validation_list.txt").is_file() \
        or (root / "testing_list.txt").is_file()
    return Corpus(root, "speech_commands" if is_sc else "folders", rows, noise)


_CSV_SPLITS = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
               "validation": "validation", "dev": "validation", "test": "test", "testing": "test"}


def read_csv_manifest(path: Path) -> Corpus:
    """`file,class[,speaker]` with paths relative to the CSV; split from the file's name."""
    split = _CSV_SPLITS.get(path.stem.lower())
    if split is None:
        raise KwsInputError(f"{path}: cannot tell the split from the file name (expected one "
                            f"of {', '.join(sorted(_CSV_SPLITS))}.csv)")
    rows, problems = [], []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if "file" not in header or "class" not in header:
            raise KwsInputError(f"{path}: expected a header with 'file' and 'class' columns, "
                                f"got {header}")
        for line_no, rec in enumerate(reader, start=2):
            rel, label = (rec.get("file") or "").strip(), (rec.get("class") or "").strip()
            if not rel or not label:
                problems.append((f"{path}:{line_no}", "empty 'file' or 'class' field"))
                continue
            audio = path.parent / rel
            speaker = (rec.get("speaker") or "").strip() or speaker_of(Path(rel).stem)
            rows.append(Row(resolve(audio), label, speaker, split))
    return Corpus(path.parent, "csv", rows, problems=problems)


def read_fsdd(root: Path) -> Corpus:
    """`<digit>_<speaker>_<index>`: indices 0-4 test (the dataset's rule), 5-9 validation."""
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    rows = []
    for f in _audio_files(folder):
        m = FSDD_PATTERN.match(f.stem)
        if not m:
            continue
        digit, speaker, index = m.group(1), m.group(2), int(m.group(3))
        split = "test" if index < 5 else "validation" if index < 10 else "train"
        rows.append(Row(resolve(f), digit, speaker, split))
    return Corpus(root, "fsdd", rows)


def _looks_like_fsdd(root: Path) -> bool:
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    files = _audio_files(folder) if folder.is_dir() else []
    return bool(files) and all(FSDD_PATTERN.match(f.stem) for f in files)


def read_corpus(path: str | Path) -> Corpus:
    """Detect the layout of `path` and read it."""
    p = Path(path).expanduser()
    if not p.exists():
        raise KwsInputError(f"{p}: no such corpus (expected a folder or a CSV manifest)")
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise KwsInputError(f"{p}: a corpus file must be a CSV manifest (file,class)")
        return read_csv_manifest(p)
    csvs = [c for c in sorted(p.glob("*.csv")) if c.stem.lower() in _CSV_SPLITS]
    if csvs:
        parts = [read_csv_manifest(c) for c in csvs]
        return Corpus(p, "csv", [r for c in parts for r in c.rows],
                      problems=[x for c in parts for x in c.problems])
    if _looks_like_fsdd(p):
        return read_fsdd(p)
    corpus = read_folders(p)
    if not corpus.rows:
        raise KwsInputError(f"{p}: no audio found (expected a Speech Commands, CSV, FSDD or "
                            "folder-per-label layout)")
    return corpus


def task_labels(corpus: Corpus, task: str) -> dict[str, str]:
    """Map raw labels to task labels. `sc12`: the 10 commands, everything else `_unknown_`;
    `sc35`/`words`: every word is its own class. `auto` is sc12 for a Speech Commands layout
    holding the 10 commands and other words, else `words`."""
    words = corpus.words
    if task == "auto":
        is_sc = corpus.layout == "speech_commands" and all(c in words for c in SC_COMMANDS)
        task = "sc12" if is_sc and len(words) > len(SC_COMMANDS) else "words"
    if task == "sc12":
        missing = [c for c in SC_COMMANDS if c not in words]
        if missing:
            raise KwsInputError(f"data.task=sc12: corpus {corpus.root} lacks the commands "
                                f"{', '.join(missing)}")
        return {w: (w if w in SC_COMMANDS else UNKNOWN) for w in words}
    return {w: w for w in words}


def with_task(corpus: Corpus, task: str) -> list[Row]:
    """The corpus rows relabelled for a task (no silence yet: see kws.data.silence)."""
    mapping = task_labels(corpus, task)
    return [Row(r.path, mapping[r.label], r.speaker, r.split, r.offset, r.duration)
            for r in corpus.rows]


__all__ = ["SC_COMMANDS", "SILENCE", "UNKNOWN", "Corpus", "hash_split", "read_corpus",
           "speaker_of", "task_labels", "with_task"]
