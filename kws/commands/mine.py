"""`kws mine TARGET --audio PATH --out DIR`: hard-negative mining. Runs a run directory,
model file or bundle over keyword-free audio and writes the windows where it fires, for
the next round of training (`--set "data.hard_negatives=[DIR]"`)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="run directory, model file (.pt) or bundle directory")
    p.add_argument("--audio", action="append", required=True, metavar="PATH",
                   help="keyword-free audio: a recording (mined whole) or a folder of "
                   "recordings (its --split part); repeatable")
    p.add_argument("--split", default="train", choices=("train", "validation", "test", "all"),
                   help="which part of a folder to mine (default train: held-out audio "
                   "stays unseen)")
    p.add_argument("--out", required=True, help="folder of mined windows (kept across rounds)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="score at which a detection counts (default 0.5)")
    p.add_argument("--before", type=float, default=1.5, help="seconds kept before a detection")
    p.add_argument("--after", type=float, default=0.3, help="seconds kept after it")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from kws.cli import print_json
    from kws.errors import KwsInputError
    from kws.eval.mining import mine, recordings_to_mine
    from kws.eval.target import open_target

    if not 0 < args.threshold <= 1:
        raise KwsInputError(f"--threshold={args.threshold}: expected a score in (0, 1]")
    if args.before < 0 or args.after < 0 or args.before + args.after <= 0:
        raise KwsInputError("--before/--after: expected seconds >= 0, not both 0")
    target = open_target(args.target)
    summary = mine(target, recordings_to_mine(args.audio, args.split), args.out,
                   args.threshold, args.before, args.after,
                   log=(lambda *_: None) if args.json else print)
    if args.json:
        print_json(summary)
    return 0
