"""`kws enroll PHRASE [PHRASE ...] --out BUNDLE`: a detector for typed phrases in about a
minute, no training: the shipped base encoder's phoneme posteriors searched for each
phrase, thresholds calibrated on synthetic renditions amid other speech (kws.export.enroll)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("phrases", nargs="+", help="phrases to detect, e.g. 'hey toaster' jarvis")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--target-fa", type=float, default=1.0,
                   help="false alarms per hour the thresholds allow, all phrases together")
    p.add_argument("--filler", action="append", default=[], metavar="CORPUS",
                   help="a corpus of other speech for the calibration stream (its training "
                   "split; recordings of the phrases are left out); repeatable")
    p.add_argument("--continuous", action="append", default=[], metavar="DIR",
                   help="continuous speech recordings for the calibration stream; repeatable")
    p.add_argument("--noise", action="append", default=[], metavar="PATH",
                   help="noise files or folders under the calibration stream; repeatable")
    p.add_argument("--data", metavar="PATH", help="a folder of corpora (e.g. ../shared/data): "
                   "every corpus in it as --filler, its continuous_speech/ as --continuous, "
                   "its noise/ as --noise")
    p.add_argument("--minutes", type=float, default=30.0,
                   help="length of the calibration stream (longer: thresholds nearer the "
                   "budget, slower)")
    p.add_argument("--per-phrase", type=int, default=40,
                   help="synthetic renditions of each phrase")
    p.add_argument("--engines", default="all",
                   help="speech engines for the renditions (all: every one installed)")
    p.add_argument("--encoder", default="encoder:base",
                   help="the phoneme encoder: encoder:NAME (shipped) or a model file")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads on the device")
    p.add_argument("--quantize", choices=("none", "dynamic"), default="dynamic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print bundle.json")


def data_folders(path: str) -> tuple[list[str], list[str], list[str]]:
    """The fillers, continuous speech and noise of a folder of corpora, as the recipes
    read one: every sub-folder `kws data` reads is a corpus, but for noise/, noise_extra/,
    rir/ and continuous_speech/."""
    from pathlib import Path

    from kws.data.corpora import read_corpus
    from kws.errors import KwsInputError

    root = Path(path)
    if not root.is_dir():
        raise KwsInputError(f"--data {path}: not a folder")
    special = {"noise", "noise_extra", "rir", "continuous_speech"}
    fillers = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in special):
        try:
            read_corpus(str(d))
        except KwsInputError:
            continue
        fillers.append(str(d))
    continuous = [str(root / "continuous_speech")] if (root / "continuous_speech").is_dir() \
        else []
    noise = [str(root / n) for n in ("noise", "noise_extra") if (root / n).is_dir()]
    return fillers, continuous, noise


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from kws.commands.export import write_checked
    from kws.data.voices import parse_engines
    from kws.export.enroll import EnrollOptions, enroll

    fillers, continuous, noise = data_folders(args.data) if args.data else ([], [], [])
    base = EnrollOptions()
    opts = EnrollOptions(encoder=args.encoder, target_fa=args.target_fa,
                         per_phrase=args.per_phrase, engines=parse_engines(args.engines),
                         fillers=[*fillers, *args.filler],
                         continuous=[*continuous, *args.continuous],
                         noise=[*noise, *args.noise], minutes=args.minutes, seed=args.seed,
                         export=replace(base.export, threads=args.threads,
                                        quantize=args.quantize))
    return write_checked("enroll", lambda log: enroll(args.phrases, args.out, opts, log=log),
                         args.json)
