"""What `kws eval` can evaluate: a run directory, a model file, or (once exported) a bundle.
Each gives the run config, the labels, the clip rule, and per-frame posteriors of clips."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.config import RunConfig
from kws.errors import KwsInputError


@dataclass
class Target:
    name: str
    config: RunConfig
    labels: list[str]
    rule: str
    report_dir: Path
    model: object

    def clip_posteriors(self, clips: np.ndarray) -> np.ndarray:
        from kws.eval.clips import clip_log_posteriors

        return np.exp(clip_log_posteriors(self.model, clips))


def open_target(path: str | Path) -> Target:
    from kws.train.checkpoint import load_model

    p = Path(path)
    if p.is_dir() and (p / "model.pt").is_file():
        model_file, report_dir = p / "model.pt", p / "eval"
    elif p.is_file() and p.suffix == ".pt":
        model_file, report_dir = p, p.parent / "eval"
    else:
        raise KwsInputError(f"{p}: not a run directory (with model.pt), a model file or a "
                            "bundle")
    model, cfg, _ = load_model(model_file)
    return Target(p.name, cfg, model.labels, cfg.train.loss, report_dir, model)
