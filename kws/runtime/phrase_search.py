"""Phrase search over phoneme posteriors: a typed phrase becomes a detector, no training.

The encoder emits CTC posteriors over phonemes and a blank every frame. Each phrase is one or
more phoneme sequences (its pronunciations); for each sequence a left-to-right Viterbi search
runs frame by frame with the state carried across calls, like the recurrent state:

- a frame's cost for unit u is log p(u) - max_k log p(k) (<= 0): the keyword path against a
  filler that may be any unit, the classic keyword/filler ratio. It is floored at `floor`
  so one badly heard phoneme does not veto a phrase;
- the path enters phoneme j from phoneme j - 1 (or, for the first, from anywhere: a phrase
  may start at any frame) by paying the frame's cost of phoneme j, and stays in phoneme j
  by paying the cheaper of phoneme j and blank (CTC's peaks sit between blanks);
- a path older than the phrase's `max_seconds` is dropped, so phonemes scattered over
  unrelated words do not add up to a phrase;
- the score of a phrase at a frame is exp(path cost / phonemes) of its best pronunciation
  whose path ends in its last phoneme there: a per-phoneme average, so one threshold scale
  serves phrases of any length. It lies in (0, 1], 1 when the phrase is exactly the
  frame-wise best decoding.

Numpy only (the runtime never imports torch); every pronunciation of every phrase is one row
of the same arrays, so a frame costs the same dozen vector operations for one phrase or ten.
"""

from __future__ import annotations

import numpy as np

from kws.runtime.bundle import SearchSpec

_EPS = 1e-10


class PhraseSearch:
    """The Viterbi state of one stream over every phrase; `update` turns posteriors [n, units]
    into phrase scores [n, phrases]."""

    def __init__(self, spec: SearchSpec, frame_seconds: float) -> None:
        self.spec = spec
        self.phrases = list(spec.phrases)
        index = {u: i for i, u in enumerate(spec.units)}
        rows = [(p, [index[u] for u in pron]) for p, name in enumerate(self.phrases)
                for pron in spec.phrases[name]]
        width = max(len(seq) for _, seq in rows)
        self.seq = np.zeros((len(rows), width), np.int64)
        self.valid = np.zeros((len(rows), width), bool)
        for r, (_, seq) in enumerate(rows):
            self.seq[r, :len(seq)] = seq
            self.valid[r, :len(seq)] = True
        self.length = np.array([len(seq) for _, seq in rows], np.int64)
        owner = np.array([p for p, _ in rows], np.int64)
        self.first_rows = np.searchsorted(owner, np.arange(len(self.phrases)))
        self.max_frames = np.array([round(spec.max_seconds[self.phrases[p]] / frame_seconds)
                                    for p, _ in rows], np.int64)[:, None]
        self.rows = np.arange(len(rows))
        self.invalid = ~self.valid
        self._zeros = np.zeros((len(rows), 1))
        self.reset()

    def reset(self) -> None:
        n, width = self.seq.shape
        self.cost = np.full((n, width), -np.inf)
        self.start = np.zeros((n, width), np.int64)
        self.frame = 0

    def update(self, posteriors: np.ndarray) -> np.ndarray:
        """Posteriors [n, units] of the next n frames -> phrase scores [n, phrases]."""
        post = np.asarray(posteriors, np.float64)
        n = len(post)
        if n == 0:
            return np.zeros((0, len(self.phrases)), np.float32)
        logp = np.log(np.maximum(post, _EPS))
        frame_cost = np.maximum(logp - logp.max(axis=1, keepdims=True), self.spec.floor)
        # every frame's costs at once; only the recurrence below runs frame by frame
        enter = frame_cost[:, self.seq]                                   # [n, rows, width]
        stay = np.maximum(enter, frame_cost[:, self.spec.blank, None, None])
        cost, start = self.cost, self.start
        best = np.empty((n, len(self.seq)))
        last = (self.rows, self.length - 1)
        for i in range(n):
            advance = np.concatenate([self._zeros, cost[:, :-1]], axis=1) + enter[i]
            kept = cost + stay[i]
            take = advance > kept
            cost = np.where(take, advance, kept)
            began = np.concatenate([np.full_like(self._zeros, self.frame, np.int64),
                                    start[:, :-1]], axis=1)
            start = np.where(take, began, start)
            cost[(self.frame - start >= self.max_frames) | self.invalid] = -np.inf
            best[i] = cost[last]
            self.frame += 1
        self.cost, self.start = cost, start
        # rows are grouped by phrase: the best pronunciation of each in one call
        return np.maximum.reduceat(np.exp(best / self.length), self.first_rows,
                                   axis=1).astype(np.float32)

