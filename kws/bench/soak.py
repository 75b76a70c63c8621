"""The long-run soak: hours of hostile audio through one detector stream.

Every minute cycles through speech, digital silence, speech clipped at full scale, speech on a
DC offset, a burst of white noise at 0 dBFS, and speech over noise. Checked throughout: no
NaN/Inf in posteriors or recurrent state, posteriors within [0, 1], the state's largest value;
resident memory after the first tenth of the run against the end. At the end a keyword track
(3 s of silence, then speech) goes through the soaked stream and through a fresh one: the
detections must be the same, so months of audio do not change what the detector hears; the
largest difference of the two streams' posteriors at the end of the silence and over the
speech says how close it came.

Runs on numpy + onnxruntime only (a device can run it): `scripts/soak.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kws.runtime import Detector
from kws.runtime.memory import memory_mb

SEGMENT_S = 10.0
CONDITIONS = ("speech", "silence", "clipped", "dc_offset", "white_noise_0dbfs", "noisy_speech")


def hostile_segment(kind: str, speech: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of one condition (speech drawn from `speech` at a random offset)."""
    start = int(rng.integers(0, max(1, len(speech) - n)))
    s = np.resize(speech[start:start + n], n).astype(np.float32)
    if kind == "speech":
        return s
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "clipped":
        return np.clip(s * 30.0, -1.0, 1.0)
    if kind == "dc_offset":
        return np.clip(0.5 * s + 0.5, -1.0, 1.0)
    if kind == "white_noise_0dbfs":
        return rng.uniform(-1.0, 1.0, n).astype(np.float32)
    if kind == "noisy_speech":
        return np.clip(s + 0.05 * rng.standard_normal(n).astype(np.float32), -1.0, 1.0)
    raise ValueError(kind)


