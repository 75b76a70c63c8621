"""`kws stream BUNDLE FILE|-`: stream a recording (or raw PCM from stdin) through the
detector in real-time-sized pieces, print each detection, then a summary. Needs only numpy,
onnxruntime, soundfile and soxr (matplotlib for --plot)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle directory (from kws export)")
    p.add_argument("input", help="audio file (any rate, mono or stereo), or - for raw PCM "
                   "on stdin")
    p.add_argument("--rate", type=int, help="sample rate of raw PCM on stdin "
                   "(default: the bundle's)")
    p.add_argument("--format", choices=("s16le", "f32le"), default="s16le",
                   help="raw PCM sample format on stdin")
    p.add_argument("--piece-ms", type=float, default=100.0,
                   help="size of each piece fed to the detector, like a microphone callback")
    p.add_argument("--thresholds", help="KEYWORD=VALUE,... overriding the bundle's")
    p.add_argument("--threshold", type=float, help="one threshold for every keyword")
    p.add_argument("--smoothing-ms", type=float)
    p.add_argument("--refractory-ms", type=float)
    p.add_argument("--reset-after-detection", action="store_true", default=None)
    p.add_argument("--threads", type=int, help="onnxruntime threads (default: the bundle's)")
    p.add_argument("--json", action="store_true",
                   help="JSON lines: one per detection, then one with the summary")
    p.add_argument("--plot", metavar="PNG", help="draw waveform, posteriors, thresholds and "
                   "detections")


def parse_thresholds(text: str | None, one: float | None, keywords: list[str]) -> dict:
    from kws.errors import KwsInputError

    out = dict.fromkeys(keywords, one) if one is not None else {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise KwsInputError(f"--thresholds: bad entry {part!r}, expected KEYWORD=VALUE") \
                from None
    for k, v in out.items():
        if not 0.0 < v <= 1.0:
            raise KwsInputError(f"--thresholds: {k}={v} out of range (0, 1]")
    return out


def make_detector(args: argparse.Namespace):
    from dataclasses import replace

    from kws.runtime import Detector, load_bundle

    bundle = load_bundle(args.bundle)
    det = Detector(bundle, threads=args.threads,
                   thresholds=parse_thresholds(args.thresholds, args.threshold,
                                               bundle.keywords) or None)
    changes = {k: v for k, v in (("smoothing_ms", args.smoothing_ms),
                                 ("refractory_ms", args.refractory_ms),
                                 ("reset_after_detection", args.reset_after_detection))
               if v is not None}
    if changes:
        det.decision = replace(det.decision, **changes)
    return det


def stdin_blocks(rate_in: int, rate: int, fmt: str, block: int):
    import numpy as np
    import soxr

    width = 2 if fmt == "s16le" else 4
    resampler = None if rate_in == rate else \
        soxr.ResampleStream(rate_in, rate, 1, dtype="float32", quality="HQ")
    leftover = b""
    while True:
        data = sys.stdin.buffer.read(block * width)
        last = len(data) < block * width
        data = leftover + data
        usable = len(data) - len(data) % width
        leftover = data[usable:]
        x = np.frombuffer(data[:usable], dtype="<i2" if fmt == "s16le" else "<f4")
        x = x.astype(np.float32) / 32768.0 if fmt == "s16le" else x.astype(np.float32)
        if resampler is not None:
            x = resampler.resample_chunk(x, last=last)
        if len(x):
            yield x
        if last:
            break


def run(args: argparse.Namespace) -> int:
    import json
    import time

    import numpy as np

    from kws.audio import iter_audio_blocks
    from kws.errors import KwsInputError
    from kws.runtime.memory import memory_mb

    det = make_detector(args)
    b = det.bundle
    piece = max(1, int(args.piece_ms * b.sample_rate / 1000))
    if args.input == "-":
        rate_in = args.rate or b.sample_rate
        if not 1000 <= rate_in <= 384000:
            raise KwsInputError(f"--rate {rate_in}: expected 1000..384000 Hz")
        blocks = stdin_blocks(rate_in, b.sample_rate, args.format, max(1, rate_in // 10))
    else:
        if args.rate:
            raise KwsInputError("--rate applies to raw PCM on stdin; a file states its rate")
        blocks = iter_audio_blocks(args.input, b.sample_rate)
    stream = det.stream()
    wave: list[np.ndarray] = []
    if args.plot:
        stream.recorded = []
    samples, cpu, events = 0, 0.0, []

    def feed(x: np.ndarray) -> None:
        nonlocal samples, cpu
        t0 = time.process_time()
        found = stream.feed(x)
        cpu += time.process_time() - t0
        samples += len(x)
        if args.plot:
            wave.append(x)
        for e in found:
            events.append(e)
            print(json.dumps(e.as_dict()) if args.json else
                  f"{e.time:9.2f} s  {e.keyword:<16} score {e.score:.3f}", flush=True)

    pending = np.zeros(0, np.float32)
    for block in blocks:
        pending = np.concatenate([pending, block]) if len(pending) else block
        while len(pending) >= piece:
            x, pending = pending[:piece], pending[piece:]
            feed(x)
    if len(pending):
        feed(pending)
    seconds = samples / b.sample_rate
    summary = {"audio_seconds": round(seconds, 3), "cpu_seconds": round(cpu, 4),
               "real_time_factor": round(cpu / seconds, 6) if seconds else None,
               "detections": len(events), "peak_memory_mb": memory_mb("VmHWM")}
    if args.json:
        print(json.dumps({"summary": summary}))
    else:
        print(f"{len(events)} detections in {seconds:.1f} s of audio; CPU {cpu:.3f} s, "
              f"real-time factor {summary['real_time_factor']}, peak memory "
              f"{summary['peak_memory_mb']} MB")
    if args.plot:
        from kws.runtime.plot import plot_stream

        post = stream.recorded
        plot_stream(args.plot, np.concatenate(wave) if wave else np.zeros(0, np.float32),
                    np.concatenate(post) if post else np.zeros((0, len(b.labels))), det,
                    events)
        if not args.json:
            print(f"plot: {args.plot}")
    return 0
