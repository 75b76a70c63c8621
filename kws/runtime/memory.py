"""Resident memory of this process, for `kws stream`'s summary and the soak."""

from __future__ import annotations

import sys
from pathlib import Path


def memory_mb(field: str = "VmRSS") -> float | None:
    """A /proc/self/status memory field in MB: VmRSS (now) or VmHWM (peak). VmHWM counts the
    current program only, unlike ru_maxrss, which on Linux also holds the parent's memory
    from before exec. Elsewhere the peak comes from getrusage; None when unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    if field != "VmHWM":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, else KB
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
