"""`kws bench SUITE [--out DIR]`: reproducible speed and accuracy numbers, each against a
baseline measured in the same run; writes DIR/SUITE.json and DIR/SUITE.md."""

from __future__ import annotations

import argparse
from pathlib import Path

SUITES = {
    "runtime": "streaming detector cost vs eager PyTorch, sliding window and the compute floor",
    "frontend": "streaming MFCC throughput vs librosa and torchaudio",
    "train": "training clips/second per family; data pipeline vs model step",
    "gradients": "the vanishing-gradient claim on a long-range task, per family",
    "seed-table": "the seed's RNN / LSTM / GRU comparison table, measured",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", choices=list(SUITES), help="; ".join(f"{k}: {v}"
                                                         for k, v in SUITES.items()))
    p.add_argument("--out", default="bench", help="folder for SUITE.json and SUITE.md")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="seconds of audio (runtime, frontend)")
    p.add_argument("--device", default="auto", help="train, gradients: cpu, cuda or auto")
    p.add_argument("--quick", action="store_true",
                   help="a reduced run (fewer families, lengths, steps) to check the suite")
    p.add_argument("--runs", help="seed-table: folder of trained runs named "
                   "DATASET_FAMILY_SIZING (see docs/benchmarks.md)")
    p.add_argument("--run", action="append", help="runtime: a trained run directory whose "
                   "export variants are timed and scored for accuracy (repeatable)")
    p.add_argument("--bundle", action="append", help="runtime: a bundle to time as it is "
                   "and break down, e.g. from kws enroll (repeatable)")
    p.add_argument("--split", default="validation", choices=["train", "validation", "test"],
                   help="runtime: the split of each --run's corpus that accuracy is "
                   "measured on (default validation)")
    p.add_argument("--data", help="runtime: score the --run variants on this corpus instead "
                   "of each run's own")


def run(args: argparse.Namespace) -> int:
    import importlib

    from kws.errors import KwsInputError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"kws.bench.{args.suite.replace('-', '_')}")
    if args.seconds <= 0:
        raise KwsInputError(f"--seconds {args.seconds}: expected a positive number")
    module.main(args, out)
    table = max(out.glob("*.md"), key=lambda p: p.stat().st_mtime)  # the one just written
    print(f"kws bench {args.suite}: wrote {table} and {table.with_suffix('.json').name}")
    print(table.read_text())
    return 0
