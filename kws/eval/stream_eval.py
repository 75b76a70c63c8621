"""Streaming evaluation: run the model over a long recording frame by frame as a device
would, apply the decision logic, and score hits, misses, false alarms per hour and latency;
sweep the threshold for the DET curve and pick the threshold for a false-alarm budget.

A detection of keyword k at time t is a hit when an unmatched label of k has
start <= t <= end + `tolerance_s` (each label is matched once); any other detection is a false
alarm. Latency is t - end of the word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write
from kws.eval.longstream import Event
from kws.runtime.decision import Decider, DecisionConfig, fire

TOLERANCE_S = 1.0
# finer near 1, where a wake word's false-alarm budget puts its threshold
SWEEP = np.concatenate([np.linspace(0.05, 0.9, 18), np.linspace(0.905, 0.99, 18),
                        [0.993, 0.996, 0.998, 0.999, 0.9995, 0.9999]])


@dataclass
class Scored:
    hits: dict[str, int]
    misses: dict[str, int]
    false_alarms: dict[str, int]
    latencies: list[float]

    def summary(self, hours: float) -> dict:
        n_hit, n_miss = sum(self.hits.values()), sum(self.misses.values())
        fa = sum(self.false_alarms.values())
        lat = np.array(self.latencies)
        return {"hits": n_hit, "misses": n_miss, "false_alarms": fa,
                "miss_rate": n_miss / max(1, n_hit + n_miss),
                "false_alarms_per_hour": fa / hours,
                "latency_median_s": float(np.median(lat)) if lat.size else None,
                "latency_p95_s": float(np.percentile(lat, 95)) if lat.size else None}


def score(detections: list[tuple[str, float]], events: list[Event], keywords: list[str],
          tolerance_s: float = TOLERANCE_S) -> Scored:
    """Match (keyword, time) detections to labelled events."""
    hits = dict.fromkeys(keywords, 0)
    misses = dict.fromkeys(keywords, 0)
    fas = dict.fromkeys(keywords, 0)
    latencies = []
    by_kw: dict[str, list[Event]] = {k: [] for k in keywords}
    for e in events:
        by_kw[e.keyword].append(e)
    used = {k: np.zeros(len(v), bool) for k, v in by_kw.items()}
    starts = {k: np.array([e.start for e in v]) for k, v in by_kw.items()}
    ends = {k: np.array([e.end for e in v]) for k, v in by_kw.items()}
    for kw, t in detections:
        ok = (starts[kw] <= t) & (t <= ends[kw] + tolerance_s) & ~used[kw]
        idx = np.flatnonzero(ok)
        if idx.size:
            used[kw][idx[0]] = True
            hits[kw] += 1
            latencies.append(t - ends[kw][idx[0]])
        else:
            fas[kw] += 1
    for kw in keywords:
        misses[kw] = int((~used[kw]).sum())
    return Scored(hits, misses, fas, latencies)


class StreamScorer:
    """Posteriors of one recording -> detections and scores for any thresholds."""

    def __init__(self, posteriors: np.ndarray, labels: list[str], events: list[Event],
                 decision: DecisionConfig, hop_s: float, window_s: float,
                 duration_s: float) -> None:
        self.labels = labels
        self.events = events
        self.hours = duration_s / 3600
        self.decider = Decider(decision, labels, hop_s, window_s)
        self.keywords = [labels[i] for i in self.decider.keyword_idx]
        self.smoothed = self.decider.smoothed(posteriors)
        self.hop_s, self.window_s = hop_s, window_s

    def detections(self, thresholds: np.ndarray) -> list[tuple[str, float]]:
        fired, _, _ = fire(self.smoothed, thresholds, self.decider.refractory)
        return [(self.keywords[j], frame * self.hop_s + self.window_s)
                for frame, j, _ in fired]

    def at(self, thresholds: np.ndarray) -> Scored:
        return score(self.detections(thresholds), self.events, self.keywords)

    def sweep(self, only: int | None = None) -> list[dict]:
        """Miss rate and false alarms per hour over the threshold grid, for all keywords
        sharing one threshold, or for keyword column `only` alone."""
        rows = []
        for thr in SWEEP:
            thresholds = np.full(len(self.keywords), thr, np.float32)
            if only is not None:
                thresholds[:] = 2.0
                thresholds[only] = thr
            s = self.at(thresholds)
            if only is None:
                summary = s.summary(self.hours)
            else:
                kw = self.keywords[only]
                n = s.hits[kw] + s.misses[kw]
                summary = {"miss_rate": s.misses[kw] / max(1, n),
                           "false_alarms_per_hour": s.false_alarms[kw] / self.hours}
            rows.append({"threshold": float(thr), **summary})
        return rows


def pick_threshold(sweep: list[dict], target_fa_per_hour: float) -> dict:
    """The lowest threshold (fewest misses) whose false alarms per hour fit the budget."""
    ok = [r for r in sweep if r["false_alarms_per_hour"] <= target_fa_per_hour]
    return min(ok, key=lambda r: r["threshold"]) if ok else max(sweep,
                                                                 key=lambda r: r["threshold"])


def evaluate_stream(posteriors: np.ndarray, labels: list[str], events: list[Event],
                    decision: DecisionConfig, hop_s: float, window_s: float,
                    duration_s: float, target_fa_per_hour: float = 1.0) -> dict:
    scorer = StreamScorer(posteriors, labels, events, decision, hop_s, window_s, duration_s)
    overall = scorer.sweep()
    chosen = pick_threshold(overall, target_fa_per_hour)
    thr = chosen["threshold"]
    at = scorer.at(np.full(len(scorer.keywords), thr, np.float32))
    configured = scorer.at(scorer.decider.thresholds)
    detections = [{"keyword": k, "time": round(t, 3)}
                  for k, t in scorer.detections(scorer.decider.thresholds)]
    per_keyword = {}
    for j, kw in enumerate(scorer.keywords):
        n = at.hits[kw] + at.misses[kw]
        per_keyword[kw] = {"events": n, "hits": at.hits[kw], "misses": at.misses[kw],
                           "miss_rate": at.misses[kw] / max(1, n),
                           "false_alarms": at.false_alarms[kw],
                           "det": scorer.sweep(only=j)}
    return {"duration_hours": scorer.hours, "events": len(events),
            "keywords": scorer.keywords, "target_false_alarms_per_hour": target_fa_per_hour,
            "threshold": thr, "at_threshold": at.summary(scorer.hours),
            "at_configured_thresholds": configured.summary(scorer.hours),
            "detections_at_configured_thresholds": detections,
            "configured_thresholds": dict(zip(scorer.keywords,
                                              map(float, scorer.decider.thresholds),
                                              strict=True)),
            "decision": {"smoothing_ms": decision.smoothing_ms,
                         "refractory_ms": decision.refractory_ms,
                         "tolerance_s": TOLERANCE_S},
            "per_keyword": per_keyword, "det": overall}


def plot_det(report: dict, path: Path, title: str) -> None:
    """Miss rate against false alarms per hour (log axis), overall and per keyword."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    floor = 0.5 / max(report["duration_hours"], 1e-9)  # below one false alarm in the stream

    def curve(rows: list[dict], **kw) -> None:
        x = [max(r["false_alarms_per_hour"], floor) for r in rows]
        y = [100 * r["miss_rate"] for r in rows]
        ax.plot(x, y, **kw)

    for kw, v in report["per_keyword"].items():
        curve(v["det"], lw=0.8, alpha=0.5, label=kw)
    curve(report["det"], lw=2.5, color="black", label="all keywords")
    ax.axvline(report["target_false_alarms_per_hour"], color="red", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(f"false alarms per hour (log; {floor:.2g} = none in the stream)")
    ax.set_ylabel("miss rate (%)")
    at = report["at_threshold"]
    ax.set_title(f"{title}\nthreshold {report['threshold']:.3f}: miss {100 * at['miss_rate']:.1f}%"
                 f", {at['false_alarms_per_hour']:.2f} FA/h", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=90))
    plt.close(fig)


