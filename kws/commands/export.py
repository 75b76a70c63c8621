"""`kws export RUN --out BUNDLE`: a verified device bundle (ONNX, INT8, bundle.json)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _thresholds(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad threshold {part!r}: expected KEYWORD=VALUE") \
                from None
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    from kws.export.targets import available_targets

    p.add_argument("run", help="run directory (with model.pt) or model file")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--target", help=f"device profile: {', '.join(available_targets())} "
                   "or a .toml path")
    p.add_argument("--quantize", choices=("none", "dynamic", "static"),
                   help="INT8 quantization (default: the target's, else dynamic)")
    p.add_argument("--chunk-hops", type=int, help="hops per session call (default 10)")
    p.add_argument("--input", choices=("pcm", "pcm16", "features"),
                   help="what the graph takes: float PCM, 16-bit PCM, or MFCC frames")
    p.add_argument("--recurrent", choices=("fused", "unrolled"),
                   help="recurrent layers as ONNX's RNN/GRU/LSTM operators (fused: fastest "
                   "on CPU) or unrolled into per-frame MatMuls (for runtimes without those "
                   "operators); default: the target's, else fused")
    p.add_argument("--threads", type=int, help="onnxruntime threads on the device")
    p.add_argument("--ort-format", action="store_true", default=None,
                   help="also write the .ort model for onnxruntime's minimal builds")
    p.add_argument("--max-int8-drop", type=float, help="refuse INT8 if accuracy drops more "
                   "than this many points (default 0.5)")
    p.add_argument("--thresholds", type=_thresholds, help="KEYWORD=VALUE,... (default: the "
                   "run's eval/thresholds.json, else 0.5)")
    p.add_argument("--accuracy-clips", type=int, help="validation clips for float vs INT8 "
                   "accuracy (default: all)")
    p.add_argument("--json", action="store_true", help="print bundle.json")


def run(args: argparse.Namespace) -> int:
    from kws.export.bundle import ExportOptions, export_bundle
    from kws.export.targets import load_target

    opts = ExportOptions.from_target(
        load_target(args.target), quantize=args.quantize, chunk_hops=args.chunk_hops,
        input_kind=args.input, recurrent=args.recurrent, threads=args.threads,
        ort_format=args.ort_format,
        max_int8_drop=args.max_int8_drop, thresholds=args.thresholds,
        accuracy_clips=args.accuracy_clips)
    return write_checked("export", lambda log: export_bundle(args.run, args.out, opts,
                                                             log=log), args.json)


def write_checked(verb: str, build: Callable[[Callable[[str], None]], dict],
                  as_json: bool) -> int:
    """Run a bundle writer `build(log) -> bundle.json`: a failed check is one line on stderr
    and exit code 1 (nothing written); with --json the bundle.json is printed, not the log."""
    import sys

    from kws.cli import print_json
    from kws.export.bundle import ExportCheckFailed

    try:
        meta = build((lambda *_: None) if as_json else print)
    except ExportCheckFailed as exc:
        print(f"kws {verb}: check failed, bundle not written: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print_json(meta)
    return 0
