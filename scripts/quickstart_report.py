#!/usr/bin/env python3
"""Quickstart tables.

  quickstart_report.py detections TRUTH.csv DETECTIONS.jsonl   detections next to the truth
  quickstart_report.py summary OUT STREAM.jsonl                the final summary table
"""

import csv
import json
import sys
from pathlib import Path

TOLERANCE_S = 1.0


def read_jsonl(path: str) -> tuple[list[dict], dict]:
    lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    return [x for x in lines if "keyword" in x], next((x["summary"] for x in lines
                                                       if "summary" in x), {})


def detections(truth_csv: str, jsonl: str) -> None:
    with open(truth_csv, newline="") as f:
        truth = list(csv.DictReader(f))
    found, _ = read_jsonl(jsonl)
    used = set()
    print(f"{'truth':>24}   {'detected':>26}")
    hits = 0
    for t in truth:
        start, end = float(t["start"]), float(t["end"])
        match = next((i for i, d in enumerate(found) if i not in used and
                      d["keyword"] == t["keyword"] and start <= d["time"] <= end + TOLERANCE_S),
                     None)
        if match is None:
            print(f"{t['keyword']:>12} {start:7.2f} s   {'(missed)':>26}")
        else:
            used.add(match)
            hits += 1
            d = found[match]
            print(f"{t['keyword']:>12} {start:7.2f} s   {d['keyword']:>12} {d['time']:7.2f} s "
                  f"({d['score']:.2f})")
    for i, d in enumerate(found):
        if i not in used:
            print(f"{'(false alarm)':>24}   {d['keyword']:>12} {d['time']:7.2f} s "
                  f"({d['score']:.2f})")
    print(f"{hits}/{len(truth)} keywords detected, {len(found) - len(used)} false alarms")


def summary(out: str, jsonl: str) -> None:
    out = Path(out)
    bundle = json.loads((out / "bundle" / "bundle.json").read_text())
    report = json.loads((out / "gru" / "report.json").read_text())
    _, stream = read_jsonl(jsonl)
    v = bundle["verification"]
    rows = [
        ("clip accuracy, PyTorch (test split)", f"{100 * report['accuracy']:.1f} %"),
        ("clip accuracy, ONNX float (validation)", f"{100 * v['float_accuracy']:.1f} %"),
        ("clip accuracy, ONNX INT8 (validation)", f"{100 * v['int8_accuracy']:.1f} %"),
        (f"stream miss rate ({60 * report['stream_hours']:.0f} min, 10 dB SNR)",
         f"{100 * report['stream_miss_rate']:.1f} %"),
        ("stream false alarms per hour", f"{report['false_alarms_per_hour']:.2f}"),
        ("detection threshold (for <= 1 false alarm/hour)", f"{report['threshold']:.3f}"),
        ("model size float -> INT8",
         f"{v['float_size_bytes'] / 1024:.0f} KB -> {v['int8_size_bytes'] / 1024:.0f} KB"),
        ("real-time factor (kws stream, INT8, 1 thread)", f"{stream.get('real_time_factor')}"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print("-" * (width + 16))
    for k, val in rows:
        print(f"{k:<{width}}{val:>16}")
    print("-" * (width + 16))


if __name__ == "__main__":
    {"detections": detections, "summary": summary}[sys.argv[1]](*sys.argv[2:])
