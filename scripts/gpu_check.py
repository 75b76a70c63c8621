#!/usr/bin/env python3
"""GPU check: on a CUDA machine, train a few hundred steps with mixed precision, check that
the first steps' losses match a CPU run of the same steps, and print clips/second.

    python scripts/gpu_check.py [--data CORPUS] [--config YAML] [--set KEY=VALUE]...
                                [--steps 300] [--compare 20] [--json OUT]

Without --data it synthesizes a small corpus first (kws synth). Exit code 1 if the losses
disagree beyond the tolerance; 0 with a note when there is no CUDA device.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="corpus (default: a synthetic one made now)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--compare", type=int, default=20, help="steps compared with the CPU")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="max relative difference of the compared losses")
    p.add_argument("--json", help="write the numbers here")
    p.add_argument("--config", help="a config YAML (default: the built-in default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config overrides, as for kws train")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check")
        return 0
    from kws.bench.train import record_steps
    from kws.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data:
            from kws.data.synth import synthesize_corpus

            data = str(Path(tmp) / "corpus")
            synthesize_corpus(["yes", "no", "up", "down", "left", "right"], data,
                              per_word=150, negatives=["bed", "cat", "tree"], seed=0)
        cfg = load_config(args.config, [f"data.corpus={data}", f"train.batch_size={args.batch}",
                                        "train.amp=true", *args.set])
        cpu, cpu_rate, params = record_steps(cfg, Path(tmp) / "cpu", "cpu", args.compare)
        gpu, gpu_rate, _ = record_steps(cfg, Path(tmp) / "gpu", "cuda", args.steps)
        rel = np.abs(np.array(gpu[:args.compare]) - np.array(cpu)) / np.abs(np.array(cpu))
        report = {"device": torch.cuda.get_device_name(0), "params": params,
                  "amp_dtype": cfg.train.amp_dtype, "steps": args.steps,
                  "cpu_loss": cpu, "gpu_loss": gpu[:args.compare],
                  "max_relative_loss_diff": float(rel.max()),
                  "clips_per_second_gpu": gpu_rate, "clips_per_second_cpu": cpu_rate,
                  "gpu_over_cpu": gpu_rate / cpu_rate if cpu_rate else None,
                  "final_gpu_loss": gpu[-1], "first_gpu_loss": gpu[0]}
    print(json.dumps({k: v for k, v in report.items() if not k.endswith("_loss")}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    ok = report["max_relative_loss_diff"] <= args.tolerance and gpu[-1] < gpu[0]
    print("gpu_check:", "ok" if ok else "FAILED (losses disagree or do not decrease)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
