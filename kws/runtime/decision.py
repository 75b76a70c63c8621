"""Decision logic, separate from the network: posteriors in, keyword detections out.

Per frame, for every keyword (filler classes such as `_silence_` and `_unknown_` are never
reported):
1. smoothing: the posterior is averaged over the last `smoothing_ms` (a moving average).
   Longer windows suppress one-frame spikes (fewer false alarms) but delay and lower the
   peak of short keywords (more misses, more latency);
2. threshold: a detection fires when the smoothed posterior reaches the keyword's
   threshold. Higher thresholds trade misses for false alarms; `kws eval` picks the
   threshold for a target false-alarm rate and export writes it into the bundle;
3. re-arm and refractory time: after a detection, nothing fires until every keyword's
   score has dropped below its threshold (one excursion of the score, one event, however
   long it stays high) and `refractory_ms` has passed. Too long a refractory time hides a
   keyword said twice quickly;
4. optional state reset after a detection: the stream's recurrent state is cleared so the
   next keyword starts from a fresh state; it costs nothing but forgets the context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DecisionConfig:
    thresholds: dict[str, float] = field(default_factory=dict)  # keyword -> threshold
    smoothing_ms: float = 50.0
    refractory_ms: float = 1000.0
    reset_after_detection: bool = False
    default_threshold: float = 0.5

    @classmethod
    def from_bundle(cls, decision: dict, thresholds: dict[str, float]) -> DecisionConfig:
        def num(key: str, default: float) -> float:
            v = decision.get(key, default)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) \
                and v >= 0 else default

        return cls(thresholds=dict(thresholds), smoothing_ms=num("smoothing_ms", 50.0),
                   refractory_ms=num("refractory_ms", 1000.0),
                   reset_after_detection=bool(decision.get("reset_after_detection", False)))


@dataclass(frozen=True)
class Detection:
    keyword: str
    score: float
    time: float   # seconds from the start of the stream (end of the frame that fired)
    frame: int

    def as_dict(self) -> dict:
        return {"keyword": self.keyword, "score": round(self.score, 4),
                "time": round(self.time, 3), "frame": self.frame}


class Decider:
    """Keeps the smoothing window and refractory timer of one stream."""

    def __init__(self, cfg: DecisionConfig, labels: list[str], hop_seconds: float,
                 window_seconds: float) -> None:
        self.cfg = cfg
        self.labels = labels
        self.keyword_idx = np.array([i for i, x in enumerate(labels) if not x.startswith("_")],
                                    dtype=np.int64)
        idx = self.keyword_idx  # a slice where the keywords' columns are contiguous (a view)
        self.keyword_cols: slice | np.ndarray = slice(int(idx[0]), int(idx[-1]) + 1) \
            if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[-1] + 1)) else idx
        self.thresholds = np.array([cfg.thresholds.get(labels[i], cfg.default_threshold)
                                    for i in self.keyword_idx], dtype=np.float32)
        self.min_threshold = float(self.thresholds.min()) if len(self.thresholds) else 1.0
        self.hop = hop_seconds
        self.window = window_seconds
        self.smooth = max(1, round(cfg.smoothing_ms / 1000 / hop_seconds))
        self.refractory = round(cfg.refractory_ms / 1000 / hop_seconds)
        self.reset()

    def reset(self) -> None:
        # the last smooth - 1 frames' keyword posteriors, zeros before the stream's start
        self.history = np.zeros((self.smooth - 1, len(self.keyword_idx)), dtype=np.float32)
        self.history_peak = 0.0  # >= every value in `history`
        self.seen = 0            # frames so far: the average's divisor until the window fills
        self.blocked_until = -1
        self.armed = True

    def smoothed(self, posteriors: np.ndarray) -> np.ndarray:
        """Moving average of the keyword posteriors, continuing the previous call's window.

        Each frame's window is summed term by term in time order over the zero-padded
        history (a window of a few frames: a few vector additions), so a frame's average is
        the same float whichever call it arrived in; the divisor is the number of frames the
        stream has had, up to the window."""
        kw = posteriors[:, self.keyword_cols].astype(np.float32, copy=False)
        n = len(kw)
        full = np.concatenate([self.history, kw]) if self.smooth > 1 else kw
        out = full[:n].copy()
        for j in range(1, self.smooth):
            out += full[j:j + n]
        if self.seen + 1 < self.smooth:  # the window is still filling
            out /= np.minimum(np.arange(self.seen + 1, self.seen + n + 1, dtype=np.float32),
                              np.float32(self.smooth))[:, None]
        else:
            out /= np.float32(self.smooth)
        self.seen += n
        self._keep(full)
        return out

    def _keep(self, full: np.ndarray, peak: float | None = None) -> None:
        """Keep the last smooth - 1 rows of `full` (the next call's window) and a bound on
        their largest value (`peak`, when the caller knows one: it saves a pass)."""
        self.history = full[len(full) - self.smooth + 1:]
        self.history_peak = float(self.history.max()) if peak is None and len(self.history) \
            else (peak or 0.0)

    def update(self, posteriors: np.ndarray, first_frame: int) -> list[Detection]:
        """posteriors [n, classes] of frames first_frame .. first_frame + n - 1."""
        if len(posteriors) == 0 or len(self.keyword_idx) == 0:
            return []
        kw = posteriors[:, self.keyword_cols]
        peak = float(kw.max())
        if peak < self.min_threshold and self.history_peak < self.min_threshold:
            # nothing can reach a threshold (an average never exceeds its largest term):
            # keep the window, skip the arithmetic - the common case on a quiet stream
            if self.smooth > 1:
                self._keep(kw if len(kw) >= self.smooth - 1 else
                           np.concatenate([self.history, kw]),
                           max(peak, self.history_peak))
            self.seen += len(kw)
            self.armed = True
            return []
        fired, self.blocked_until, self.armed = fire(
            self.smoothed(posteriors), self.thresholds, self.refractory, first_frame,
            self.blocked_until, self.armed)
        return [Detection(self.labels[int(self.keyword_idx[j])], score,
                          frame * self.hop + self.window, frame) for frame, j, score in fired]


def fire(smoothed: np.ndarray, thresholds: np.ndarray, refractory: int, first_frame: int = 0,
         blocked_until: int = -1, armed: bool = True,
         ) -> tuple[list[tuple[int, int, float]], int, bool]:
    """The threshold, re-arm and refractory rule on smoothed keyword posteriors
    [n, keywords]: (frame, keyword column, score) for each detection, the frame until which
    the stream stays blocked, and whether it is armed at the end. A detection reports the
    highest keyword above its threshold; afterwards the stream fires again only once no
    keyword has been above its threshold for a frame (one excursion, one event: a score
    that stays high past the refractory time does not fire twice) and the refractory time
    has passed."""
    above = smoothed >= thresholds
    if not above.any():  # the common case: nothing fires, and the stream is re-armed
        return [], blocked_until, armed or len(smoothed) > 0
    any_above = above.any(axis=1)
    events = []
    prev = -1
    for row in np.flatnonzero(any_above):
        if row - prev > 1:  # a frame with nothing above lies between: re-armed
            armed = True
        prev = int(row)
        frame = first_frame + int(row)
        if frame <= blocked_until or not armed:
            continue
        scores = np.where(above[row], smoothed[row], -1.0)
        j = int(np.argmax(scores))
        events.append((frame, j, float(scores[j])))
        blocked_until = frame + refractory
        armed = False
    if len(any_above) and not any_above[-1]:
        armed = True
    return events, blocked_until, armed
