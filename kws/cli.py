"""The `kws` command. Verbs import their machinery lazily, so `kws stream` on a device
needs only numpy and onnxruntime.

Exit codes: 0 success, 2 bad input or usage (one line naming the file, key or value),
1 internal failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable

from kws.errors import KwsInputError

VERBS: dict[str, tuple[str, str]] = {
    # verb: (module with add_arguments(parser) and run(args) -> int, one-line help)
    "data": ("kws.commands.data", "summarize a corpus: labels, splits, speakers, bad files"),
    "synth": ("kws.commands.synth", "synthesize a keyword corpus (every speech engine installed)"),
    "pretrain": ("kws.commands.pretrain", "the base encoder: its speech, CTC phoneme "
                 "training, phoneme error rate"),
    "train": ("kws.commands.train", "train a model from a YAML config into a run directory"),
    "eval": ("kws.commands.eval", "clip accuracy, confusion matrix, per-class precision/recall"),
    "make-stream": ("kws.commands.make_stream", "build a long test recording + label file"),
    "mine": ("kws.commands.mine", "hard-negative mining: windows where a model fires on "
             "keyword-free audio"),
    "export": ("kws.commands.export", "export a run to a verified ONNX/INT8 device bundle"),
    "enroll": ("kws.commands.enroll", "a bundle for typed phrases, no training (phrase "
               "search on the base encoder)"),
    "stream": ("kws.commands.stream", "run a bundle over a recording or raw PCM on stdin"),
    "listen": ("kws.commands.listen", "live keyword spotting from the microphone"),
    "bench": ("kws.commands.bench", "benchmarks: runtime, frontend, train, gradients, "
              "seed-table"),
}


def _load(verb: str):
    import importlib

    return importlib.import_module(VERBS[verb][0])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kws", description="Keyword spotting on edge hardware: train, evaluate, export, "
        "stream.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        if only in (None, verb):
            _load(verb).add_arguments(p)
    return parser


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(verb if verb in VERBS else None)
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    run: Callable = _load(args.verb).run
    try:
        return int(run(args) or 0)
    except KwsInputError as exc:
        print(f"kws {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kws {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        traceback.print_exc()
        print(f"kws {args.verb}: internal error (see the traceback above)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
