"""Speech with its phonemes: the base encoder's training and test material.

Any corpus kws reads becomes utterances with text, and text becomes phonemes
(kws.data.phonemes):
- a keyword corpus (Speech Commands, FSDD, a folder per word): each clip says its label
  (FSDD's digits as words); filler labels (`_unknown_`, `_silence_`) are left out unless
  the corpus is synthetic, where synth.json says what every clip says;
- a synthetic corpus (`kws synth`, `kws pretrain synth`): synth.json's text of every clip;
- a transcript CSV (`file,text,split`, from `kws pretrain transcribe`): continuous speech.

Splits are the corpus' own (speaker lists, speaker hash, FSDD's indices, the continuous
speech hash), so the held-out speakers of every recipe stay held out of the encoder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kws.data.corpora import read_corpus
from kws.data.manifest import is_filler, resolve
from kws.data.phonemes import in_dictionary, phoneme_ids, words_of
from kws.errors import KwsInputError

TRANSCRIPT_FIELDS = ("file", "text", "split")


@dataclass(frozen=True)
class Utterance:
    """One recording and what it says."""

    path: str
    text: str
    split: str


def _synth_texts(root: Path) -> dict[str, str]:
    """resolved file path -> text, from a synthetic corpus' synth.json (empty if none)."""
    meta = root / "synth.json"
    if not meta.is_file():
        return {}
    try:
        files = json.loads(meta.read_text())["files"]
        return {resolve(root / f["file"]): f["text"] for f in files}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KwsInputError(f"{meta}: unreadable synth.json ({type(exc).__name__})") from None


def read_transcripts(path: str | Path) -> list[Utterance]:
    """A transcript CSV: `file` (absolute, or relative to the CSV), `text`, `split`."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not set(TRANSCRIPT_FIELDS) <= set(reader.fieldnames):
                raise KwsInputError(f"{p}: expected a CSV with columns "
                                    f"{','.join(TRANSCRIPT_FIELDS)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        raise KwsInputError(f"{p}: unreadable transcript CSV ({type(exc).__name__})") from None
    return [Utterance(resolve(p.parent / r["file"]), r["text"], r["split"])
            for r in rows if r["text"].strip()]


def utterances(path: str | Path) -> list[Utterance]:
    """The utterances of one corpus folder or transcript CSV (see the module doc)."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix.lower() == ".csv":
        with open(p, encoding="utf-8") as fh:
            header = fh.readline()
        if "text" in header.split(","):
            return read_transcripts(p)
    corpus = read_corpus(p)
    texts = _synth_texts(corpus.root)
    out = []
    for r in corpus.rows:
        text = texts.get(r.path) or ("" if is_filler(r.label) else r.label)
        if text:
            out.append(Utterance(r.path, text, r.split))
    if not out:
        raise KwsInputError(f"{p}: no clips with a text (a keyword corpus, a synthetic "
                            "corpus with synth.json, or a transcript CSV)")
    return out


def gather(paths: list[str], split: str, held_out: Sequence[str] = ()
           ) -> tuple[list[Utterance], list[list[int]]]:
    """The utterances of `split` ("all": every split) in all `paths`, with their phoneme
    indices (utterances whose text has no phonemes, or says a word of `held_out`, are left
    out)."""
    utts, targets = [], []
    banned = {w.lower() for w in held_out}
    for path in paths:
        for u in utterances(path):
            if split not in ("all", u.split) or banned & set(words_of(u.text)):
                continue
            ids = phoneme_ids(u.text)
            if ids:
                utts.append(u)
                targets.append(ids)
    return utts, targets


def vocabulary(count: int, minimum_letters: int = 2) -> list[str]:
    """The `count` most frequent English words (wordfreq's list, shipped in its wheel) that
    the CMU dictionary pronounces: words whose phoneme targets are known, not guessed."""
    from wordfreq import top_n_list

    out = []
    for w in top_n_list("en", count * 3):
        if w.isalpha() and w.isascii() and len(w) >= minimum_letters and in_dictionary(w):
            out.append(w)
            if len(out) == count:
                break
    return out


def random_sentences(words: list[str], count: int, seed: int, lo: int = 3,
                     hi: int = 9) -> list[str]:
    """`count` distinct word sequences of lo..hi words drawn from `words` with a Zipf-like
    weighting (frequent words more often, as in speech): connected speech with its
    coarticulation, which single words lack."""
    import numpy as np

    rng = np.random.default_rng([seed, 23])
    p = 1.0 / np.arange(1, len(words) + 1) ** 0.5
    p /= p.sum()
    out: dict[str, None] = {}
    while len(out) < count:
        n = int(rng.integers(lo, hi + 1))
        out[" ".join(words[i] for i in rng.choice(len(words), size=n, p=p))] = None
    return list(out)
