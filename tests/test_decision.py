"""Decision logic: smoothing, thresholds, one event per excursion, refractory time, and the
same detections however the posteriors arrive."""

from __future__ import annotations

import itertools

import numpy as np

from kws.runtime.decision import Decider, DecisionConfig

LABELS = ["_silence_", "_unknown_", "yes", "no"]
HOP = 0.02


def _posteriors(track: dict[str, list[tuple[int, int, float]]], frames: int) -> np.ndarray:
    """[frames, 4] posteriors: `_unknown_` everywhere but where a keyword's (start, end,
    level) spans put it."""
    p = np.zeros((frames, len(LABELS)), np.float32)
    p[:, 1] = 1.0
    for kw, spans in track.items():
        j = LABELS.index(kw)
        for a, b, level in spans:
            p[a:b, j] = level
            p[a:b, 1] = 1.0 - level
    return p


def _detect(p: np.ndarray, pieces: list[int] | None = None, **cfg) -> list[tuple[str, int]]:
    d = Decider(DecisionConfig(**({"smoothing_ms": 0.0, "refractory_ms": 200.0} | cfg)),
                LABELS, HOP, 0.03)
    cuts = np.cumsum([0, *(pieces or [len(p)])])
    out = []
    for a, b in itertools.pairwise(cuts):
        out += [(e.keyword, e.frame) for e in d.update(p[a:b], int(a))]
    return out


def test_decision_one_long_excursion_fires_once():
    """A score above threshold for 3 s (ten refractory times) is one spoken keyword."""
    p = _posteriors({"yes": [(100, 250, 0.95)]}, 400)
    assert _detect(p) == [("yes", 100)]


def test_decision_rearms_after_the_score_drops():
    """Two excursions separated by a dip below threshold, each after the refractory time,
    are two events; a second excursion inside the refractory time is not."""
    p = _posteriors({"yes": [(100, 120, 0.9), (140, 160, 0.9)]}, 300)
    assert _detect(p) == [("yes", 100), ("yes", 140)]
    inside = _posteriors({"yes": [(100, 105, 0.9), (107, 111, 0.9)]}, 300)  # blocked to 110
    assert _detect(inside) == [("yes", 100)]
    # the dip must be below the threshold: 0.6 is below 0.7, 0.75 is not
    dip = _posteriors({"yes": [(100, 130, 0.9), (130, 135, 0.6), (135, 200, 0.9)]}, 300)
    assert _detect(dip, thresholds={"yes": 0.7}) == [("yes", 100), ("yes", 135)]
    high = _posteriors({"yes": [(100, 130, 0.9), (130, 135, 0.75), (135, 200, 0.9)]}, 300)
    assert _detect(high, thresholds={"yes": 0.7}) == [("yes", 100)]


def test_decision_thresholds_per_keyword_and_the_strongest_wins():
    p = _posteriors({"yes": [(50, 60, 0.6)], "no": [(150, 160, 0.6)]}, 300)
    assert _detect(p, thresholds={"yes": 0.5, "no": 0.7}) == [("yes", 50)]
    both = np.zeros((20, 4), np.float32)
    both[:, 2], both[:, 3] = 0.45, 0.55
    assert _detect(both, thresholds={"yes": 0.4, "no": 0.4}) == [("no", 0)]


def test_decision_smoothing_ignores_a_one_frame_spike():
    p = _posteriors({"yes": [(50, 51, 0.99), (200, 215, 0.9)]}, 300)
    assert _detect(p, smoothing_ms=100.0) == [("yes", 202)]  # 3 x 0.9 / 5 >= 0.5
    assert _detect(p) == [("yes", 50), ("yes", 200)]


def test_decision_same_detections_in_any_pieces():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(4, 0.3), size=3000).astype(np.float32)
    whole = _detect(p, smoothing_ms=60.0, thresholds={"yes": 0.6, "no": 0.6})
    assert len(whole) > 5
    for pieces in ([1] * 3000, [7, 13, 1, 500, 2479], [2999, 1]):
        assert _detect(p, pieces, smoothing_ms=60.0,
                       thresholds={"yes": 0.6, "no": 0.6}) == whole


def test_decision_equals_the_rule_on_the_whole_moving_average():
    """The decider skips the arithmetic of pieces that cannot reach a threshold and keeps
    only a bound on its window's peak; fed in pieces, with keyword columns in any order
    (contiguous: a view; interleaved with filler: an index), it must still give exactly
    what the rule gives on the moving average of the whole signal."""
    from kws.runtime.decision import fire

    rng = np.random.default_rng(1)
    base = rng.dirichlet(np.full(4, 0.3), size=2000).astype(np.float32)
    for labels in (LABELS, ["yes", "_silence_", "no", "_unknown_"]):
        p = base.copy()
        p[rng.random(2000) < 0.8] *= 0.3  # mostly quiet: the shortcut's case
        cols = [i for i, x in enumerate(labels) if not x.startswith("_")]
        smooth = 4  # frames of 20 ms in 80 ms
        csum = np.cumsum(np.vstack([np.zeros((1, 2)), p[:, cols].astype(np.float64)]), 0)
        ends = np.arange(1, len(p) + 1)
        starts = np.maximum(0, ends - smooth)
        avg = ((csum[ends] - csum[starts]) / (ends - starts)[:, None]).astype(np.float32)
        thresholds = np.array([0.25, 0.3], np.float32)
        want = [(f, j) for f, j, _ in fire(avg, thresholds, 10)[0]]
        assert len(want) > 10
        for pieces in ([1] * 2000, [5] * 400, [3, 997, 1000]):
            d = Decider(DecisionConfig(thresholds={"yes": 0.25, "no": 0.3}, smoothing_ms=80.0,
                                       refractory_ms=200.0), labels, HOP, 0.03)
            got, at = [], 0
            for n in pieces:
                got += [(e.frame, cols.index(labels.index(e.keyword)))
                        for e in d.update(p[at:at + n], at)]
                at += n
            assert got == want, (labels, pieces)
