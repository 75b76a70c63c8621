#!/usr/bin/env python3
"""Recipe helper: RUN/report.json from the reports `kws eval RUN --stream WAV` wrote.

Usage: eval_summary.py RUN STREAM_WAV  (prints the JSON)."""

import json
import sys
from pathlib import Path

run, stream = Path(sys.argv[1]), Path(sys.argv[2])
clips = sorted((run / "eval").glob("clips_*.json"), key=lambda p: p.stat().st_mtime)[-1]
clip = json.loads(clips.read_text())
s = json.loads((run / "eval" / f"stream_{stream.stem}.json").read_text())
at = s["at_threshold"]
print(json.dumps({
    "accuracy": clip["accuracy"], "split": clip["split"], "clips": clip["clips"],
    "stream": str(stream), "stream_hours": s["duration_hours"],
    "threshold": s["threshold"], "stream_miss_rate": at["miss_rate"],
    "false_alarms_per_hour": at["false_alarms_per_hour"],
    "latency_median_s": at["latency_median_s"], "latency_p95_s": at["latency_p95_s"],
    "per_keyword_miss_rate": {k: v["miss_rate"] for k, v in s["per_keyword"].items()},
}, indent=2))
