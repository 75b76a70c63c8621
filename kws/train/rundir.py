"""The run directory: one writer at a time, and the files it holds.

    RUN/config.yaml      the resolved config (every run is fully described by it)
    RUN/metrics.jsonl    one JSON line per epoch
    RUN/curves.png       training curves
    RUN/ckpt/            rolling training checkpoints (see kws.train.checkpoint)
    RUN/best.pt          the best model on the validation split so far
    RUN/model.pt         the final model (the best one), what eval and export read
    RUN/summary.json     the final numbers
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kws.errors import KwsInputError


class RunLock:
    """An exclusive advisory lock on RUN/.lock, held while a run writes there. A second
    `kws train` on the same directory fails at once instead of interleaving files; the
    lock dies with its process, so a killed run never leaves a stale lock."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise KwsInputError(f"{self.path.parent}: another kws train is writing to this run "
                                "directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def has_run(run_dir: Path) -> bool:
    return (run_dir / "ckpt" / "index.json").exists() or (run_dir / "model.pt").exists()
