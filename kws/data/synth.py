"""Synthetic keyword corpus: many renditions of each word by the speech engines of
kws.data.voices (espeak-ng, Piper, RHVoice, Pico, Festival, Flite, MBROLA, Kokoro), as a
Speech Commands layout that the corpus readers accept.

Each rendition draws an engine, one of its voices and its prosody (rate, pitch, ...) from a
generator seeded by (seed, text, index), so a corpus is reproducible and independent of the
number of worker processes. Layout written:

    OUT/<word>/<voice>_nohash_<n>.wav      keywords
    OUT/_unknown_/<voice>_nohash_<n>.wav   negative words/phrases (filler class)
    OUT/_background_noise_/*.wav           generated noise (white, pink, brown, babble)
    OUT/synth.json                         what was asked and what every clip is

Splits follow the Speech Commands speaker hash over the speaker name (for espeak-ng the
language + variant, for the others engine, voice and pitch quarter), so validation and test
speakers are never heard in training.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write_json
from kws.audio import save_audio
from kws.data.espeak import ENGLISH_ACCENTS, Voice, list_languages, list_variants
from kws.data.manifest import UNKNOWN
from kws.data.parallel import map_in_chunks
from kws.data.voices import ENGINES, Backend, Speaker
from kws.data.voices.espeak import EspeakBackend, draw_voice, from_voice
from kws.errors import KwsInputError

SAMPLE_RATE = 16000
CHUNK = 150  # jobs per fresh process: espeak-ng keeps state between utterances
_BACKENDS: dict[str, Backend] = {}  # this process' engines, made on first use


@dataclass(frozen=True)
class Job:
    text: str
    folder: str
    index: int
    voice: Speaker

    @property
    def speaker(self) -> str:
        name = self.voice.voice if self.voice.engine == "espeak" else self.voice.name
        return re.sub(r"[^a-z0-9-]", "-", name.lower().replace("+", "-").replace("_", "-"))


def _backend(engine: str) -> Backend:
    if engine not in _BACKENDS:
        _BACKENDS[engine] = ENGINES[engine]()
    return _BACKENDS[engine]


def plan_jobs(texts: list[str], folder_of: dict[str, str], per_text: int, seed: int,
              backends: list[Backend]) -> list[Job]:
    """Every text `per_text` times, each rendition's engine and speaker drawn from a
    generator of (seed, text, n). With one engine none is drawn, so an espeak-ng corpus is
    the same as before there were others."""
    jobs = []
    for text in texts:
        for n in range(per_text):
            rng = np.random.default_rng([seed, zlib.crc32(text.encode()), n])
            backend = backends[int(rng.integers(len(backends)))] if len(backends) > 1 \
                else backends[0]
            jobs.append(Job(text, folder_of[text], n, backend.draw(rng)))
    return jobs


def trim(audio: np.ndarray, rate: int, margin_s: float = 0.05) -> np.ndarray:
    """Cut leading/trailing near-silence (< -50 dB of the peak), keeping a short margin."""
    loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max(initial=0.0) * 10 ** (-50 / 20))
    if loud.size == 0:  # nothing or digital silence (some voices say nothing for some text)
        return audio[:0]
    margin = int(margin_s * rate)
    return audio[max(0, loud[0] - margin):loud[-1] + margin + 1]


def render(job: Job) -> np.ndarray:
    """The job's audio at 16 kHz, float32, trimmed."""
    audio = _backend(job.voice.engine).render(job.text, job.voice, job.index)
    return trim(audio, SAMPLE_RATE)


