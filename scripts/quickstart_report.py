#!/usr/bin/env python3
"""Quickstart tables.

  quickstart_report.py detections TRUTH.csv DETECTIONS.jsonl   detections next to the truth
  quickstart_report.py summary OUT STREAM.jsonl                the final summary table

Detections are matched to the truth by `kws eval --stream`'s own rule
(kws.eval.stream_eval.score), so the demo is scored the way every stream is.
"""

import json
import sys
from pathlib import Path

from kws.audio import audio_info
from kws.eval.longstream import read_labels
from kws.eval.stream_eval import score


def read_jsonl(path: str) -> tuple[list[dict], dict]:
    lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    return [x for x in lines if "keyword" in x], next((x["summary"] for x in lines
                                                       if "summary" in x), {})


def detections(truth_csv: str, jsonl: str) -> None:
    found, _ = read_jsonl(jsonl)
    wav = Path(truth_csv).with_suffix(".wav")
    rate, frames = audio_info(wav)
    keywords = sorted({d["keyword"] for d in found} |
                      {line.split(",")[0] for line in Path(truth_csv).read_text().splitlines()[1:]})
    truth = read_labels(truth_csv, frames / rate, keywords)
    scored = score([(d["keyword"], d["time"]) for d in found], truth, keywords)
    hit = {m: i for i, m in enumerate(scored.matched) if m >= 0}
    print(f"{'truth':>24}   {'detected':>26}")
    for i, t in enumerate(truth):
        if i in hit:
            d = found[hit[i]]
            print(f"{t.keyword:>12} {t.start:7.2f} s   {d['keyword']:>12} {d['time']:7.2f} s "
                  f"({d['score']:.2f})")
        else:
            print(f"{t.keyword:>12} {t.start:7.2f} s   {'(missed)':>26}")
    for d, m in zip(found, scored.matched, strict=True):
        if m < 0:
            print(f"{'(false alarm)':>24}   {d['keyword']:>12} {d['time']:7.2f} s "
                  f"({d['score']:.2f})")
    hits = sum(scored.hits.values())
    print(f"{hits}/{len(truth)} keywords detected, "
          f"{sum(scored.false_alarms.values())} false alarms")


def summary(out: str, jsonl: str) -> None:
    out = Path(out)
    bundle = json.loads((out / "bundle" / "bundle.json").read_text())
    report = json.loads((out / "gru" / "report.json").read_text())
    _, stream = read_jsonl(jsonl)
    v = bundle["verification"]
    minutes = 60 * report["stream_hours"]
    dft = report["at_1_fa_per_hour"]
    rows = [
        ("clip accuracy, PyTorch (test split)", f"{100 * report['accuracy']:.1f} %"),
        ("clip accuracy, ONNX float (validation)", f"{100 * v['float_accuracy']:.1f} %"),
        ("clip accuracy, ONNX INT8 (validation)", f"{100 * v['int8_accuracy']:.1f} %"),
        (f"stream miss rate ({minutes:.0f} min, 10 dB SNR), calibrated thresholds",
         f"{100 * report['stream_miss_rate']:.1f} %"),
        ("stream false alarms per hour, calibrated thresholds",
         f"{report['false_alarms_per_hour']:.2f}"),
        ("stream miss rate at 1 false alarm/hour (DET curve)", f"{100 * dft['miss_rate']:.1f} %"),
        ("model size float -> INT8",
         f"{v['float_size_bytes'] / 1024:.0f} KB -> {v['int8_size_bytes'] / 1024:.0f} KB"),
        ("real-time factor (kws stream, INT8, 1 thread)", f"{stream.get('real_time_factor')}"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print("-" * (width + 12))
    for k, val in rows:
        print(f"{k:<{width}}{val:>12}")
    print("-" * (width + 12))


if __name__ == "__main__":
    {"detections": detections, "summary": summary}[sys.argv[1]](*sys.argv[2:])
