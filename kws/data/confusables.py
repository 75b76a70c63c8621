"""Confusable negatives for a wake phrase: what a detector must hear and NOT fire on.

A wake-word model trained only on "the phrase" versus "unrelated speech" learns to fire on
anything that sounds a bit like the phrase: a part of it ("hey" alone, "toaster" alone), a
word that rhymes ("coaster"), the phrase with one word swapped ("hey taylor"). Synthesizing
those as negatives is what makes a detector reject partial phrases. Spelling is the only
input (espeak-ng pronounces whatever we write), so the edits work on letters: vowel groups
approximate syllables, leading consonants approximate the onset.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "w", "sh", "ch", "br",
          "tr", "st", "pl", "gr")
ENDINGS = ("a", "o", "er", "en", "y", "in", "el", "ow", "ing")
# words that pair with part of a phrase in everyday speech ("hey there", "my toaster")
LEADS = ("hey", "oh", "my", "the", "a", "so")
TAILS = ("there", "you", "now", "it", "taylor", "tomorrow")
_VOWELS = re.compile(r"[aeiouy]+")


def syllable_split(word: str) -> list[str]:
    """Approximate syllables: cut between vowel groups, giving a single consonant to the
    right part and the first of a cluster to the left ("mar|vin", "shei|la", "toas|ter")."""
    groups = list(_VOWELS.finditer(word))
    if len(groups) < 2:
        return [word]
    cuts = []
    for left, right in itertools.pairwise(groups):
        cluster = right.start() - left.end()
        cuts.append(left.end() + (1 if cluster >= 2 else 0))
    bounds = [0, *cuts, len(word)]
    return [word[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _onset(word: str) -> str:
    m = _VOWELS.search(word)
    return word[:m.start()] if m else word


def _rhymes(word: str) -> list[str]:
    """The word with its onset replaced ("toaster" -> "boaster", "coaster" ...)."""
    onset = _onset(word)
    rest = word[len(onset):]
    if len(rest) < 2:
        return []
    return [o + rest for o in ONSETS if o != onset]


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: items (letters, phonemes) inserted, deleted or replaced."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _endings(word: str) -> list[str]:
    """The word with its last syllable replaced ("marvin" -> "marva", "marvel" ...), only
    where that changes more than one letter: "toaser" for "toaster" is the word itself to a
    listener, and training it as a negative would teach the model to miss the phrase."""
    parts = syllable_split(word)
    if len(parts) < 2:
        return []
    stem = "".join(parts[:-1])
    return [stem + e for e in ENDINGS if edit_distance(stem + e, word) >= 2]


def partials(phrase: str) -> list[str]:
    """What a user says when saying part of the phrase: its shorter word runs ("hey",
    "toaster"), the phrase cut inside its last word ("hey toas"), that word's end ("ter")."""
    words = phrase.lower().split()
    if not words:
        return []
    n = len(words)
    out = [" ".join(words[i:i + size]) for size in range(n - 1, 0, -1)
           for i in range(n - size + 1)]
    syllables = syllable_split(words[-1])
    out += [" ".join([*words[:-1], "".join(syllables[:k])]) for k in range(1, len(syllables))]
    out += ["".join(syllables[k:]) for k in range(1, len(syllables))]
    return out


def sound_alikes(phrase: str) -> list[str]:
    """The phrase with one word's end or onset changed ("hey toasa", "hey roaster")."""
    words = phrase.lower().split()
    return [" ".join([*words[:i], variant, *words[i + 1:]])
            for i, w in enumerate(words) for variant in _endings(w)[:5] + _rhymes(w)[::3]]


def swaps(phrase: str) -> list[str]:
    """The phrase with its first or last word swapped ("my toaster", "hey there"); none
    for a single word (another word beside it leaves the phrase whole: still a hit)."""
    words = phrase.lower().split()
    if len(words) < 2:
        return []
    out = [" ".join([lead, *words[1:]]) for lead in LEADS if lead != words[0]]
    return out + [" ".join([*words[:-1], tail]) for tail in TAILS if tail != words[-1]]


def confusables(phrase: str, limit: int = 60) -> list[str]:
    """Confusable negatives for `phrase`: its parts, sound-alikes and swaps, interleaved so
    a small limit still holds some of each; never the phrase itself."""
    whole = " ".join(phrase.lower().split())
    out: list[str] = []
    for text in _interleave(partials(phrase), sound_alikes(phrase), swaps(phrase)):
        if text and text != whole and text not in out:
            out.append(text)
    return out[:limit]


def _interleave(*lists: list[str]) -> list[str]:
    out = []
    for i in range(max(map(len, lists), default=0)):
        out += [x[i] for x in lists if i < len(x)]
    return out
