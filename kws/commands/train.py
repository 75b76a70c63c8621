"""`kws train`: a run directory from one YAML config (plus --set overrides)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="YAML config (default: built-in defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.hidden=64 (repeatable)")
    p.add_argument("--data", help="corpus path (same as --set data.corpus=PATH)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last good checkpoint")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (also off when stderr is not a terminal)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from kws.cli import print_json
    from kws.config import load_config
    from kws.errors import KwsInputError
    from kws.train.trainer import TrainingError, resume_config, train

    overrides = list(args.overrides) + ([f"data.corpus={args.data}"] if args.data else [])
    if args.resume:
        if args.config or overrides:
            raise KwsInputError("--resume continues the run with its saved config.yaml; "
                                "drop --config/--set/--data")
        cfg = resume_config(args.out)
    else:
        cfg = load_config(args.config, overrides)
    try:
        progress = not args.no_progress and sys.stderr.isatty()
        summary = train(cfg, args.out, resume=args.resume, progress=progress)
    except TrainingError as exc:
        print(f"kws train: {exc}")
        return 1
    if args.json:
        print_json(summary)
    return 0
