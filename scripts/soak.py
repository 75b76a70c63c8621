#!/usr/bin/env python3
"""Soak a bundle: hours of hostile audio through one stream (see kws/bench/soak.py).

    python scripts/soak.py BUNDLE --speech WAV [--track WAV] [--hours 10] [--json OUT]
    python scripts/soak.py BUNDLE --speech WAV --forgetting   # how long the stream remembers

--speech: a recording to draw speech from (e.g. one from `kws make-stream`); --track: the
keyword track played at the end (default: the first minute of --speech). Exit code 1 when a
check fails: non-finite values, posteriors outside [0, 1], resident memory growing by more
than 5 MB after the first tenth, or the soaked stream hearing the track differently.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("--speech", required=True)
    p.add_argument("--track")
    p.add_argument("--hours", type=float, default=10.0)
    p.add_argument("--json")
    p.add_argument("--forgetting", action="store_true",
                   help="only measure how long a stream remembers hostile audio")
    args = p.parse_args()
    from kws.audio import load_audio
    from kws.bench.soak import forgetting, soak
    from kws.runtime import load_bundle

    rate = load_bundle(args.bundle).sample_rate
    speech = load_audio(args.speech, rate)
    if args.forgetting:
        print(json.dumps(forgetting(args.bundle, speech), indent=2))
        return 0
    track = load_audio(args.track, rate) if args.track else speech[:60 * rate]
    report = soak(args.bundle, args.hours, speech, track)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    ok = (report["nonfinite"] == 0 and report["posterior_range"][0] >= 0.0
          and report["posterior_range"][1] <= 1.0 + 1e-6 and report["rss_growth_mb"] <= 5.0
          and report["track_matches_fresh"])
    shown = {k: v for k, v in report.items() if not k.startswith("track_detections")}
    print(json.dumps(shown, indent=2))
    print("soak:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
