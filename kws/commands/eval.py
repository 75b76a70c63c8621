"""`kws eval TARGET`: clip accuracy, per-class precision/recall, confusion matrix and the
most confused pairs; with --stream, misses, false alarms per hour, latency and the DET curve
on a long recording. TARGET is a run directory, a model file or an exported bundle."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="run directory, model file (.pt) or bundle directory")
    p.add_argument("--data", help="corpus to evaluate on (default: the run's own corpus)")
    p.add_argument("--split", choices=("train", "validation", "test"),
                   help="split (default: test, or validation when there is no test split)")
    p.add_argument("--stream", metavar="WAV", help="also evaluate on this long recording "
                   "(see kws make-stream)")
    p.add_argument("--labels", metavar="CSV", help="its label file (default: WAV with .csv)")
    p.add_argument("--negative-stream", action="append", default=[], metavar="WAV",
                   help="keyword-free audio streamed after --stream: its false alarms and "
                   "hours count on the false-alarm side (1 FA/h needs about ten hours); "
                   "repeatable")
    p.add_argument("--target-fa", type=float, default=1.0,
                   help="false alarms per hour to pick the thresholds for (default 1): one "
                   "shared (the DET point) and one per keyword, written to "
                   "OUT/thresholds.json, which kws export puts in the bundle")
    p.add_argument("--smoothing-ms", type=float, help="posterior smoothing window")
    p.add_argument("--refractory-ms", type=float, help="silence after a detection")
    p.add_argument("--no-clips", action="store_true", help="skip the clip evaluation")
    p.add_argument("--out", help="report folder (default: RUN/eval, or BUNDLE-eval beside it)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from kws.atomic import atomic_write_json
    from kws.cli import print_json
    from kws.errors import KwsInputError
    from kws.eval.clip_eval import eval_clips, format_clip_report, plot_confusion
    from kws.eval.stream_eval import format_stream_report, plot_det, stream_report
    from kws.eval.target import open_target

    if args.no_clips and not args.stream:
        raise KwsInputError("--no-clips needs --stream (nothing to evaluate)")
    if args.negative_stream and not args.stream:
        raise KwsInputError("--negative-stream needs --stream (the keywords' recording)")
    target = open_target(args.target)
    out = Path(args.out) if args.out else target.report_dir
    quiet = (lambda *_: None) if args.json else print
    result: dict = {"target": str(args.target)}
    clip = None
    if not args.no_clips:
        clip = eval_clips(target.config, target.labels, target.rule, args.split,
                          target.clip_posteriors, data=args.data, log=quiet)
        stem = f"clips_{clip['split']}"
        atomic_write_json(out / f"{stem}.json", clip)
        plot_confusion(clip, out / f"{stem}_confusion.png", f"{target.name} [{clip['split']}]")
        result["clips"] = clip
        quiet(format_clip_report(clip))
        quiet(f"report: {out / (stem + '.json')}")
    if args.stream:
        decision = target.decision
        if args.smoothing_ms is not None:
            decision = replace(decision, smoothing_ms=args.smoothing_ms)
        if args.refractory_ms is not None:
            decision = replace(decision, refractory_ms=args.refractory_ms)
        labels = args.labels or str(Path(args.stream).with_suffix(".csv"))
        report = stream_report(target, args.stream, labels, args.target_fa, decision, quiet,
                               negatives=args.negative_stream)
        stem = f"stream_{Path(args.stream).stem}"
        atomic_write_json(out / f"{stem}.json", report)
        plot_det(report, out / f"{stem}_det.png", f"{target.name} on {Path(args.stream).name}")
        atomic_write_json(out / "thresholds.json", {
            "thresholds": report["calibrated_thresholds"],
            "target_false_alarms_per_hour": args.target_fa, "stream": str(args.stream),
            "at_calibrated_thresholds": report["at_calibrated_thresholds"]})
        result["stream"] = report
        quiet(format_stream_report(report, clip["accuracy"] if clip else None))
        quiet(f"report: {out / (stem + '.json')}, DET curve: {out / (stem + '_det.png')}")
    if args.json:
        print_json(result)
    return 0
