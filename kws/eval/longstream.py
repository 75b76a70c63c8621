"""Long test streams: keyword clips of a corpus split placed at random gaps over background
noise at a chosen SNR, with non-keyword speech in between, and the label file that says
where each keyword is. Deterministic for a seed.

Labels are CSV `keyword,start,end` (seconds); start/end bound the spoken word (the clip's
active region), so latency is measured from the end of the word, not of its 1-second clip.
Real long recordings with such a label file are evaluated the same way.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write_text
from kws.audio import active_region, load_audio, save_audio
from kws.data.cache import decode_row
from kws.data.corpora import read_corpus, with_task
from kws.data.manifest import SILENCE, UNKNOWN, Row, is_filler
from kws.data.silence import SPLIT_SPANS
from kws.errors import AudioError, KwsInputError


@dataclass(frozen=True)
class Event:
    keyword: str
    start: float
    end: float


def noise_bed(paths: list[str], seconds: float, rate: int, rng: np.random.Generator,
              split: str = "test") -> np.ndarray:
    """`seconds` of background made of random pieces of the noise files' `split` span (the
    part of each file that training never mixes in)."""
    lo, hi = SPLIT_SPANS[split]
    pieces = []
    for p in paths:
        try:
            audio = load_audio(p, rate)
        except AudioError:
            continue
        part = audio[int(lo * len(audio)):int(hi * len(audio))]
        if len(part) >= rate // 2:
            pieces.append(part / max(1e-6, float(np.sqrt(np.mean(part ** 2)))))
    if not pieces:
        raise KwsInputError("no usable noise for the stream: give --noise (e.g. "
                            "../shared/data/noise) or a corpus with _background_noise_")
    total = int(seconds * rate)
    out = np.zeros(total, np.float32)
    pos = 0
    fade = rate // 50
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    while pos < total:
        piece = pieces[int(rng.integers(len(pieces)))]
        take = min(len(piece), int(rng.uniform(2, 8) * rate), total - pos)
        start = int(rng.integers(0, len(piece) - take + 1))
        seg = piece[start:start + take].copy()
        if len(seg) > 2 * fade:
            seg[:fade] *= ramp
            seg[-fade:] *= ramp[::-1]
        out[pos:pos + take] += seg
        pos += max(take - fade, 1)
    return out


def build_stream(keyword_clips: list[tuple[str, np.ndarray]], filler_clips: list[np.ndarray],
                 noise: list[str], seconds: float, snr_db: float, rate: int, seed: int = 0,
                 gap_s: tuple[float, float] = (1.0, 4.0), filler_prob: float = 0.3,
                 noise_split: str = "test") -> tuple[np.ndarray, list[Event]]:
    """Place clips (trimmed to their active region) one after another with random gaps."""
    if not keyword_clips and (filler_prob < 1 or not filler_clips):
        raise KwsInputError("no keyword clips to place in the stream (a stream of filler "
                            "speech alone needs --filler-prob 1 and filler clips)")
    rng = np.random.default_rng(seed)
    trimmed = []
    for label, clip in keyword_clips:
        a, b = active_region(clip, rate)
        trimmed.append((label, clip[a:b]))
    fillers = []
    for clip in filler_clips:
        a, b = active_region(clip, rate)
        fillers.append(clip[a:b])
    speech_power = float(np.mean([np.mean(c.astype(np.float64) ** 2)
                                  for c in [c for _, c in trimmed] or fillers]))
    bed = noise_bed(noise, seconds, rate, rng, noise_split)
    audio = bed * np.float32(np.sqrt(speech_power / 10 ** (snr_db / 10)))
    order = rng.permutation(len(trimmed))
    filler_order = rng.permutation(len(fillers)) if fillers else np.zeros(0, int)
    k = f = 0
    events = []
    t = rng.uniform(*gap_s)
    while True:
        use_filler = len(fillers) > 0 and rng.random() < filler_prob
        if use_filler:
            clip = fillers[filler_order[f % len(fillers)]]
            f += 1
            label = None
        else:
            label, clip = trimmed[order[k % len(trimmed)]]
            k += 1
        start = int(t * rate)
        if start + len(clip) >= len(audio) - rate // 2:
            break
        audio[start:start + len(clip)] += clip
        if label is not None:
            events.append(Event(label, round(start / rate, 3),
                                round((start + len(clip)) / rate, 3)))
        t = (start + len(clip)) / rate + rng.uniform(*gap_s)
    return np.clip(audio, -1.0, 1.0).astype(np.float32), events


def write_labels(path: str | Path, events: list[Event]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["keyword", "start", "end"])
    for e in events:
        w.writerow([e.keyword, f"{e.start:.3f}", f"{e.end:.3f}"])
    atomic_write_text(path, buf.getvalue())


def read_labels(path: str | Path, duration: float, keywords: list[str]) -> list[Event]:
    """Read and check a label file against its recording and the model's keywords."""
    p = Path(path)
    if not p.is_file():
        raise KwsInputError(f"{p}: label file not found")
    events = []
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"keyword", "start", "end"} <= set(reader.fieldnames):
            raise KwsInputError(f"{p}: expected a header with keyword,start,end")
        for line, rec in enumerate(reader, start=2):
            try:
                start, end = float(rec["start"]), float(rec["end"])
            except (TypeError, ValueError):
                raise KwsInputError(f"{p}:{line}: start/end must be numbers") from None
            kw = (rec["keyword"] or "").strip()
            if kw not in keywords:
                raise KwsInputError(f"{p}:{line}: unknown keyword {kw!r} (the model knows "
                                    f"{', '.join(keywords)})")
            if not 0 <= start < end:
                raise KwsInputError(f"{p}:{line}: expected 0 <= start < end, got {start}, {end}")
            if end > duration + 0.05:
                raise KwsInputError(f"{p}:{line}: label ends at {end:.2f} s but the recording "
                                    f"is {duration:.2f} s long (wrong label file?)")
            events.append(Event(kw, start, end))
    events.sort(key=lambda e: e.start)
    for a, b in itertools.pairwise(events):
        if b.start < a.end:
            raise KwsInputError(f"{p}: overlapping labels {a.keyword} [{a.start}, {a.end}] and "
                                f"{b.keyword} [{b.start}, {b.end}]")
    return events


