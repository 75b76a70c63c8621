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
