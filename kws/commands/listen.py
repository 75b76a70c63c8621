"""`kws listen BUNDLE`: the microphone demo. Opens the default input (or --device) with
sounddevice (PortAudio), resamples when the device does not offer the model's rate, shows a
live line of keyword scores, prints each detection, counts input overflows, and stops
cleanly on Ctrl-C (or after --seconds)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from kws.commands.stream import add_arguments as stream_arguments

    p.add_argument("bundle", help="bundle directory (from kws export)")
    p.add_argument("--device", help="input device name or index (default: the system's)")
    p.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    p.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    p.add_argument("--block-ms", type=float, default=100.0, help="microphone block size")
    shared = argparse.ArgumentParser(add_help=False)
    stream_arguments(shared)
    for action in shared._actions:
        if action.dest in ("thresholds", "threshold", "smoothing_ms", "refractory_ms",
                           "reset_after_detection", "threads", "json"):
            p._add_action(action)


def _open_input(sd, device, rate: int, block: int, callback):
    """An input stream at `rate` if the device offers it, else at its default rate."""
    try:
        return sd.InputStream(device=device, channels=1, samplerate=rate, blocksize=block,
                              dtype="float32", callback=callback), rate
    except sd.PortAudioError:
        info = sd.query_devices(device, "input")
        native = int(info["default_samplerate"])
        return sd.InputStream(device=device, channels=1, samplerate=native,
                              blocksize=int(block * native / rate), dtype="float32",
                              callback=callback), native


def run(args: argparse.Namespace) -> int:
    import json
    import queue
    import sys
    import time

    import numpy as np

    from kws.commands.stream import make_detector
    from kws.errors import KwsInputError

    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise KwsInputError(f"the microphone needs sounddevice and PortAudio "
                            f"(pip install 'kws[mic]'; Debian: libportaudio2): {exc}") from None
    if args.list_devices:
        print(sd.query_devices())
        return 0
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    try:
        sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as exc:
        raise KwsInputError(f"no input device{f' {args.device!r}' if args.device else ''} "
                            f"found ({exc}); see kws listen --list-devices") from None
    det = make_detector(args)
    b = det.bundle
    stream = det.stream()
    blocks: queue.Queue = queue.Queue()
    overflows = 0

    def callback(indata, frames, time_info, status) -> None:
        nonlocal overflows
        if status.input_overflow:
            overflows += 1
        blocks.put(indata[:, 0].copy())

    block = max(1, int(args.block_ms * b.sample_rate / 1000))
    try:
        mic, rate = _open_input(sd, device, b.sample_rate, block, callback)
    except sd.PortAudioError as exc:
        raise KwsInputError(f"cannot open the input device: {exc}") from None
    resampler = None
    if rate != b.sample_rate:
        import soxr

        resampler = soxr.ResampleStream(rate, b.sample_rate, 1, dtype="float32")
    live = sys.stdout.isatty() and not args.json
    kw_cols = [b.labels.index(k) for k in b.keywords]
    stream.recorded = []
    heard = 0
    start = time.monotonic()
    print(f"listening on {sd.query_devices(device, 'input')['name']} at {rate} Hz"
          f"{f' (resampled to {b.sample_rate})' if resampler else ''}; keywords: "
          f"{', '.join(b.keywords)}; Ctrl-C to stop", file=sys.stderr)
    try:
        with mic:
            while args.seconds is None or time.monotonic() - start < args.seconds:
                try:
                    x = blocks.get(timeout=0.2)
                except queue.Empty:
                    continue
                if resampler is not None:
                    x = resampler.resample_chunk(x)
                heard += len(x)
                for e in stream.feed(x):
                    if args.json:
                        print(json.dumps(e.as_dict()), flush=True)
                    else:
                        print(f"\r\033[K>>> {e.keyword.upper()} <<<  (score {e.score:.2f}, "
                              f"{e.time:.1f} s)", flush=True)
                if live and stream.recorded:
                    last = np.concatenate(stream.recorded)[-1, kw_cols]
                    stream.recorded.clear()
                    top = sorted(zip(b.keywords, last, strict=True), key=lambda kv: -kv[1])[:6]
                    bar = "  ".join(f"{k} {v:.2f}" for k, v in top)
                    print(f"\r\033[K{heard / b.sample_rate:7.1f} s | {bar} | overflows "
                          f"{overflows}", end="", flush=True)
                elif stream.recorded:
                    stream.recorded.clear()
    except KeyboardInterrupt:
        pass
    summary = {"audio_seconds": round(heard / b.sample_rate, 2), "overflows": overflows}
    print(("\n" if live else "") + (json.dumps({"summary": summary}) if args.json else
                                    f"stopped: {summary['audio_seconds']} s heard, "
                                    f"{overflows} input overflows"), flush=True)
    return 0
