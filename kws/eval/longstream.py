"""Long test streams: keyword clips of a corpus split placed whole at random gaps over
background noise at a chosen SNR, with non-keyword speech (words, continuous speech) between
them and around some of them, and the label file that says where each keyword is.
Deterministic for a seed.

Labels are CSV `keyword,start,end` (seconds); start/end bound the spoken word (the clip's
active region), so latency is measured from the end of the word, not of its 1-second clip.
Beside it, `NAME.speech.csv` (`start,end`) lists the non-keyword speech, so false alarms can
be attributed. Real long recordings with a label file are evaluated the same way.
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
from kws.data.continuous import pause_points
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


@dataclass(frozen=True)
class Span:
    """Non-keyword speech placed in a stream (its spoken part), so a false alarm can be told
    apart from one in noise."""

    start: float
    end: float


@dataclass
class Stream:
    audio: np.ndarray
    events: list[Event]
    speech: list[Span]


class _Timeline:
    """Audio being laid out: clips are added at a time, and what was placed is recorded."""

    def __init__(self, audio: np.ndarray, rate: int) -> None:
        self.audio, self.rate = audio, rate
        self.events: list[Event] = []
        self.speech: list[Span] = []

    def fits(self, t: float, seconds: float) -> bool:
        return int(t * self.rate) + int(seconds * self.rate) < len(self.audio) - self.rate // 2

    def put(self, clip: np.ndarray, t: float, label: str | None) -> float:
        """Add `clip` at `t` seconds; label its spoken part as keyword `label`, or as
        non-keyword speech when None. Returns the time the clip ends."""
        start = int(t * self.rate)
        self.audio[start:start + len(clip)] += clip
        a, b = active_region(clip, self.rate)
        lo, hi = round((start + a) / self.rate, 3), round((start + b) / self.rate, 3)
        if label is None:
            self.speech.append(Span(lo, hi))
        else:
            self.events.append(Event(label, lo, hi))
        return (start + len(clip)) / self.rate


def _spoken(clip: np.ndarray, rate: int) -> np.ndarray:
    a, b = active_region(clip, rate)
    return clip[a:b]


def build_stream(keyword_clips: list[tuple[str, np.ndarray]], filler_clips: list[np.ndarray],
                 noise: list[str], seconds: float, snr_db: float, rate: int, seed: int = 0,
                 gap_s: tuple[float, float] = (1.0, 4.0), filler_prob: float = 0.3,
                 noise_split: str = "test", *, utterances: list[np.ndarray] | None = None,
                 inside_prob: float = 0.0, joint_s: tuple[float, float] = (0.02, 0.15),
                 ) -> Stream:
    """Place clips one after another with random gaps over a noise bed.

    Keyword clips are placed whole, as recorded (their label marks the spoken part): the
    detector hears in the stream exactly what the clip classifier hears. `filler_prob` of
    the placed items are non-keyword speech: a word clip, or a whole recording of
    continuous speech from `utterances` (half of them when both are given). `inside_prob`
    of the keywords are said inside running speech: a continuous recording split at a pause
    between its words, or a few filler words, before and after the keyword, `joint_s`
    apart (without either, every keyword stands between gaps)."""
    utterances = [u for u in utterances or [] if len(u) > rate // 2]
    if not keyword_clips and (filler_prob < 1 or not (filler_clips or utterances)):
        raise KwsInputError("no keyword clips to place in the stream (a stream of filler "
                            "speech alone needs --filler-prob 1 and filler clips)")
    rng = np.random.default_rng(seed)
    spoken_power = [float(np.mean(_spoken(c, rate).astype(np.float64) ** 2))
                    for c in [c for _, c in keyword_clips] or filler_clips or utterances]
    bed = noise_bed(noise, seconds, rate, rng, noise_split)
    line = _Timeline(bed * np.float32(np.sqrt(np.mean(spoken_power) / 10 ** (snr_db / 10))),
                     rate)
    words = [_spoken(c, rate) for c in filler_clips]
    order = rng.permutation(len(keyword_clips))
    filler_order = rng.permutation(len(filler_clips)) if filler_clips else np.zeros(0, int)
    utt_order = rng.permutation(len(utterances)) if utterances else np.zeros(0, int)
    count = {"keyword": 0, "filler": 0, "utterance": 0}

    def take(kind: str, ordering: np.ndarray) -> int:
        i = int(ordering[count[kind] % len(ordering)])
        count[kind] += 1
        return i

    def use_utterance() -> bool:
        return bool(utterances) and (not filler_clips or rng.random() < 0.5)

    def running_speech() -> tuple[np.ndarray, np.ndarray]:
        """Speech before and after a keyword said inside it."""
        if use_utterance():
            utt = utterances[take("utterance", utt_order)]
            cut = int(rng.choice(pause_points(utt, rate)))
            return utt[:cut], utt[cut:]
        sides = []
        for _ in range(2):
            parts = []
            for _ in range(int(rng.integers(1, 4))):
                parts += [words[take("filler", filler_order)],
                          np.zeros(int(rng.uniform(*joint_s) * rate), np.float32)]
            sides.append(np.concatenate(parts[:-1]))
        return sides[0], sides[1]

    t = rng.uniform(*gap_s)
    while True:
        if (filler_clips or utterances) and rng.random() < filler_prob:
            clip = utterances[take("utterance", utt_order)] if use_utterance() \
                else filler_clips[take("filler", filler_order)]
            if not line.fits(t, len(clip) / rate):
                break
            t = line.put(clip, t, None)
        else:
            label, clip = keyword_clips[take("keyword", order)]
            inside = (filler_clips or utterances) and rng.random() < inside_prob
            before, after = running_speech() if inside else (clip[:0], clip[:0])
            joints = rng.uniform(*joint_s, size=2) if inside else np.zeros(2)
            total = (len(before) + len(clip) + len(after)) / rate + joints.sum()
            if not line.fits(t, total):
                break
            if len(before):
                t = line.put(before, t, None) + joints[0]
            t = line.put(clip, t, label)
            if len(after):
                t = line.put(after, t + joints[1], None)
        t += rng.uniform(*gap_s)
    audio = np.clip(line.audio, -1.0, 1.0).astype(np.float32)
    return Stream(audio, line.events, sorted(line.speech, key=lambda s: s.start))


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


def speech_path(labels: str | Path) -> Path:
    """Where the non-keyword speech of a stream is listed, beside its label file."""
    p = Path(labels)
    return p.with_name(p.stem + ".speech.csv")


def write_speech(path: str | Path, spans: list[Span]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["start", "end"])
    for s in spans:
        w.writerow([f"{s.start:.3f}", f"{s.end:.3f}"])
    atomic_write_text(path, buf.getvalue())


def read_speech(path: str | Path) -> list[Span] | None:
    """The non-keyword speech of a stream, or None when the stream has no such list (a
    recording labelled by hand)."""
    p = Path(path)
    if not p.is_file():
        return None
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"start", "end"} <= set(reader.fieldnames):
            raise KwsInputError(f"{p}: expected a header with start,end")
        try:
            return [Span(float(r["start"]), float(r["end"])) for r in reader]
        except (TypeError, ValueError):
            raise KwsInputError(f"{p}: start/end must be numbers") from None


def make_stream(corpus: str, out: str | Path, labels: str | Path | None = None,
                split: str = "test", task: str = "auto", minutes: float = 60.0,
                snr_db: float = 10.0, noise: list[str] | None = None,
                fillers: list[str] | None = None, keywords: list[str] | None = None,
                filler_prob: float = 0.3, seed: int = 0, rate: int = 16000, *,
                filler_split: str | None = None,
                gap_s: tuple[float, float] = (1.0, 4.0),
                continuous: list[str] | None = None, inside_prob: float = 0.0,
                noise_split: str | None = None, filler_limit: int | None = None) -> dict:
    """`kws make-stream`: write the recording, its label file and the list of its
    non-keyword speech (kws.eval.longstream.speech_path); returns a summary.

    Keyword clips come from `split` of `corpus` ("all": every split, e.g. the few real
    recordings of a wake word that training never saw); filler speech from `filler_split`
    (default: `split`) of `corpus`, of every corpus in `fillers` and of the continuous
    speech recordings in `continuous` (split by file, kws.data.continuous). With
    `keywords`, the corpus' other words are filler speech too, and the keywords' clips in
    the filler corpora are left out (never labelled as filler). `inside_prob` of the
    keywords are said inside running speech. Noise comes from the noise files' span of
    `noise_split` (default: `split`, test when "all"), which training never mixes in.
    `filler_limit` decodes only that many filler clips, drawn by `seed` (a short stream
    from large corpora)."""
    from kws.data.continuous import continuous_rows, load_recordings
    from kws.data.noise import noise_files

    filler_split = filler_split or split
    if not 0 <= inside_prob <= 1:
        raise KwsInputError(f"--inside={inside_prob}: expected a share in [0, 1]")
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

    if filler_limit is not None and len(filler_rows) > filler_limit:
        keep = np.random.default_rng(seed).choice(len(filler_rows), filler_limit,
                                                  replace=False)
        filler_rows = [filler_rows[i] for i in sorted(keep)]

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
    utterances = load_recordings(continuous_rows(continuous or [], filler_split), rate,
                                 log=lambda *_: None)
    noise_paths = list(c.noise_files) + noise_files(noise or [])
    stream = build_stream(kw_clips, filler_clips, noise_paths, minutes * 60, snr_db, rate,
                          seed, gap_s=gap_s, filler_prob=filler_prob,
                          noise_split=noise_split or (split if split in SPLIT_SPANS
                                                      else "test"),
                          utterances=utterances, inside_prob=inside_prob)
    out = Path(out)
    save_audio(out, stream.audio, rate)
    label_path = Path(labels) if labels else out.with_suffix(".csv")
    write_labels(label_path, stream.events)
    write_speech(speech_path(label_path), stream.speech)
    return {"audio": str(out), "labels": str(label_path),
            "speech": str(speech_path(label_path)), "seconds": len(stream.audio) / rate,
            "keywords": len(stream.events), "distinct_keyword_clips": len(kw_clips),
            "filler_clips": len(filler_clips), "continuous_recordings": len(utterances),
            "inside_prob": inside_prob, "snr_db": snr_db, "seed": seed}
