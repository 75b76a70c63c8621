"""The long-run soak: hours of hostile audio through one detector stream.

Every minute cycles through speech, digital silence, speech clipped at full scale, speech on a
DC offset, a burst of white noise at 0 dBFS, and speech over noise. Checked throughout: no
NaN/Inf in posteriors or recurrent state, posteriors within [0, 1], the state's largest value;
resident memory after the first tenth of the run against the end. At the end a keyword track
(3 s of silence, then speech) goes through the soaked stream and through a fresh one: the
detections must be the same, so months of audio do not change what the detector hears.

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


def _detections(stream, audio: np.ndarray, piece: int, t0: float) -> list[tuple[str, float]]:
    out = []
    for i in range(0, len(audio), piece):
        out += [(e.keyword, round(e.time - t0, 3)) for e in stream.feed(audio[i:i + piece])]
    return out


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
    keyword_track = np.concatenate([np.zeros(3 * rate, np.float32), track])
    soaked = _detections(stream, keyword_track, piece, fed)
    fresh = _detections(det.stream(), keyword_track, piece, 0.0)
    return {"hours": fed / 3600, "conditions": list(CONDITIONS), "nonfinite": nonfinite,
            "posterior_range": [post_lo, post_hi], "largest_abs_state": state_max,
            "detections": detections, "rss_mb_after_first_tenth": rss_early,
            "rss_mb_end": rss_end, "rss_growth_mb": rss_end - (rss_early or rss_end),
            "cpu_seconds": cpu, "real_time_factor": cpu / fed,
            "track_detections_soaked": soaked, "track_detections_fresh": fresh,
            "track_matches_fresh": soaked == fresh}
