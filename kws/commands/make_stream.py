"""`kws make-stream CORPUS --out WAV`: a long test recording with its label file."""

from __future__ import annotations

import argparse


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MIN,MAX seconds") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 <= MIN <= MAX")
    return lo, hi


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("corpus", help="corpus whose split provides the keyword clips")
    p.add_argument("--out", required=True, help="recording to write (.wav or .flac)")
    p.add_argument("--labels", help="label CSV to write (default: OUT with .csv)")
    p.add_argument("--split", default="test", choices=("train", "validation", "test", "all"),
                   help="split the keyword clips come from (all: every split, e.g. real "
                   "recordings of a wake word trained on synthetic speech only)")
    p.add_argument("--filler-split", choices=("train", "validation", "test", "all"),
                   help="split the filler speech comes from (default: --split)")
    p.add_argument("--task", default="auto", choices=("auto", "sc12", "sc35", "words"))
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--snr", type=float, default=10.0, help="speech-to-noise ratio, dB")
    p.add_argument("--noise", action="append", default=[],
                   help="noise file or folder (repeatable; the corpus' own noise is used too)")
    p.add_argument("--filler", action="append", default=[],
                   help="corpus of non-keyword speech placed between keywords (repeatable)")
    p.add_argument("--continuous", action="append", default=[], metavar="PATH",
                   help="folder of continuous speech recordings (e.g. "
                   "../shared/data/continuous_speech; repeatable): filler speech too, split "
                   "by file like the stream")
    p.add_argument("--inside", type=float, default=0.0, metavar="SHARE",
                   help="share of keywords said inside running speech (a continuous "
                   "recording split at a pause, or filler words just before and after)")
    p.add_argument("--filler-prob", type=float, default=0.3,
                   help="share of placed clips that are non-keyword speech")
    p.add_argument("--keywords", help="comma-separated subset of keywords to place (the "
                   "corpus' other words become filler speech)")
    p.add_argument("--gap", type=_pair, default=(1.0, 4.0), metavar="MIN,MAX",
                   help="seconds between placed clips (default 1,4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from kws.cli import print_json
    from kws.eval.longstream import make_stream

    keywords = [k.strip() for k in args.keywords.split(",")] if args.keywords else None
    summary = make_stream(args.corpus, args.out, args.labels, args.split, args.task,
                          args.minutes, args.snr, args.noise, args.filler, keywords,
                          args.filler_prob, args.seed, filler_split=args.filler_split,
                          gap_s=args.gap, continuous=args.continuous,
                          inside_prob=args.inside)
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['seconds'] / 60:.1f} min, {summary['keywords']} keywords "
              f"({summary['distinct_keyword_clips']} distinct clips, "
              f"{summary['filler_clips']} filler clips, "
              f"{summary['continuous_recordings']} continuous recordings) at {args.snr} dB "
              f"SNR -> {summary['audio']} + {summary['labels']}")
    return 0
