"""PocketSphinx's keyword search on kws streams: the peer that needs no training, as a
yardstick for `kws enroll` (never a part of kws; `pip install pocketsphinx` for its en-us
model).

    python scripts/pocketsphinx_kws.py PHRASE STREAM.wav [--negative-stream WAV ...]
        [--thresholds 1e-30,1e-20,...] [--out report.json]

For each `-kws_threshold` the stream (and the keyword-free streams after it) is decoded in
100 ms pieces; a detection restarts the utterance, as in pocketsphinx's own keyword loop.
Detections are scored as `kws eval` scores a bundle (kws.eval.stream_eval.score: a hit within
the keyword's window plus the same tolerance), and the report gives, per threshold, the miss
rate and false alarms per hour, and the lowest miss rate within 1 false alarm/hour.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RATE = 16000
PIECE = 1600  # 100 ms


def detections(phrase: str, threshold: float, audio_path: str) -> tuple[list[float], float]:
    """Times (s) at which pocketsphinx reports `phrase` in the recording, and the CPU
    seconds it took."""
    from pocketsphinx import Decoder

    from kws.audio import load_audio

    pcm = (np.clip(load_audio(audio_path, RATE), -1, 1) * 32767).astype(np.int16)
    dec = Decoder(keyphrase=phrase, kws_threshold=threshold, logfn="/dev/null")
    started = time.process_time()
    times: list[float] = []
    dec.start_utt()
    for lo in range(0, len(pcm), PIECE):
        dec.process_raw(pcm[lo:lo + PIECE].tobytes(), False, False)
        if dec.hyp() is not None:
            times.append(min(lo + PIECE, len(pcm)) / RATE)
            dec.end_utt()
            dec.start_utt()
    dec.end_utt()
    return times, time.process_time() - started


def main() -> int:
    from kws.eval.longstream import read_labels
    from kws.eval.stream_eval import score

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phrase")
    p.add_argument("stream")
    p.add_argument("--negative-stream", action="append", default=[])
    p.add_argument("--thresholds", default="1e-40,1e-30,1e-25,1e-20,1e-15,1e-10,1e-5,1")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args()
    import soundfile as sf

    thresholds = [float(x) for x in args.thresholds.split(",")]
    files = [args.stream, *args.negative_stream]
    seconds = [sf.info(f).duration for f in files]
    events = read_labels(Path(args.stream).with_suffix(".csv"), seconds[0], [args.phrase])
    jobs = [(t, f) for t in thresholds for f in files]
    with ProcessPoolExecutor(args.workers) as pool:
        done = list(pool.map(detections, [args.phrase] * len(jobs), [t for t, _ in jobs],
                             [f for _, f in jobs]))
    hours = sum(seconds) / 3600
    rows = []
    for t in thresholds:
        dets: list[tuple[str, float]] = []
        cpu = 0.0
        offset = 0.0
        for (tt, f), (times, spent) in zip(jobs, done, strict=True):
            if tt != t:
                continue
            dets += [(args.phrase, offset + x) for x in times]
            offset += seconds[files.index(f)]
            cpu += spent
        s = score(dets, events, [args.phrase])
        n = s.hits[args.phrase] + s.misses[args.phrase]
        rows.append({"kws_threshold": t, "miss_rate": s.misses[args.phrase] / max(1, n),
                     "false_alarms": s.false_alarms[args.phrase],
                     "false_alarms_per_hour": s.false_alarms[args.phrase] / hours,
                     "real_time_factor": cpu / sum(seconds)})
        r = rows[-1]
        print(f"kws_threshold {t:g}: miss {100 * r['miss_rate']:.1f}%, "
              f"{r['false_alarms_per_hour']:.2f} FA/h, RTF {r['real_time_factor']:.3f}",
              flush=True)
    within = [r for r in rows if r["false_alarms_per_hour"] <= 1.0]
    best = min(within, key=lambda r: r["miss_rate"]) if within else None
    report = {"phrase": args.phrase, "stream": args.stream, "events": len(events),
              "negative_streams": args.negative_stream, "hours": hours, "sweep": rows,
              "at_1_fa_per_hour": best}
    print(json.dumps({"at_1_fa_per_hour": best, "hours": hours}))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
