"""Streaming evaluation: run the model over a long recording frame by frame as a device
would, apply the decision logic, and score hits, misses, false alarms per hour and latency;
sweep the threshold for the DET curve, pick the threshold for a false-alarm budget, and
calibrate one threshold per keyword for it; say why each miss was missed and what lay under
each false alarm.

A detection of keyword k at time t is a hit when an unmatched label of k has
start <= t <= end + `tolerance_s` (each label is matched once); any other detection is a false
alarm. Latency is t - end of the word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write
from kws.errors import KwsInputError
from kws.eval.longstream import Event, Span
from kws.runtime.decision import Decider, DecisionConfig, fire

TOLERANCE_S = 1.0
# finer near 1, where a wake word's false-alarm budget puts its threshold
SWEEP = np.round(np.concatenate([np.linspace(0.05, 0.9, 18), np.linspace(0.905, 0.99, 18),
                                  [0.993, 0.996, 0.998, 0.999, 0.9995, 0.9999]]), 6)


# floor of calibrated thresholds: below it a keyword need not even be the likeliest class
MIN_THRESHOLD = 0.5


@dataclass(frozen=True)
class Grid:
    """The thresholds a stream is swept over and the lowest one calibration may pick."""

    thresholds: np.ndarray
    lowest_calibrated: float


# a keyword head's posteriors: a probability, wake words near 1
KEYWORD_GRID = Grid(SWEEP, MIN_THRESHOLD)
# a phrase search's scores (kws.runtime.phrase_search): a per-phoneme average that spreads
# over (0, 1) and is not a probability, so the grid is fine everywhere and may go low
PHRASE_GRID = Grid(np.unique(np.concatenate([SWEEP, np.round(np.linspace(0.05, 0.9, 171),
                                                                6)])), 0.05)
NEAR_S = 1.0  # how far outside its window a keyword's score is looked for ("too early/late")
MISS_REASONS = ("never reached the threshold", "wrong keyword", "outside the time window",
                "suppressed by the refractory time")
FALSE_ALARM_CAUSES = ("non-keyword speech", "noise only", "another keyword",
                      "the same keyword again", "unlabelled audio")
# a keyword with other speech this close before and after it was said inside running speech
INSIDE_S = 0.8
PLACES = ("inside running speech", "between utterances")


@dataclass
class Scored:
    hits: dict[str, int]
    misses: dict[str, int]
    false_alarms: dict[str, int]
    latencies: list[float]
    matched: list[int]       # per detection: the index of the event it hit, or -1

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
    latencies, matched = [], []
    by_kw: dict[str, list[int]] = {k: [] for k in keywords}
    for i, e in enumerate(events):
        by_kw[e.keyword].append(i)
    used = {k: np.zeros(len(v), bool) for k, v in by_kw.items()}
    starts = {k: np.array([events[i].start for i in v]) for k, v in by_kw.items()}
    ends = {k: np.array([events[i].end for i in v]) for k, v in by_kw.items()}
    for kw, t in detections:
        ok = (starts[kw] <= t) & (t <= ends[kw] + tolerance_s) & ~used[kw]
        idx = np.flatnonzero(ok)
        if idx.size:
            used[kw][idx[0]] = True
            hits[kw] += 1
            latencies.append(t - ends[kw][idx[0]])
            matched.append(by_kw[kw][idx[0]])
        else:
            fas[kw] += 1
            matched.append(-1)
    for kw in keywords:
        misses[kw] = int((~used[kw]).sum())
    return Scored(hits, misses, fas, latencies, matched)


class StreamScorer:
    """Posteriors of one recording -> detections and scores for any thresholds."""

    def __init__(self, posteriors: np.ndarray, labels: list[str], events: list[Event],
                 decision: DecisionConfig, hop_s: float, window_s: float,
                 duration_s: float, speech: list[Span] | None = None,
                 grid: Grid = KEYWORD_GRID) -> None:
        self.labels = labels
        self.grid = grid
        self.events = events
        self.speech = speech
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

    def _frames(self, lo: float, hi: float) -> slice:
        """The frames whose decision time lies in [lo, hi] seconds."""
        first = max(0, int(np.ceil((lo - self.window_s) / self.hop_s)))
        last = int(np.floor((hi - self.window_s) / self.hop_s)) + 1
        return slice(first, max(first, min(last, len(self.smoothed))))

    def _peak(self, column: int, lo: float, hi: float) -> float:
        part = self.smoothed[self._frames(lo, hi), column]
        return float(part.max()) if part.size else 0.0

    def explain(self, thresholds: np.ndarray) -> dict:
        """Why each missed keyword was missed and what lay under each false alarm, at
        `thresholds` (one per keyword): counts, and every item with its times and score."""
        dets = self.detections(thresholds)
        scored = score(dets, self.events, self.keywords)
        hit = set(scored.matched)
        misses = []
        for i, e in enumerate(self.events):
            if i in hit:
                continue
            j = self.keywords.index(e.keyword)
            lo, hi = e.start, e.end + TOLERANCE_S
            peak = self._peak(j, lo, hi)
            other = [k for k, t in dets if k != e.keyword and lo <= t <= hi]
            near = max(self._peak(j, lo - NEAR_S, lo), self._peak(j, hi, hi + NEAR_S))
            if peak >= thresholds[j]:
                why = MISS_REASONS[1] if other else MISS_REASONS[3]
            elif near >= thresholds[j]:
                why = MISS_REASONS[2]
            else:
                why = MISS_REASONS[1] if other else MISS_REASONS[0]
            misses.append({"keyword": e.keyword, "start": e.start, "end": e.end,
                           "reason": why, "peak": round(peak, 4),
                           **({"detected": other[0]} if other else {})})
        alarms = []
        for (kw, t), m in zip(dets, scored.matched, strict=True):
            if m >= 0:
                continue
            under = [e for e in self.events if e.start <= t <= e.end + TOLERANCE_S]
            if any(e.keyword != kw for e in under):
                cause = FALSE_ALARM_CAUSES[2]
            elif under:
                cause = FALSE_ALARM_CAUSES[3]
            elif self.speech is None:
                cause = FALSE_ALARM_CAUSES[4]
            elif any(sp.start <= t <= sp.end + TOLERANCE_S for sp in self.speech):
                cause = FALSE_ALARM_CAUSES[0]
            else:
                cause = FALSE_ALARM_CAUSES[1]
            alarms.append({"keyword": kw, "time": round(t, 3), "cause": cause})
        out = {"misses": {r: sum(m["reason"] == r for m in misses) for r in MISS_REASONS},
               "false_alarms": {c: sum(a["cause"] == c for a in alarms)
                                for c in FALSE_ALARM_CAUSES},
               "missed": misses, "alarms": alarms}
        if self.speech is not None:
            out["by_place"] = self._misses_by_place(hit)
        return out

    def _misses_by_place(self, hit: set[int]) -> dict:
        """Keywords and misses said inside running speech (other speech within INSIDE_S
        before and after) and between utterances: where a detector trained on isolated
        words fails."""
        speech = self.speech or []
        rows = {p: {"keywords": 0, "missed": 0} for p in PLACES}
        for i, e in enumerate(self.events):
            inside = any(0 <= e.start - sp.end < INSIDE_S for sp in speech) and \
                any(0 <= sp.start - e.end < INSIDE_S for sp in speech)
            row = rows[PLACES[0] if inside else PLACES[1]]
            row["keywords"] += 1
            row["missed"] += i not in hit
        return rows

    def keyword_curves(self) -> list[list[tuple[float, int, int]]]:
        """Per keyword, alone (the others off): (threshold, hits, false alarms) over the
        sweep grid from the highest threshold down."""
        curves = []
        for j, kw in enumerate(self.keywords):
            rows = []
            for thr in self.grid.thresholds[::-1]:
                thresholds = np.full(len(self.keywords), 2.0, np.float32)
                thresholds[j] = thr
                s = self.at(thresholds)
                rows.append((float(thr), s.hits[kw], s.false_alarms[kw]))
            curves.append(rows)
        return curves

    def calibrate(self, target_fa_per_hour: float, curves: list | None = None,
                  min_threshold: float | None = None) -> np.ndarray:
        """One threshold per keyword for at most `target_fa_per_hour` false alarms per hour
        in all, spent where they buy the most hits: each keyword starts at its lowest
        threshold with no false alarm, then the step with the most hits per false alarm
        is taken while the budget lasts. The result is kept only if it hears at least as
        many keywords as the best shared threshold does, else that is used."""
        budget = int(np.floor(target_fa_per_hour * self.hours + 1e-9))
        if min_threshold is None:
            min_threshold = self.grid.lowest_calibrated
        curves = [[r for r in c if r[0] >= min_threshold]
                  for c in curves or self.keyword_curves()]

        def cheapest(c: list, fas: int, at: int) -> int:
            """The lowest threshold (the latest row) costing at most `fas` from `at` on."""
            best = at
            for i in range(at, len(c)):
                if c[i][2] <= fas:
                    best = i
            return best

        pos = [cheapest(c, c[0][2], 0) for c in curves]
        spent = sum(c[p][2] for c, p in zip(curves, pos, strict=True))
        while True:
            move, best_gain = None, 0.0
            for j, c in enumerate(curves):
                for i in range(pos[j] + 1, len(c)):
                    d_hits, d_fa = c[i][1] - c[pos[j]][1], c[i][2] - c[pos[j]][2]
                    if d_fa <= 0 or d_hits <= 0 or spent + d_fa > budget:
                        continue
                    if d_hits / d_fa > best_gain:
                        move, best_gain = (j, i), d_hits / d_fa
            if move is None:
                break
            j, i = move
            spent += curves[j][i][2] - curves[j][pos[j]][2]
            pos[j] = cheapest(curves[j], curves[j][i][2], i)
        per_keyword = np.array([c[p][0] for c, p in zip(curves, pos, strict=True)],
                               np.float32)
        shared = pick_threshold(self.sweep(), target_fa_per_hour)["threshold"]
        shared_thr = np.full(len(self.keywords), max(shared, min_threshold), np.float32)
        ours, theirs = self.at(per_keyword), self.at(shared_thr)

        def heard(x: Scored) -> tuple[bool, int]:
            return (sum(x.false_alarms.values()) <= budget, sum(x.hits.values()))

        return per_keyword if heard(ours) >= heard(theirs) else shared_thr

    def sweep(self) -> list[dict]:
        """Miss rate and false alarms per hour over the threshold grid, all keywords
        sharing one threshold."""
        return [{"threshold": float(thr),
                 **self.at(np.full(len(self.keywords), thr, np.float32)).summary(self.hours)}
                for thr in self.grid.thresholds]


def pick_threshold(sweep: list[dict], target_fa_per_hour: float) -> dict:
    """The lowest threshold (fewest misses) whose false alarms per hour fit the budget."""
    ok = [r for r in sweep if r["false_alarms_per_hour"] <= target_fa_per_hour]
    return min(ok, key=lambda r: r["threshold"]) if ok else max(sweep,
                                                                 key=lambda r: r["threshold"])


def evaluate_stream(posteriors: np.ndarray, labels: list[str], events: list[Event],
                    decision: DecisionConfig, hop_s: float, window_s: float,
                    duration_s: float, target_fa_per_hour: float = 1.0,
                    speech: list[Span] | None = None, grid: Grid = KEYWORD_GRID) -> dict:
    scorer = StreamScorer(posteriors, labels, events, decision, hop_s, window_s, duration_s,
                          speech, grid)
    overall = scorer.sweep()
    chosen = pick_threshold(overall, target_fa_per_hour)
    thr = chosen["threshold"]
    at = scorer.at(np.full(len(scorer.keywords), thr, np.float32))
    configured = scorer.at(scorer.decider.thresholds)
    curves = scorer.keyword_curves()
    calibrated = scorer.calibrate(target_fa_per_hour, curves)
    detections = [{"keyword": k, "time": round(t, 3)}
                  for k, t in scorer.detections(scorer.decider.thresholds)]
    per_keyword = {}
    for kw, curve in zip(scorer.keywords, curves, strict=True):
        n = at.hits[kw] + at.misses[kw]
        per_keyword[kw] = {"events": n, "hits": at.hits[kw], "misses": at.misses[kw],
                           "miss_rate": at.misses[kw] / max(1, n),
                           "false_alarms": at.false_alarms[kw],
                           "calibrated_threshold": float(calibrated[scorer.keywords.index(kw)]),
                           "det": [{"threshold": thr, "miss_rate": 1 - hits / max(1, n),
                                    "false_alarms_per_hour": fas / scorer.hours}
                                   for thr, hits, fas in curve[::-1]]}
    return {"duration_hours": scorer.hours, "events": len(events),
            "keywords": scorer.keywords, "target_false_alarms_per_hour": target_fa_per_hour,
            "threshold": thr, "at_threshold": at.summary(scorer.hours),
            "at_configured_thresholds": configured.summary(scorer.hours),
            "calibrated_thresholds": dict(zip(scorer.keywords, map(float, calibrated),
                                              strict=True)),
            "at_calibrated_thresholds": scorer.at(calibrated).summary(scorer.hours),
            "why": {"at_threshold": scorer.explain(np.full(len(scorer.keywords), thr,
                                                           np.float32)),
                    "at_configured_thresholds": scorer.explain(scorer.decider.thresholds)},
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
    cal = report["at_calibrated_thresholds"]
    lines.append(f"per-keyword thresholds calibrated here for <= "
                 f"{report['target_false_alarms_per_hour']} FA/h: miss rate "
                 f"{100 * cal['miss_rate']:.1f}% at {cal['false_alarms_per_hour']:.2f} FA/h ("
                 + ", ".join(f"{k} {v:.3f}" for k, v in report["calibrated_thresholds"].items())
                 + ")")
    why = report["why"]["at_threshold"]

    def counts(d: dict) -> str:
        return ", ".join(f"{n} {k}" for k, n in d.items() if n) or "none"

    lines.append(f"at threshold {report['threshold']:.3f}: misses: {counts(why['misses'])}; "
                 f"false alarms: {counts(why['false_alarms'])}")
    if "by_place" in why:
        lines.append("missed " + ", ".join(f"{r['missed']}/{r['keywords']} {p}"
                                           for p, r in why["by_place"].items()))
    if clip_accuracy is not None:
        lines.append(f"clip accuracy {100 * clip_accuracy:.2f}% | stream miss rate "
                     f"{100 * at['miss_rate']:.1f}% at {at['false_alarms_per_hour']:.2f} FA/h")
    return "\n".join(lines)


def stream_report(target, audio_path: str | Path, labels_path: str | Path,
                  target_fa: float = 1.0, decision: DecisionConfig | None = None,
                  log: Callable[[str], None] = print,
                  negatives: Sequence[str | Path] = ()) -> dict:
    """Load a recording and its labels, run `target` over it, score it. Each recording in
    `negatives` is keyword-free audio (its label file, WAV with .csv, if any, must hold no
    keyword) streamed after it: its false alarms count, its hours join the denominator, so
    the false-alarm side rests on hours while the keywords come from one recording."""
    from kws.audio import load_audio
    from kws.eval.longstream import read_labels, read_speech, speech_path

    rate = target.sample_rate
    audio = load_audio(audio_path, rate)
    duration = len(audio) / rate
    keywords = [x for x in target.labels if not x.startswith("_")]
    events = read_labels(labels_path, duration, keywords)
    speech = read_speech(speech_path(labels_path))
    log(f"streaming {duration / 60:.1f} min through {target.name} ...")
    parts = [target.stream_posteriors(audio)]
    del audio
    about = []
    for neg in negatives:
        offset = sum(len(p) for p in parts) * target.hop_s
        audio = load_audio(neg, rate)
        seconds = len(audio) / rate
        neg_labels = Path(neg).with_suffix(".csv")
        if neg_labels.is_file() and read_labels(neg_labels, seconds, keywords):
            raise KwsInputError(f"{neg}: its labels ({neg_labels}) hold keywords; a negative "
                                "stream must be keyword-free")
        log(f"streaming {seconds / 3600:.2f} h of keyword-free audio ({neg}) ...")
        parts.append(target.stream_posteriors(audio))
        del audio
        spans = read_speech(speech_path(neg_labels))
        if speech is not None and spans is not None:
            speech += [Span(s.start + offset, s.end + offset) for s in spans]
        about.append({"audio": str(neg), "hours": seconds / 3600})
    post = parts[0] if len(parts) == 1 else np.concatenate(parts)
    total = duration if not negatives else len(post) * target.hop_s + target.window_s
    report = evaluate_stream(post, target.labels, events, decision or target.decision,
                             target.hop_s, target.window_s, total, target_fa, speech,
                             target.grid)
    report.update({"audio": str(audio_path), "labels": str(labels_path),
                   "target": target.name, "keyword_stream_hours": duration / 3600,
                   "negative_streams": about})
    return report
