"""`kws synth`: a synthetic keyword corpus from the speech engines installed here (the
built-in default data)."""

from __future__ import annotations

import argparse
import sys


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--words", required=True, type=_words, help="comma-separated keywords")
    p.add_argument("--negatives", type=_words, default=[],
                   help="comma-separated non-keyword words/phrases (the _unknown_ class)")
    p.add_argument("--per-word", type=int, default=200, help="renditions per keyword")
    p.add_argument("--per-negative", type=int, default=None,
                   help="renditions per negative (default: --per-word)")
    p.add_argument("--confusables", action="store_true",
                   help="add confusable negatives of each keyword: its parts, rhymes and "
                   "one-word swaps (what a wake word must not fire on)")
    p.add_argument("--per-confusable", type=int, default=None,
                   help="renditions per confusable negative (default: --per-negative)")
    p.add_argument("--out", required=True, help="output corpus folder (with --sentences: the "
                   "demo recording to write, its labels beside it as .csv)")
    p.add_argument("--sentences", type=int, default=0, metavar="N",
                   help="instead of a corpus, write a demo recording of N sentences, each "
                   "holding one of the words, over noise (espeak-ng voices)")
    p.add_argument("--engines", default="all",
                   help="comma list of speech engines (espeak, piper, rhvoice, pico, festival, "
                   "flite, mbrola, kokoro) or 'all' (default: every one installed here; "
                   "scripts/setup.sh --voices installs them)")
    p.add_argument("--asr-check", action="store_true",
                   help="drop renditions that a speech recogniser (Whisper tiny.en, offline) "
                   "does not hear as their text; the report counts them per engine")
    p.add_argument("--languages", default="english",
                   help="espeak-ng's: 'english' (accents), 'all' (every espeak-ng voice) or a "
                   "comma list")
    p.add_argument("--noise-seconds", type=float, default=30.0,
                   help="seconds of each generated noise file (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    import time

    from kws.cli import print_json
    from kws.data.synth import synthesize_corpus
    from kws.data.voices import parse_engines

    t0 = time.perf_counter()
    engines = parse_engines(args.engines)
    if args.sentences:
        from kws.data.synth import demo_sentences

        info = demo_sentences(args.words, args.out, args.sentences, seed=args.seed,
                              workers=args.workers)
        if args.json:
            print_json(info)
        else:
            print(f"{info['keywords']} sentences ({info['seconds']} s) -> {info['audio']} + "
                  f"{info['labels']}")
        return 0
    summary = synthesize_corpus(args.words, args.out, per_word=args.per_word,
                                negatives=args.negatives, per_negative=args.per_negative,
                                seed=args.seed, languages=args.languages,
                                noise_seconds=args.noise_seconds, workers=args.workers,
                                confusable=args.confusables,
                                per_confusable=args.per_confusable, engines=engines,
                                asr_check=args.asr_check,
                                log=lambda line: print(line, file=sys.stderr))
    seconds = time.perf_counter() - t0
    brief = {k: v for k, v in summary.items() if k != "files"} | {"seconds": round(seconds, 2)}
    if args.json:
        print_json(brief)
    else:
        print(f"{summary['clips']} clips ({summary['distinct']} distinct) of "
              f"{len(summary['words'])} words + {len(summary['negatives'])} negatives + "
              f"{len(summary['confusables'])} confusables in "
              f"{seconds:.1f} s -> {args.out}")
        for engine, voices in summary["by_engine"].items():
            each = ", ".join(f"{v} {n}" for v, n in voices.items()) if len(voices) <= 10 \
                else f"{len(voices)} voices (synth.json lists them)"
            print(f"  {engine}: {sum(voices.values())} clips, {each}")
        if summary["asr_check"]:
            print(f"  dropped as not heard by the recogniser: {summary['unheard']} (" +
                  ", ".join(f"{e} {n}" for e, n in summary["unheard_by_engine"].items()) + ")")
        for f in summary["failed"]:
            print(f"  failed: {f['text']!r} with {f['engine']} voice {f['voice']}: "
                  f"{f['error']}")
    return 0
