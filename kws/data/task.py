"""From a data config to what training needs: the label set, the decoded clips of each
split, and the training noise bank."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kws.audio import load_audio
from kws.config import DataConfig
from kws.data.cache import WaveformCache, load_or_build
from kws.data.corpora import read_corpus, with_task
from kws.data.manifest import SILENCE, SPLITS, UNKNOWN, Row, order_labels
from kws.data.noise import noise_files
from kws.data.silence import SPLIT_SPANS, silence_rows
from kws.errors import AudioError, KwsInputError


@dataclass
class TaskData:
    labels: list[str]
    splits: dict[str, WaveformCache]
    noise: np.ndarray                        # float32 training noise bank
    noise_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: frozenset = frozenset()          # (path, offset) of the extra corpora's clips

    @property
    def silence_index(self) -> int:
        return self.labels.index(SILENCE) if SILENCE in self.labels else -1

    def label_indices(self, split: str) -> np.ndarray:
        index = {lab: i for i, lab in enumerate(self.labels)}
        return np.array([index[r.label] for r in self.splits[split].rows], dtype=np.int64)

    def extra_mask(self) -> np.ndarray:
        """Which training clips came from `data.extra_train` corpora, so that an epoch
        can draw them at a set share (`data.extra_share`)."""
        return np.array([(r.path, r.offset) in self.extra for r in self.splits["train"].rows],
                        dtype=bool)


def extra_rows(paths: list[str], labels: set[str], exclude: set[str] = frozenset(),
               split: str = "train") -> list[Row]:
    """Rows of one split of extra corpora (training rows by default: their own validation
    and test splits stay out, free for held-out streams): a label of the task keeps its
    class, any other word becomes `_unknown_` when the task has that class, and is dropped
    otherwise; labels in `exclude` are dropped (e.g. real recordings of a wake word kept for
    testing)."""
    out = []
    for path in paths:
        for r in read_corpus(path).rows:
            if r.split != split or r.label in exclude:
                continue
            if r.label in labels:
                label = r.label
            elif UNKNOWN in labels and r.label != SILENCE:
                label = UNKNOWN
            else:
                continue
            out.append(Row(r.path, label, r.speaker, split, r.offset, r.duration))
    return out


def validation_rows(path: str, labels: set[str]) -> list[Row]:
    """The validation split of another corpus (`data.validation_corpus`), its words mapped
    onto the task's labels as extra corpora's are."""
    try:
        rows = extra_rows([path], labels, split="validation")
    except KwsInputError as exc:
        raise KwsInputError(f"data.validation_corpus={path}: {exc}") from None
    if not rows:
        raise KwsInputError(f"data.validation_corpus={path}: no validation clips with the "
                            f"task's labels ({', '.join(sorted(labels))})")
    return rows


def carve_validation(rows: list[Row]) -> list[Row]:
    """Move every tenth speaker (sorted) of the training split to validation."""
    speakers = sorted({r.speaker for r in rows if r.split == "train"})
    held = set(speakers[::10])
    return [Row(r.path, r.label, r.speaker, "validation", r.offset, r.duration)
            if r.split == "train" and r.speaker in held else r for r in rows]


def noise_bank(paths: list[str], sample_rate: int, max_seconds: float = 600.0) -> np.ndarray:
    """The training span (first 80 %) of every noise file, concatenated."""
    parts, total = [], 0
    lo, hi = SPLIT_SPANS["train"]
    for path in paths:
        try:
            audio = load_audio(path, sample_rate)
        except AudioError:
            continue
        part = audio[int(lo * audio.size):int(hi * audio.size)]
        parts.append(part)
        total += part.size
        if total >= max_seconds * sample_rate:
            break
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def prepare_task(data: DataConfig, sample_rate: int, seed: int = 0, workers: int = 0,
                 log: Callable[[str], None] = print,
                 splits: tuple[str, ...] = SPLITS) -> TaskData:
    """Labels, decoded clips and noise of a data config. Training needs every split;
    evaluation passes the splits it scores (`splits`), so a corpus that is all test data
    works, and without noise at hand it scores the clips that exist instead of making
    `_silence_` clips."""
    training = "train" in splits
    if not data.corpus:
        raise KwsInputError("data.corpus: not set (a corpus folder or CSV manifest)")
    corpus = read_corpus(data.corpus)
    rows = with_task(corpus, data.task)
    notes = [f"{corpus.layout} corpus {data.corpus}: {len(rows)} clips"]
    if data.validation_corpus and "validation" in splits:
        rows = [r for r in rows if r.split != "validation"] + \
            validation_rows(data.validation_corpus, {r.label for r in rows})
        notes.append(f"validation split from {data.validation_corpus}: "
                     f"{sum(r.split == 'validation' for r in rows)} clips")
    elif not any(r.split == "validation" for r in rows):
        rows = carve_validation(rows)
        notes.append("no validation split in the corpus: every tenth training speaker "
                     "moved to validation")
    task_labels = {r.label for r in rows}
    extra = extra_rows(list(data.extra_train), task_labels, set(data.extra_exclude))
    if data.extra_train:
        notes.append(f"extra training clips from {', '.join(data.extra_train)}: {len(extra)}")
    noise = list(corpus.noise_files) + noise_files(list(data.noise))
    sil = silence_rows(rows, noise, data.silence_fraction, data.clip_seconds, seed,
                       required=training)
    if data.silence_fraction > 0 and not sil and not training:
        notes.append("no noise files at hand: no _silence_ clips are scored (give "
                     "data.noise to score the silence class)")
    all_rows = rows + extra + sil
    labels = order_labels({r.label for r in all_rows})
    length = round(data.clip_seconds * sample_rate)
    caches = {}
    for split in SPLITS:
        subset = [r for r in all_rows if r.split == split] if split in splits else []
        cache = load_or_build(subset, sample_rate, length, data.cache_dir, workers, log=log)
        for row, reason in cache.bad:
            notes.append(f"left out {row.path}: {reason}")
        caches[split] = cache
    if training and len(caches["train"].rows) == 0:
        raise KwsInputError(f"data.corpus={data.corpus}: no readable training clips")
    bank = noise_bank(noise, sample_rate) if training else np.zeros(0, np.float32)
    return TaskData(labels, caches, bank, noise, notes,
                    frozenset((r.path, r.offset) for r in extra))