def make_stream(corpus: str, out: str | Path, labels: str | Path | None = None,
                split: str = "test", task: str = "auto", minutes: float = 60.0,
                snr_db: float = 10.0, noise: list[str] | None = None,
                fillers: list[str] | None = None, keywords: list[str] | None = None,
                filler_prob: float = 0.3, seed: int = 0, rate: int = 16000, *,
                filler_split: str | None = None,
                gap_s: tuple[float, float] = (1.0, 4.0)) -> dict:
    """`kws make-stream`: write the recording and its label file; returns a summary.

    Keyword clips come from `split` of `corpus` ("all": every split, e.g. the few real
    recordings of a wake word that training never saw); filler speech from `filler_split`
    (default: `split`) of `corpus` and of every corpus in `fillers`. With `keywords`, the
    corpus' other words are filler speech too, and the keywords' clips in the filler
    corpora are left out (never labelled as filler). Noise comes from the noise files' span of
    `split` (test when "all"), which training never mixes in."""
    from kws.data.noise import noise_files

    filler_split = filler_split or split

    def in_split(r: Row, which: str) -> bool:
        return which == "all" or r.split == which

    c = read_corpus(corpus)
    task_rows = with_task(c, task)
    rows = [r for r in task_rows if in_split(r, split)]
    if not rows:
        raise KwsInputError(f"{corpus}: the {split} split is empty")
    kw_rows = [r for r in rows if not is_filler(r.label)]
    if keywords:
        unknown = set(keywords) - {r.label for r in kw_rows}
        if unknown:
            raise KwsInputError(f"--keywords: {sorted(unknown)} not in the {split} split")
        kw_rows = [r for r in kw_rows if r.label in keywords]
    filler_rows = [Row(r.path, UNKNOWN, r.speaker, r.split, r.offset, r.duration)
                   for r in task_rows if in_split(r, filler_split)
                   and (r.label == UNKNOWN or (keywords and not is_filler(r.label)
                                               and r.label not in keywords))]
    for extra in fillers or []:
        filler_rows += [Row(r.path, UNKNOWN, r.speaker, r.split, r.offset, r.duration)
                        for r in read_corpus(extra).rows
                        if in_split(r, filler_split) and r.label != SILENCE
                        and r.label not in (keywords or ())]

    def decode(rs: list[Row]) -> list[tuple[str, np.ndarray]]:
        out_ = []
        for r in rs:
            try:
                out_.append((r.label, decode_row(r, rate)))
            except AudioError:
                continue
        return out_

    kw_clips = decode(kw_rows)
    filler_clips = [a for _, a in decode(filler_rows)]
    noise_paths = list(c.noise_files) + noise_files(noise or [])
    audio, events = build_stream(kw_clips, filler_clips, noise_paths, minutes * 60, snr_db,
                                 rate, seed, gap_s=gap_s, filler_prob=filler_prob,
                                 noise_split=split if split in SPLIT_SPANS else "test")
    out = Path(out)
    save_audio(out, audio, rate)
    label_path = Path(labels) if labels else out.with_suffix(".csv")
    write_labels(label_path, events)
    return {"audio": str(out), "labels": str(label_path), "seconds": len(audio) / rate,
            "keywords": len(events), "distinct_keyword_clips": len(kw_clips),
            "filler_clips": len(filler_clips), "snr_db": snr_db, "seed": seed}
