#!/usr/bin/env python3
"""Recipe helper: RUN/report.json from the reports `kws eval` wrote: the run's clip accuracy
(RUN/eval/clips_*.json) and the bundle on the test stream (BUNDLE_EVAL/stream_NAME.json),
at the thresholds calibrated on the calibration stream (the bundle's) and at the shared
threshold for 1 false alarm/hour picked on the test stream itself (the DET curve's point).

Usage: eval_summary.py RUN BUNDLE_EVAL STREAM_WAV  (prints the JSON)."""

import json
import sys
from pathlib import Path

run, bundle_eval, stream = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
clips = sorted((run / "eval").glob("clips_*.json"), key=lambda p: p.stat().st_mtime)[-1]
clip = json.loads(clips.read_text())
s = json.loads((bundle_eval / f"stream_{stream.stem}.json").read_text())
cal, at = s["at_configured_thresholds"], s["at_threshold"]
why = s["why"]["at_configured_thresholds"]
print(json.dumps({
    "accuracy": clip["accuracy"], "split": clip["split"], "clips": clip["clips"],
    "stream": str(stream), "stream_hours": s["duration_hours"], "events": s["events"],
    "calibrated_thresholds": s["configured_thresholds"],
    "stream_miss_rate": cal["miss_rate"], "false_alarms_per_hour": cal["false_alarms_per_hour"],
    "latency_median_s": cal["latency_median_s"], "latency_p95_s": cal["latency_p95_s"],
    "misses": why["misses"], "false_alarms": why["false_alarms"],
    "misses_by_place": why.get("by_place"),
    "at_1_fa_per_hour": {"threshold": s["threshold"], "miss_rate": at["miss_rate"],
                         "false_alarms_per_hour": at["false_alarms_per_hour"]},
    "per_keyword_miss_rate": {k: v["miss_rate"] for k, v in s["per_keyword"].items()},
}, indent=2))
