#!/usr/bin/env python3
"""Wake-word recipe helper: one summary from the stream reports `kws eval` wrote.

Usage: wakeword_report.py CALIBRATION_EVAL_DIR BUNDLE_EVAL_DIR PHRASE  (prints the JSON).
Every number is at the calibrated threshold (the bundle's) unless it says otherwise."""

import json
import sys
from pathlib import Path

cal_dir, test_dir, phrase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]


def read(folder: Path, stem: str) -> dict:
    return json.loads((folder / f"stream_{stem}.json").read_text())


cal, test = read(cal_dir, "calibration"), read(test_dir, "test")
neg, part = read(test_dir, "no_phrase"), read(test_dir, "partial")
at_cal = test["at_configured_thresholds"]
print(json.dumps({
    "phrase": phrase,
    "calibrated_threshold": test["configured_thresholds"][phrase],
    "calibration": {"hours": cal["duration_hours"],
                    "target_false_alarms_per_hour": cal["target_false_alarms_per_hour"],
                    "false_alarms_per_hour":
                        cal["at_calibrated_thresholds"]["false_alarms_per_hour"],
                    "miss_rate": cal["at_calibrated_thresholds"]["miss_rate"]},
    "test": {"hours": test["duration_hours"], "events": test["events"],
             "miss_rate": at_cal["miss_rate"],
             "false_alarms_per_hour": at_cal["false_alarms_per_hour"],
             "latency_median_s": at_cal["latency_median_s"],
             "misses": test["why"]["at_configured_thresholds"]["misses"],
             "false_alarms": test["why"]["at_configured_thresholds"]["false_alarms"],
             "misses_by_place": test["why"]["at_configured_thresholds"].get("by_place"),
             "at_1_fa_per_hour": {"threshold": test["threshold"],
                                  "miss_rate": test["at_threshold"]["miss_rate"],
                                  "false_alarms_per_hour":
                                      test["at_threshold"]["false_alarms_per_hour"]}},
    "no_phrase": {"hours": neg["duration_hours"],
                  "detections": neg["at_configured_thresholds"]["false_alarms"]},
    "confusables": {"hours": part["duration_hours"],
                    "detections": part["at_configured_thresholds"]["false_alarms"]},
}, indent=2))