def _hear_track(stream, audio: np.ndarray, piece: int) -> tuple[list[tuple[str, float]],
                                                                 np.ndarray]:
    """Detections (times from the track's start) and the posteriors of the frames that
    start inside the track, so a soaked and a fresh stream's frames line up one to one."""
    b = stream.detector.bundle
    step = b.hop_length * b.frame_stride
    start = stream.received
    t0 = start / b.sample_rate
    first = -(-start // step) - stream.frames_out  # frames still straddling the start
    out, post = [], []
    stream.recorded = post
    for i in range(0, len(audio), piece):
        out += [(e.keyword, round(e.time - t0, 3)) for e in stream.feed(audio[i:i + piece])]
    stream.recorded = None
    return out, np.concatenate(post)[first:]


def soak(bundle: str | Path, hours: float, speech: np.ndarray, track: np.ndarray,
         seed: int = 0, log: Callable[[str], None] = print) -> dict:
    det = Detector(bundle, threads=1)
    rate = det.bundle.sample_rate
    piece = rate // 10
    stream = det.stream()
    stream.recorded = []
    rng = np.random.default_rng(seed)
    total = int(hours * 3600 / SEGMENT_S)
    seg = int(SEGMENT_S * rate)
    nonfinite, post_lo, post_hi, state_max, detections = 0, 1.0, 0.0, 0.0, 0
    rss_early, cpu0 = None, time.process_time()
    for k in range(total):
        audio = hostile_segment(CONDITIONS[k % len(CONDITIONS)], speech, seg, rng)
        for i in range(0, seg, piece):
            detections += len(stream.feed(audio[i:i + piece]))
            for p in stream.recorded:
                if not np.isfinite(p).all():
                    nonfinite += 1
                else:
                    post_lo, post_hi = min(post_lo, float(p.min())), max(post_hi, float(p.max()))
            stream.recorded.clear()
            for v in stream.states.values():
                if not np.isfinite(v).all():
                    nonfinite += 1
                state_max = max(state_max, float(np.abs(v).max()))
        if k + 1 == max(1, total // 10):
            rss_early = memory_mb() or 0.0
        if (k + 1) % max(1, total // 10) == 0:
            log(f"soak: {(k + 1) * SEGMENT_S / 3600:.2f} h, {detections} detections, "
                f"largest |state| {state_max:.3f}, RSS {memory_mb() or 0.0:.1f} MB")
    cpu = time.process_time() - cpu0
    stream.recorded = None
    rss_end = memory_mb() or 0.0
    fed = total * seg / rate
    lead = 3 * rate // (det.bundle.hop_length * det.bundle.frame_stride)  # frames
    keyword_track = np.concatenate([np.zeros(3 * rate, np.float32), track])
    soaked, post_soaked = _hear_track(stream, keyword_track, piece)
    fresh, post_fresh = _hear_track(det.stream(), keyword_track, piece)
    n = min(len(post_soaked), len(post_fresh))
    gap = np.abs(post_soaked[:n] - post_fresh[:n]).max(axis=1)
    return {"hours": fed / 3600, "conditions": list(CONDITIONS), "nonfinite": nonfinite,
            "posterior_range": [post_lo, post_hi], "largest_abs_state": state_max,
            "detections": detections, "rss_mb_after_first_tenth": rss_early,
            "rss_mb_end": rss_end, "rss_growth_mb": rss_end - (rss_early or rss_end),
            "cpu_seconds": cpu, "real_time_factor": cpu / fed,
            "track_detections_soaked": soaked, "track_detections_fresh": fresh,
            "track_matches_fresh": soaked == fresh,
            "track_posterior_gap_end_of_silence": float(gap[lead - 10:lead].max()),
            "track_posterior_gap_speech": float(gap[lead:].max())}


def forgetting(bundle: str | Path, speech: np.ndarray, trials: int = 4, seed: int = 0,
               soak_s: float = 120.0, track_s: float = 60.0) -> dict:
    """How long a stream remembers: for each kind of 3 s lead (silence, 0 dBFS noise,
    speech), a stream soaked in `soak_s` of the hostile conditions and a fresh one hear the
    same lead and `track_s` of speech; the largest posterior difference in four windows
    (end of the lead; 0-5 s, 5-30 s and after 30 s of the speech), worst of `trials`."""
    if track_s <= 31.0:
        raise ValueError(f"track_s={track_s}: must exceed 31 s (the last window starts 30 s "
                         "into the speech)")
    det = Detector(bundle, threads=1)
    rate = det.bundle.sample_rate
    per_s = rate // (det.bundle.hop_length * det.bundle.frame_stride)  # frames per second
    seg, rng = int(SEGMENT_S * rate), np.random.default_rng(seed)
    windows = {"end_of_lead": (3 * per_s - per_s // 10, 3 * per_s),
               "speech_0_5s": (3 * per_s, 8 * per_s), "speech_5_30s": (8 * per_s, 33 * per_s),
               "speech_after_30s": (33 * per_s, None)}
    out = {}
    for lead in ("silence", "white_noise_0dbfs", "speech"):
        worst = dict.fromkeys(windows, 0.0)
        for trial in range(trials):
            soaked = det.stream()
            for k in range(int(soak_s / SEGMENT_S)):
                soaked.feed(hostile_segment(CONDITIONS[(k + trial) % len(CONDITIONS)], speech,
                                            seg, rng))
            start = int(rng.integers(0, max(1, len(speech) - int(track_s * rate))))
            track = np.concatenate([hostile_segment(lead, speech, 3 * rate, rng),
                                    speech[start:start + int(track_s * rate)]])
            _, a = _hear_track(soaked, track, rate // 10)
            _, b = _hear_track(det.stream(), track, rate // 10)
            n = min(len(a), len(b))
            gap = np.abs(a[:n] - b[:n]).max(axis=1)
            for name, (lo, hi) in windows.items():
                worst[name] = max(worst[name], float(gap[lo:hi].max()))
        out[lead] = worst
    return out
