"""Shared fixtures: the real speech in ../shared/data (read-only), a per-test cache dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KWS_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped when the data is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set KWS_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Caches never go to the user's home or to ../shared during tests."""
    monkeypatch.setenv("KWS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kws-cache"))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A small synthetic corpus (3 keywords + negatives + generated noise), made once."""
    from kws.data.synth import synthesize_corpus

    out = tmp_path_factory.mktemp("tiny_corpus")
    synthesize_corpus(["yes", "no", "stop"], out, per_word=80, negatives=["banana", "window"],
                      per_negative=40, seed=1, noise_seconds=8)
    return out


def tiny_overrides(corpus: Path, **extra) -> list[str]:
    """A config that trains in seconds on the tiny corpus."""
    values = {"data.corpus": str(corpus), "model.hidden": 16, "model.layers": 1,
              "train.epochs": 2, "train.batch_size": 16, "train.checkpoint_every": 3,
              "augment.context_ms": 200, "augment.time_masks": 0, "augment.freq_masks": 0,
              "augment.noise_prob": 0.5, "train.workers": 1} | extra
    return [f"--set={k}={v}" for k, v in values.items()]


@pytest.fixture(scope="session")
def tiny_run(tiny_corpus, tmp_path_factory) -> Path:
    """A small GRU trained on the tiny corpus (a real run directory that detects)."""
    from kws.config import load_config
    from kws.train.trainer import train

    run = tmp_path_factory.mktemp("tiny_run") / "run"
    overrides = [o.removeprefix("--set=") for o in tiny_overrides(tiny_corpus)]
    cfg = load_config(None, [*overrides, "model.hidden=32", "train.epochs=20", "train.lr=0.01"])
    train(cfg, run, log=lambda *_: None, progress=False)
    return run


def random_run(corpus: Path, folder: Path, family: str = "gru", hidden: int = 16,
               layers: int = 1, stride: int = 1) -> Path:
    """A run directory holding an untrained model of any family (fast: no training)."""
    from kws.bench.models import untrained_run
    from kws.config import load_config

    overrides = [o.removeprefix("--set=") for o in tiny_overrides(corpus)]
    cfg = load_config(None, [*overrides, f"model.family={family}", f"model.hidden={hidden}",
                             f"model.layers={layers}", f"model.frame_stride={stride}"])
    return untrained_run(folder, cfg)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported as a float bundle (4-hop chunks)."""
    from kws.export.bundle import ExportOptions, export_bundle

    out = tmp_path_factory.mktemp("tiny_bundle") / "bundle"
    export_bundle(tiny_run, out, ExportOptions(quantize="none", chunk_hops=4, verify_clips=8,
                                               accuracy_clips=40), log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def tiny_stream(tiny_corpus, tmp_path_factory) -> tuple[Path, Path]:
    """Two minutes of the tiny corpus' test keywords over its noise, with labels."""
    from kws.eval.longstream import make_stream

    folder = tmp_path_factory.mktemp("tiny_stream")
    info = make_stream(str(tiny_corpus), folder / "stream.wav", split="test", minutes=2,
                       snr_db=15, seed=3)
    return Path(info["audio"]), Path(info["labels"])


@pytest.fixture(scope="session")
def enrolled_bundle(tmp_path_factory) -> Path:
    """The tiny corpus' three words enrolled by text on the shipped encoder (kws enroll),
    espeak-ng only and a short calibration stream: what a fresh machine does."""
    from kws.export.enroll import EnrollOptions, enroll

    out = tmp_path_factory.mktemp("enrolled") / "bundle"
    enroll(["yes", "no", "stop"], out, EnrollOptions(per_phrase=12, minutes=3),
           log=lambda *_: None)
    return out
