"""`kws data`: what a corpus holds and what is wrong with it, before anyone trains on it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from kws.data.corpora import read_corpus, with_task
from kws.data.manifest import SPLITS, order_labels, summarize
from kws.data.scan import scan_rows
from kws.data.silence import silence_rows


def corpus_report(path: str | Path, task: str = "auto", decode: bool = True,
                  silence_fraction: float = 0.1, noise: list[str] | None = None,
                  workers: int = 0) -> dict:
    """Counts per word/label and split, speakers, durations, noise files and bad files."""
    corpus = read_corpus(path)
    raw = summarize(corpus.rows)
    report = {
        "path": str(path), "layout": corpus.layout, "words": corpus.words,
        "clips": raw["clips"], "splits": raw["splits"], "speakers": raw["speakers"],
        "speakers_total": raw["speakers_total"], "per_word": raw["labels"],
        "noise_files": [Path(p).name for p in corpus.noise_files],
        "problems": [{"file": f, "reason": r} for f, r in corpus.problems],
    }
    if corpus.noise_files:
        report["noise_folder"] = "_background_noise_"
    if decode:
        durations, bad = scan_rows(corpus.rows, workers)
        good = np.array([d for d in durations if d > 0])
        report["bad_files"] = [{"file": row.path, "reason": reason.removeprefix(f"{row.path}: ")}
                               for row, reason in bad]
        if good.size:
            report["duration_s"] = {"min": round(float(good.min()), 3),
                                    "mean": round(float(good.mean()), 3),
                                    "max": round(float(good.max()), 3),
                                    "total_hours": round(float(good.sum()) / 3600, 3)}
    rows = with_task(corpus, task)
    noise_files = list(corpus.noise_files) + [str(p) for p in noise or []]
    if noise_files and silence_fraction > 0:
        rows = rows + silence_rows(rows, noise_files, silence_fraction, 1.0)
    per_label = Counter((r.label, r.split) for r in rows)
    labels = order_labels({r.label for r in rows})
    report["task"] = {
        "name": task, "labels": labels, "num_labels": len(labels),
        "per_label": {lab: {s: per_label[(lab, s)] for s in SPLITS if per_label[(lab, s)]}
                      for lab in labels},
    }
    return report


def format_report(report: dict) -> str:
    """The terminal table of a report."""
    lines = [f"{report['path']}: {report['layout']} layout, {report['clips']} clips, "
             f"{len(report['words'])} words, {report['speakers_total']} speakers"]
    splits = [s for s in SPLITS if s in report["splits"]]
    lines.append("splits: " + ", ".join(
        f"{s} {report['splits'][s]} clips / {report['speakers'].get(s, 0)} speakers"
        for s in splits))
    if "duration_s" in report:
        d = report["duration_s"]
        lines.append(f"durations: min {d['min']} s, mean {d['mean']} s, max {d['max']} s, "
                     f"total {d['total_hours']} h")
    width = max([len(w) for w in report["words"]] + [8])
    lines.append(f"{'word':<{width}} " + " ".join(f"{s:>10}" for s in splits))
    for word in report["words"]:
        counts = report["per_word"][word]
        lines.append(f"{word:<{width}} " + " ".join(f"{counts.get(s, 0):>10}" for s in splits))
    if report["noise_files"]:
        lines.append(f"_background_noise_: {len(report['noise_files'])} files "
                     f"({', '.join(report['noise_files'])})")
    task = report["task"]
    lines.append(f"task {task['name']}: {task['num_labels']} labels: "
                 + ", ".join(f"{lab} ({sum(c.values())})" for lab, c in task["per_label"].items()))
    bad = report.get("bad_files", []) + report.get("problems", [])
    lines.append(f"unreadable: {len(bad)}")
    lines.extend(f"  {b['file']}: {b['reason']}" for b in bad)
    return "\n".join(lines)
