"""`kws pretrain`: the base encoder (recipes/pretrain): its synthetic speech, transcripts of
continuous speech, CTC training on phonemes, and its phoneme error rate."""

from __future__ import annotations

import argparse
import sys


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = sub.add_parser("synth", help="synthetic speech for the encoder: frequent words and "
                       "random sentences from every speech engine installed")
    s.add_argument("--out", required=True, help="corpus folder to write")
    s.add_argument("--words", type=int, default=4000, help="vocabulary size (most frequent "
                   "English words the CMU dictionary has)")
    s.add_argument("--sentences", type=int, default=5000, help="random word sequences")
    s.add_argument("--per-text", type=int, default=1, help="renditions of each word/sentence")
    s.add_argument("--engines", default="all")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=0)
    t = sub.add_parser("transcribe", help="transcripts of continuous speech by Whisper tiny.en "
                       "(offline), as a CSV that `kws pretrain train` reads")
    t.add_argument("folder", help="folder of continuous speech recordings")
    t.add_argument("--out", required=True, help="CSV to write (file,text,split)")
    r = sub.add_parser("train", help="train the encoder with CTC (config: pretrain.* sources)")
    r.add_argument("--config", required=True)
    r.add_argument("--out", required=True, help="run directory")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--resume", action="store_true")
    e = sub.add_parser("eval", help="phoneme error rate of an encoder on held-out speech")
    e.add_argument("model", help="encoder model file (model.pt) or run directory")
    e.add_argument("--data", action="append", required=True,
                   help="corpus folder or transcript CSV (repeat)")
    e.add_argument("--split", default="test", help="which split of each (default test; "
                   "'all' for a test-only folder such as wakewords/jarvis)")
    e.add_argument("--json", action="store_true")
    h = sub.add_parser("ship", help="copy a trained encoder and its report into kws/encoders/ "
                       "(what `train.init: encoder:NAME` loads)")
    h.add_argument("run", help="pretraining run directory (summary.json, per*.json)")
    h.add_argument("--name", default="base")


def run(args: argparse.Namespace) -> int:
    return {"synth": _synth, "transcribe": _transcribe, "train": _train,
            "eval": _eval, "ship": _ship}[args.action](args)


def _synth(args: argparse.Namespace) -> int:
    from kws.data.phonemes import HELD_OUT_WORDS
    from kws.data.phonetic import random_sentences, vocabulary
    from kws.data.synth import synthesize_corpus
    from kws.data.voices import parse_engines

    words = [w for w in vocabulary(args.words + len(HELD_OUT_WORDS))
             if w not in HELD_OUT_WORDS][:args.words]
    sentences = random_sentences(words, args.sentences, args.seed)
    summary = synthesize_corpus(words, args.out, per_word=args.per_text, negatives=sentences,
                                per_negative=args.per_text, seed=args.seed,
                                noise_seconds=60.0, workers=args.workers,
                                engines=parse_engines(args.engines), log=_err)
    hours = sum(f["seconds"] for f in summary["files"]) / 3600
    print(f"{summary['clips']} utterances ({hours:.2f} h) of {len(words)} words and "
          f"{len(sentences)} sentences -> {args.out}")
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from kws.data.transcribe import transcribe_folder

    rows = transcribe_folder(args.folder, args.out, log=_err)
    print(f"{len(rows)} transcripts -> {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from kws.config import load_config
    from kws.train.pretrain import pretrain
    from kws.train.trainer import resume_config

    cfg = resume_config(args.out) if args.resume and not args.set else \
        load_config(args.config, args.set)
    summary = pretrain(cfg, args.out, resume=args.resume, log=_err)
    print(f"phoneme error rate {100 * summary['val_per']:.1f} % (validation) at epoch "
          f"{summary['best_epoch']}; model: {summary['model']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from kws.cli import print_json
    from kws.train.pretrain import evaluate_per

    report = evaluate_per(args.model, args.data, args.split)
    if args.json:
        print_json(report)
    else:
        for name, r in report["sets"].items():
            print(f"{name:<40} {r['utterances']:>6} utterances  PER {100 * r['per']:5.1f} %")
    return 0


def _ship(args: argparse.Namespace) -> int:
    from kws.encoders import ship

    report = ship(args.run, args.name)
    print(f"encoder {report['version']} -> kws/encoders/{args.name}.pt")
    return 0
