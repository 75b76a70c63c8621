"""The base encoder's objective: CTC over per-frame phoneme posteriors (Graves et al. 2006).

A causal encoder emits, at every recurrent step, posteriors over the phonemes of
kws.data.phonemes.LABELS (index 0 the blank); CTC sums over every alignment of an
utterance's phoneme sequence to its steps, so no frame labels are needed: a sentence and
its text are enough. Greedy decoding and the phoneme error rate judge the encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from kws.data.confusables import edit_distance

BLANK = 0


def ctc_loss(logits: Tensor, steps: Tensor, targets: Sequence[Sequence[int]]) -> Tensor:
    """Mean over the batch of the CTC loss per target phoneme.

    logits [B, T, K] (float32), `steps` [B] the valid steps of each row, `targets` each
    row's phoneme indices (1..K-1). An utterance whose phonemes cannot fit its steps gives
    zero loss (zero_infinity) instead of an infinite one."""
    logp = torch.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # [T, B, K]
    lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    flat = torch.tensor([p for t in targets for p in t], dtype=torch.long)
    return F.ctc_loss(logp, flat, steps.long().cpu(), lengths, blank=BLANK,
                      reduction="mean", zero_infinity=True)


def greedy_decode(logp: np.ndarray, steps: Sequence[int]) -> list[list[int]]:
    """Best path: the arg-max phoneme of every step, repeats merged, blanks dropped."""
    out = []
    for row, n in zip(logp, steps, strict=True):
        best = np.argmax(row[:n], axis=-1)
        keep = np.ones(len(best), dtype=bool)
        keep[1:] = best[1:] != best[:-1]
        out.append([int(p) for p in best[keep] if p != BLANK])
    return out


def phoneme_error_rate(hyps: Sequence[Sequence[int]], refs: Sequence[Sequence[int]]) -> float:
    """Edits (substitutions, insertions, deletions) per reference phoneme."""
    edits = sum(edit_distance(h, r) for h, r in zip(hyps, refs, strict=True))
    return edits / max(1, sum(len(r) for r in refs))
