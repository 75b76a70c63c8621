"""`kws stream --plot`: the waveform, each keyword's posterior over time, the thresholds and
the detections, in one PNG (matplotlib, imported only when asked for)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.errors import KwsInputError


def plot_stream(path: str | Path, wave: np.ndarray, posteriors: np.ndarray, detector,
                events: list) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise KwsInputError("--plot needs matplotlib (pip install matplotlib)") from None
    from kws.atomic import atomic_write

    b = detector.bundle
    rate = b.sample_rate
    fig, (ax_w, ax_p) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True,
                                     gridspec_kw={"height_ratios": [1, 2]})
    t = np.arange(len(wave)) / rate
    step = max(1, len(wave) // 20000)  # enough points for the eye, not millions
    ax_w.plot(t[::step], wave[::step], lw=0.4, color="0.3")
    ax_w.set_ylabel("waveform")
    ft = np.arange(len(posteriors)) * b.frame_seconds + b.first_output_seconds
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    for i, kw in enumerate(b.keywords):
        col = b.labels.index(kw)
        c = colors[i % 10]
        if len(posteriors):
            ax_p.plot(ft, posteriors[:, col], lw=0.9, color=c, label=kw)
        ax_p.axhline(detector.decision.thresholds.get(kw, 0.5), color=c, lw=0.6, ls="--")
    for e in events:
        ax_p.axvline(e.time, color="red", lw=0.8, alpha=0.6)
        ax_p.text(e.time, 1.02, e.keyword, rotation=90, fontsize=7, va="bottom",
                  ha="center", color="red")
        ax_w.axvline(e.time, color="red", lw=0.8, alpha=0.6)
    ax_p.set_ylim(0, 1.12)
    ax_p.set_ylabel("posterior (dashed: threshold)")
    ax_p.set_xlabel("time (s)")
    ax_p.legend(fontsize=7, ncol=min(6, max(1, len(b.keywords))), loc="upper right")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=90))
    plt.close(fig)