def format_stream_report(report: dict, clip_accuracy: float | None = None) -> str:
    at = report["at_threshold"]
    lines = [f"stream: {report['duration_hours']:.2f} h, {report['events']} keywords; "
             f"threshold {report['threshold']:.3f} for <= "
             f"{report['target_false_alarms_per_hour']} false alarms/hour"]
    width = max(len(k) for k in report["keywords"]) + 2
    lines.append(f"{'keyword':<{width}}{'events':>8}{'hits':>7}{'miss rate':>11}{'FA':>5}")
    for kw, v in report["per_keyword"].items():
        lines.append(f"{kw:<{width}}{v['events']:>8}{v['hits']:>7}"
                     f"{100 * v['miss_rate']:>10.1f}%{v['false_alarms']:>5}")
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    lines.append(f"{'all':<{width}}{report['events']:>8}{at['hits']:>7}"
                 f"{100 * at['miss_rate']:>10.1f}%{at['false_alarms']:>5}  "
                 f"({at['false_alarms_per_hour']:.2f} FA/h; latency median "
                 f"{ms(at['latency_median_s'])}, p95 {ms(at['latency_p95_s'])})")
    if clip_accuracy is not None:
        lines.append(f"clip accuracy {100 * clip_accuracy:.2f}% | stream miss rate "
                     f"{100 * at['miss_rate']:.1f}% at {at['false_alarms_per_hour']:.2f} FA/h")
    return "\n".join(lines)


def stream_report(target, audio_path: str | Path, labels_path: str | Path,
                  target_fa: float = 1.0, decision: DecisionConfig | None = None,
                  log: Callable[[str], None] = print) -> dict:
    """Load a recording and its labels, run `target` over it, score it."""
    from kws.audio import load_audio
    from kws.eval.longstream import read_labels

    rate = target.sample_rate
    audio = load_audio(audio_path, rate)
    duration = len(audio) / rate
    keywords = [x for x in target.labels if not x.startswith("_")]
    events = read_labels(labels_path, duration, keywords)
    log(f"streaming {duration / 60:.1f} min through {target.name} ...")
    post = target.stream_posteriors(audio)
    report = evaluate_stream(post, target.labels, events, decision or target.decision,
                             target.hop_s, target.window_s, duration, target_fa)
    report.update({"audio": str(audio_path), "labels": str(labels_path),
                   "target": target.name})
    return report
