#!/usr/bin/env python3
"""Assemble docs/benchmarks.md from the suites' Markdown tables in a results folder.

    python scripts/bench_doc.py RESULTS_DIR docs/benchmarks.md
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ORDER = ["runtime", "frontend", "train_cpu", "train_cuda", "gradients", "seed-table"]
INTRO = """# Benchmarks

Every number here comes from one command and compares against a baseline measured in the same
run (ratios: this machine is shared and noisy). Reproduce all of them with

    scripts/bench.sh --runs RUNS_DIR        # or one suite: kws bench SUITE --out DIR

`kws bench runtime|frontend|train|gradients|seed-table` each write SUITE.json and SUITE.md;
this page is their tables, assembled by `scripts/bench_doc.py`. The seed table's accuracy rows
read trained runs from RUNS_DIR, named `arabic_FAMILY_SIZING` and `sc_FAMILY_SIZING`
(FAMILY rnn|lstm|gru, SIZING hidden|params), trained with the recipes' configs
(`recipes/*/conf/FAMILY.yaml`, `--set model.hidden=128` for the equal-hidden LSTM and RNN);
`sc_*` runs are scored with `kws eval RUN --split test`, which writes
RUN/eval/clips_test.json.

The runtime table's trained rows (timed and scored on their test split: the accuracy each
export variant costs) come from `scripts/bench.sh --run RUN ... --bundle BUNDLE`: the
quickstart's GRU (`scripts/quickstart.sh --out Q`: `Q/gru`), three seeds of the
Speech Commands keyword head on the base encoder
(`kws train --config recipes/speech_commands/conf/base.yaml --data
../shared/data/speech_commands_mini --set data.task=sc12 --set train.seed=S
--set "data.noise=[../shared/data/noise]"
--set "data.continuous=[../shared/data/continuous_speech]" --out RUNS/sc_base_sS`, S = 0, 1,
2), and an enrolled phrase (`kws enroll jarvis --data ../shared/data --out B`); the table
names each by its folder.
"""


def main() -> int:
    results, doc = Path(sys.argv[1]), Path(sys.argv[2])
    parts = [INTRO]
    for name in ORDER:
        md = results / f"{name}.md"
        if not md.is_file():
            continue
        report = json.loads(md.with_suffix(".json").read_text())
        m = report.get("machine", {})
        parts.append(md.read_text().rstrip() + "\n")
        parts.append(f"_machine: {m.get('processor', '?')}, Python {m.get('python', '?')}, "
                     f"torch {m.get('torch', '?')}, onnxruntime {m.get('onnxruntime', '?')}_\n")
        png = md.with_suffix(".png")
        if png.is_file():
            doc.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, doc.parent / png.name)
            parts.append(f"![{name}]({png.name})\n")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(parts))
    print(f"bench_doc: wrote {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
