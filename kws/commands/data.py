"""`kws data PATH`: labels, splits, speakers, durations and unreadable files of a corpus."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="corpus folder or CSV manifest")
    p.add_argument("--task", default="auto", choices=("auto", "sc12", "sc35", "words"),
                   help="label set to report besides the raw words (default: auto)")
    p.add_argument("--noise", action="append", default=[],
                   help="noise file or folder for the _silence_ class (repeatable)")
    p.add_argument("--silence-fraction", type=float, default=0.1)
    p.add_argument("--no-decode", action="store_true",
                   help="list files only; skip decoding (faster, misses broken files)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from kws.cli import print_json
    from kws.data.noise import noise_files
    from kws.data.report import corpus_report, format_report

    report = corpus_report(args.path, task=args.task, decode=not args.no_decode,
                           silence_fraction=args.silence_fraction,
                           noise=noise_files(args.noise))
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0