def _render_chunk(jobs: list[Job], out: Path, asr_check: bool = False) -> list[dict]:
    from kws.data.intelligibility import Listener

    listener = Listener() if asr_check else None
    results = []
    for job in jobs:
        about = {"text": job.text, "engine": job.voice.engine, "voice": job.voice.voice}
        try:
            audio = render(job)
        except (RuntimeError, OSError) as exc:  # one bad rendition is reported, not fatal
            results.append({**about, "error": str(exc)[:200]})
            continue
        if audio.size < SAMPLE_RATE // 20:
            results.append({**about, "error": "no audio"})
            continue
        if listener is not None:
            heard, what = listener.hears(audio, job.text)
            if not heard:
                results.append({**about, "unheard": what})
                continue
        name = f"{job.speaker}_nohash_{job.index}.wav"
        rel = f"{job.folder}/{name}"
        save_audio(out / rel, audio, SAMPLE_RATE)
        pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
        results.append({"file": rel, **about, "speaker": job.speaker,
                        **dict(job.voice.params),
                        "seconds": round(audio.size / SAMPLE_RATE, 3),
                        "digest": hashlib.sha1(pcm.tobytes()).hexdigest()[:16]})
    return results


def colored_noise(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise, normalised to a 0.3 peak."""
    n = int(seconds * SAMPLE_RATE)
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1]
        spectrum /= f ** (0.5 if kind == "pink" else 1.0)
        x = np.fft.irfft(spectrum, n)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _render_audio_chunk(jobs: list[Job]) -> list[np.ndarray]:
    return [render(job) for job in jobs]


def babble(seconds: float, rng: np.random.Generator, talkers: int = 6,
           workers: int = 0) -> np.ndarray:
    """Overlapped synthetic speech: several talkers saying random syllables at once."""
    n = int(seconds * SAMPLE_RATE)
    syllables = ["ba", "ko", "ri", "tu", "ne", "sa", "lo", "mi", "da", "pe", "vo", "gi"]
    variants = list_variants()
    # ~3 syllables per 0.25 s per talker is more than enough text to fill the track
    jobs = [Job(" ".join("".join(rng.choice(syllables, size=int(rng.integers(1, 4))))
                         for _ in range(int(rng.integers(3, 9)))), "", i,
                from_voice(draw_voice(rng, list(ENGLISH_ACCENTS), variants)))
            for i in range(talkers * max(1, int(seconds)))]
    audios = map_in_chunks(_render_audio_chunk, jobs, workers, chunk_size=CHUNK,
                           fresh_process=True)
    mix = np.zeros(n, dtype=np.float32)
    per_talker = len(audios) // talkers
    for t in range(talkers):
        pos = int(rng.integers(0, SAMPLE_RATE))
        for audio in audios[t * per_talker:(t + 1) * per_talker]:
            if pos >= n:
                break
            end = min(n, pos + audio.size)
            mix[pos:end] += audio[:end - pos]
            pos = end + int(rng.integers(0, SAMPLE_RATE // 4))
    return (0.3 * mix / max(1e-6, float(np.abs(mix).max()))).astype(np.float32)


def write_noise(out: Path, seconds: float, seed: int, workers: int = 0) -> list[str]:
    rng = np.random.default_rng([seed, 7])
    folder = out / "_background_noise_"
    names = []
    for kind in ("white", "pink", "brown"):
        save_audio(folder / f"{kind}_noise.wav", colored_noise(kind, seconds, rng), SAMPLE_RATE)
        names.append(f"{kind}_noise.wav")
    save_audio(folder / "babble.wav", babble(seconds, rng, workers=workers), SAMPLE_RATE)
    names.append("babble.wav")
    return names


def resolve_languages(spec: str) -> list[str]:
    """`english` (the accents), `all` (every espeak-ng language), or a comma list."""
    available = list_languages()
    if spec == "english":
        return [x for x in ENGLISH_ACCENTS if x in available]
    if spec == "all":
        return available
    chosen = [x.strip().lower() for x in spec.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in available]
    if unknown:
        raise KwsInputError(f"--languages: unknown espeak-ng language(s) {', '.join(unknown)}")
    return chosen


def synthesize_corpus(words: list[str], out: str | Path, per_word: int = 200,
                      negatives: list[str] | None = None, per_negative: int | None = None,
                      seed: int = 0, languages: str = "english", noise_seconds: float = 30.0,
                      workers: int = 0, confusable: bool = False,
                      per_confusable: int | None = None,
                      engines: Sequence[str] = ("espeak",),
                      asr_check: bool = False, log: Callable[[str], None] = print) -> dict:
    """Write a synthetic keyword corpus to `out`; returns its summary (also in synth.json).

    `engines` (kws.data.voices; `kws synth` asks for every one) share the renditions evenly;
    those not installed here are reported once through `log` and skipped. `languages` are
    espeak-ng's. With `confusable`, the parts, rhymes and one-word swaps of every keyword
    (kws.data.confusables) join the negatives, `per_confusable` renditions each. With
    `asr_check`, renditions that a speech recogniser does not hear as their text are dropped
    and counted (kws.data.intelligibility)."""
    from kws.data.confusables import confusables

    words = [w.strip() for w in words if w.strip()]
    negatives = [w.strip() for w in (negatives or []) if w.strip()]
    confusing = []
    if confusable:
        taken = set(words) | set(negatives)
        for w in words:
            confusing += [c for c in confusables(w) if c not in taken and c not in confusing]
    if not words:
        raise KwsInputError("--words: give at least one keyword")
    bad = [w for w in words if w.startswith("_") or "/" in w]
    if bad:
        raise KwsInputError(f"--words: invalid keyword(s) {bad} (no '/' or leading '_')")
    overlap = set(words) & set(negatives)
    if overlap:
        raise KwsInputError(f"--negatives: {sorted(overlap)} are also keywords")
    if per_word < 1:
        raise KwsInputError(f"--per-word={per_word}: expected >= 1")
    out = Path(out)
    folder_of = {w: w for w in words} | dict.fromkeys([*negatives, *confusing], UNKNOWN)
    langs = resolve_languages(languages)
    backends = _backends(list(engines), langs, log)
    jobs = plan_jobs(words, folder_of, per_word, seed, backends)
    neg_jobs = plan_jobs(negatives, folder_of, per_negative or per_word, seed, backends)
    neg_jobs += plan_jobs(confusing, folder_of, per_confusable or per_negative or per_word,
                          seed, backends)
    if neg_jobs:
        # negatives share one folder: number them so file names stay unique
        jobs += [Job(j.text, j.folder, i, j.voice) for i, j in enumerate(neg_jobs)]
    if asr_check:
        from kws.data.intelligibility import missing

        if why := missing():
            raise KwsInputError(f"--asr-check: {why}")
    results = map_in_chunks(partial(_render_chunk, out=out, asr_check=asr_check), jobs,
                            workers, chunk_size=CHUNK, fresh_process=True)
    clips = [r for r in results if "file" in r]
    failed = [r for r in results if "error" in r]
    unheard = [r for r in results if "unheard" in r]
    noise = write_noise(out, noise_seconds, seed, workers) if noise_seconds > 0 else []
    summary = {"words": words, "negatives": negatives, "confusables": confusing,
               "per_word": per_word, "seed": seed, "engines": [b.name for b in backends],
               "languages": langs, "sample_rate": SAMPLE_RATE, "clips": len(clips),
               "by_engine": count_by_engine(clips), "asr_check": asr_check,
               "unheard": len(unheard), "unheard_by_engine": {
                   e: sum(v.values()) for e, v in count_by_engine(unheard).items()},
               "unheard_examples": unheard[:20],
               "distinct": len({c["digest"] for c in clips}), "failed": failed,
               "noise": noise, "files": clips}
    atomic_write_json(out / "synth.json", summary)
    return summary


FILLER_WORDS = ("please", "now", "okay", "then", "the", "light", "music", "turn", "and",
                "maybe", "just", "could", "you", "a", "little", "more", "after", "that",
                "we", "will", "see", "today", "here", "it", "is")


def _backends(names: list[str], languages: list[str],
              log: Callable[[str], None]) -> list[Backend]:
    """The engines of `names` that run here (the others reported once, in one line each)."""
    from kws.data.voices import find_engines

    present, missing = find_engines(names)
    for name, why in missing.items():
        log(f"engine {name} left out: {why}")
    if not present:
        raise KwsInputError(f"--engines={','.join(names)}: none of them runs here "
                            "(scripts/setup.sh --voices installs them)")
    backends = [EspeakBackend(languages) if n == "espeak" else ENGINES[n]() for n in present]
    for backend in backends:
        backend.prepare()
    return backends


def count_by_engine(clips: list[dict]) -> dict[str, dict[str, int]]:
    """Clips per engine and voice, for the corpus report."""
    out: dict[str, dict[str, int]] = {}
    for c in clips:
        voices = out.setdefault(c.get("engine", "espeak"), {})
        voices[c["voice"]] = voices.get(c["voice"], 0) + 1
    return {e: dict(sorted(v.items())) for e, v in sorted(out.items())}


def _words_chunk(jobs: list[Job]) -> list[np.ndarray]:
    return [render(job) for job in jobs]


def demo_sentences(keywords: list[str], out: str | Path, count: int = 12, seed: int = 0,
                   snr_db: float = 15.0, noise: np.ndarray | None = None,
                   workers: int = 0) -> dict:
    """A demo recording: `count` synthesized sentences, each with one keyword among filler
    words, over noise; writes OUT (audio) and OUT with .csv (keyword,start,end).

    Words are synthesized one by one (one voice per sentence) and joined with short pauses,
    so the label of each keyword is exact."""
    from kws.eval.longstream import Event, write_labels

    rng = np.random.default_rng([seed, 11])
    variants = ["", *list_variants()]
    sentences = []
    for i in range(count):
        voice = draw_voice(rng, list(ENGLISH_ACCENTS), variants)
        voice = from_voice(Voice(voice.language, voice.variant, min(voice.rate, 200),
                                 voice.pitch, voice.range, 100))
        words = list(rng.choice(FILLER_WORDS, size=int(rng.integers(2, 6))))
        kw = str(keywords[i % len(keywords)])
        words.insert(int(rng.integers(0, len(words) + 1)), kw)
        sentences.append((kw, [Job(w, "", i * 100 + j, voice) for j, w in enumerate(words)]))
    flat = [job for _, jobs in sentences for job in jobs]
    audios = iter(map_in_chunks(_words_chunk, flat, workers, chunk_size=CHUNK,
                                fresh_process=True))
    pieces, events, t = [np.zeros(SAMPLE_RATE // 2, np.float32)], [], 0.5
    for kw, jobs in sentences:
        for job in jobs:
            audio = next(audios)
            if job.text == kw:
                events.append(Event(kw, round(t, 3), round(t + audio.size / SAMPLE_RATE, 3)))
            gap = np.zeros(int(rng.uniform(0.08, 0.2) * SAMPLE_RATE), np.float32)
            pieces += [audio, gap]
            t += (audio.size + gap.size) / SAMPLE_RATE
        pause = np.zeros(int(rng.uniform(1.0, 2.0) * SAMPLE_RATE), np.float32)
        pieces.append(pause)
        t += pause.size / SAMPLE_RATE
    speech = np.concatenate(pieces)
    if noise is None:
        noise = colored_noise("pink", speech.size / SAMPLE_RATE + 1, rng)
    bed = np.resize(noise, speech.size)
    p_speech = float(np.mean(np.concatenate([p for p in pieces if p.any()]) ** 2))
    bed = bed * np.sqrt(p_speech / (float(np.mean(bed ** 2)) + 1e-12) / 10 ** (snr_db / 10))
    out = Path(out)
    save_audio(out, np.clip(speech + bed, -1, 1), SAMPLE_RATE)
    write_labels(out.with_suffix(".csv"), events)
    return {"audio": str(out), "labels": str(out.with_suffix(".csv")),
            "seconds": round(speech.size / SAMPLE_RATE, 2), "keywords": len(events)}
