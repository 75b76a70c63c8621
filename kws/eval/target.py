"""What `kws eval` evaluates: a run directory, a model file, or an exported bundle. Each
gives its run config, labels, clip rule and decision settings, per-frame posteriors of whole
clips, and the posteriors of a long recording streamed with carried state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws.config import RunConfig, from_dict
from kws.errors import KwsInputError
from kws.runtime.decision import DecisionConfig


@dataclass
class Target:
    name: str
    config: RunConfig
    labels: list[str]
    rule: str
    report_dir: Path
    model: object = None        # KwsModel (PyTorch targets)
    detector: object = None     # kws.runtime.Detector (bundles)
    decision: DecisionConfig = field(default_factory=DecisionConfig)

    @property
    def grid(self):
        """The thresholds its streams are swept over: finer for a phrase search's scores."""
        from kws.eval.stream_eval import KEYWORD_GRID, PHRASE_GRID

        searching = self.detector is not None and self.detector.bundle.search is not None
        return PHRASE_GRID if searching else KEYWORD_GRID

    @property
    def sample_rate(self) -> int:
        return self.config.features.sample_rate

    @property
    def hop_s(self) -> float:
        """Time between posteriors."""
        return self.config.features.hop_length * self.config.model.frame_stride / \
            self.sample_rate

    @property
    def window_s(self) -> float:
        """Time of the first posterior (the end of the first stacked group of frames)."""
        fe = self.config.features
        return (fe.win_length + (self.config.model.frame_stride - 1) * fe.hop_length) / \
            self.sample_rate

    def clip_posteriors(self, clips: np.ndarray) -> np.ndarray:
        if self.detector is not None:
            return self.detector.posteriors(np.asarray(clips, np.float32) / 32768.0
                                            if clips.dtype == np.int16 else clips)
        from kws.eval.clips import clip_log_posteriors

        return np.exp(clip_log_posteriors(self.model, clips))

    def stream_posteriors(self, audio: np.ndarray) -> np.ndarray:
        """Posteriors [frames, classes] of one long recording, state carried throughout."""
        if self.detector is not None:
            return self.detector.posteriors(audio[None].astype(np.float32), batch=1)[0]
        return torch_stream_posteriors(self.model, audio)


def torch_stream_posteriors(model, audio: np.ndarray, block_frames: int = 3000) -> np.ndarray:
    """The PyTorch model over a long recording in blocks of frames, state carried across
    blocks: the same numbers as stepping it frame by frame, at a fraction of the time."""
    import torch

    from kws.features.mfcc import num_frames

    cfg = model.feature_cfg
    stride = model.stride
    block_frames -= block_frames % stride
    total = num_frames(len(audio), cfg) // stride * stride
    out, state = [], None
    x = torch.from_numpy(np.asarray(audio, np.float32))
    with torch.no_grad():
        for first in range(0, total, block_frames):
            n = min(block_frames, total - first)
            lo = first * cfg.hop_length
            wave = x[lo:lo + (n - 1) * cfg.hop_length + cfg.win_length]
            logits, state = model(model.features(wave[None]), state)
            out.append(torch.softmax(logits[0].float(), -1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(model.labels)), np.float32)


def open_target(path: str | Path) -> Target:
    from kws.runtime.bundle import BUNDLE_FILE
    from kws.train.checkpoint import load_model

    p = Path(path)
    if p.is_dir() and (p / BUNDLE_FILE).is_file():
        from kws.runtime import Detector

        det = Detector(p, threads=1)
        training = det.bundle.meta.get("training", {})
        if not isinstance(training.get("config"), dict):
            raise KwsInputError(f"{p}: bundle.json has no training.config (exported by an "
                                "older kws?)")
        cfg = from_dict(RunConfig, training["config"])
        return Target(p.name, cfg, det.labels, training.get("loss", cfg.train.loss),
                      p.parent / f"{p.name}-eval", detector=det, decision=det.decision)
    if p.is_dir() and (p / "model.pt").is_file():
        model_file, report_dir = p / "model.pt", p / "eval"
    elif p.is_file() and p.suffix == ".pt":
        model_file, report_dir = p, p.parent / "eval"
    else:
        raise KwsInputError(f"{p}: not a run directory (with model.pt), a model file or a "
                            "bundle (with bundle.json)")
    model, cfg, _ = load_model(model_file)
    return Target(p.name, cfg, model.labels, cfg.train.loss, report_dir, model=model)
