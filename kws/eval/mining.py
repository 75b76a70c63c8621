"""Hard-negative mining: run a model over audio that holds no keyword (continuous speech,
a stream of other words) and keep the windows where it fires. The next training round
takes them as negatives inside its sequences (`data.hard_negatives`), so the model learns
exactly the sounds it confused with a keyword; repeated, each round finds what is left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kws.atomic import atomic_write_json
from kws.audio import load_audio, save_audio
from kws.errors import AudioError, KwsInputError
from kws.runtime.decision import Decider, DecisionConfig, fire

INDEX = "mined.json"


def recordings_to_mine(paths: list[str], split: str) -> list[str]:
    """Files named directly are mined whole; folders give their recordings of `split`
    (kws.data.continuous: training split by default, so validation and test audio stay
    unseen)."""
    from kws.data.continuous import continuous_rows

    files = []
    for entry in paths:
        p = Path(entry).expanduser()
        if p.is_file():
            files.append(str(p.resolve()))
        else:
            files += [r.path for r in continuous_rows([entry], split)]
    if not files:
        raise KwsInputError(f"--audio {' '.join(paths)}: no recordings of the {split} split")
    return files


def mine(target, audio_paths: list[str], out: str | Path, threshold: float = 0.5,
         before_s: float = 1.5, after_s: float = 0.3,
         log: Callable[[str], None] = print) -> dict:
    """Write every window where `target` (kws.eval.target) fires at `threshold` on the
    recordings in `audio_paths` as a WAV file in `out`, and list them in OUT/mined.json
    (kept across rounds: a window found again is not written twice)."""
    out = Path(out)
    index_path = out / INDEX
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"windows": []}
    known = {w["file"] for w in index["windows"]}
    rate = target.sample_rate
    keywords = [x for x in target.labels if not x.startswith("_")]
    decision = DecisionConfig(thresholds=dict.fromkeys(keywords, threshold),
                              smoothing_ms=target.decision.smoothing_ms,
                              refractory_ms=target.decision.refractory_ms)
    found, hours, bad = [], 0.0, []
    for path in audio_paths:
        try:
            audio = load_audio(path, rate)
        except AudioError as exc:
            bad.append(str(exc))
            log(f"left out {exc}")
            continue
        hours += len(audio) / rate / 3600
        decider = Decider(decision, target.labels, target.hop_s, target.window_s)
        post = target.stream_posteriors(audio)
        fired, _, _ = fire(decider.smoothed(post), decider.thresholds, decider.refractory)
        for frame, j, score in fired:
            t = frame * target.hop_s + target.window_s
            lo = max(0, int((t - before_s) * rate))
            hi = min(len(audio), int((t + after_s) * rate))
            name = f"{Path(path).stem}_{round(t * 1000):09d}.wav"
            if name in known:
                continue
            save_audio(out / name, audio[lo:hi], rate)
            known.add(name)
            found.append({"file": name, "source": path, "time": round(t, 3),
                          "keyword": keywords[j], "score": round(float(score), 4)})
    index["windows"] += found
    atomic_write_json(index_path, index)
    per_keyword = {k: sum(f["keyword"] == k for f in found) for k in keywords}
    summary = {"out": str(out), "hours": round(hours, 3), "recordings": len(audio_paths),
               "new_windows": len(found), "windows": len(index["windows"]),
               "per_hour": len(found) / hours if hours else 0.0, "threshold": threshold,
               "per_keyword": per_keyword, "unreadable": bad}
    log(f"mined {hours:.2f} h at threshold {threshold}: {len(found)} new windows "
        f"({summary['per_hour']:.1f} per hour), {len(index['windows'])} in {out}")
    return summary
