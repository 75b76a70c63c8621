"""`kws eval TARGET`: clip accuracy, per-class precision/recall, confusion matrix and the
most confused pairs, for a run directory, a model file or an exported bundle."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="run directory, model file (.pt) or bundle directory")
    p.add_argument("--data", help="corpus to evaluate on (default: the run's own corpus)")
    p.add_argument("--split", choices=("train", "validation", "test"),
                   help="split (default: test, or validation when there is no test split)")
    p.add_argument("--out", help="report folder (default: TARGET/eval or beside the file)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from kws.atomic import atomic_write_json
    from kws.cli import print_json
    from kws.eval.clip_eval import eval_clips, format_clip_report, plot_confusion
    from kws.eval.target import open_target

    target = open_target(args.target)
    report = eval_clips(target.config, target.labels, target.rule, args.split,
                        target.clip_posteriors, data=args.data,
                        log=(lambda *_: None) if args.json else print)
    report["target"] = str(args.target)
    out = Path(args.out) if args.out else target.report_dir
    stem = f"clips_{report['split']}"
    atomic_write_json(out / f"{stem}.json", report)
    plot_confusion(report, out / f"{stem}_confusion.png", f"{target.name} [{report['split']}]")
    if args.json:
        print_json(report)
    else:
        print(format_clip_report(report))
        print(f"report: {out / (stem + '.json')}")
    return 0
