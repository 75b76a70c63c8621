"""`kws bench seed-table --runs DIR`: the comparison table of ../shared/docs/seed.md with
measured numbers, for the classic RNN, the LSTM and the GRU at equal hidden size (2 x 128)
and at equal parameter count (~160k: RNN 2 x 224, LSTM 2 x 112, GRU 2 x 128).

Measured here: parameters, multiply-accumulates per frame, state floats per stream, a
training step on this machine's CPU (batch 128), the streaming detector's cost per 10 ms hop
(float and INT8, 10-hop chunks, one thread). Collected from DIR (trained elsewhere, see
docs/benchmarks.md): accuracy on Arabic Speech Commands val (the best validation epoch of
DIR/arabic_FAMILY_SIZING/metrics.jsonl) and on Speech Commands mini's test list
(DIR/sc_FAMILY_SIZING/eval/clips_test.json, written by `kws eval`). From OUT/gradients.json
(`kws bench gradients`): the longest sequence on which each family learned the long-range
task.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from kws.bench.common import speech_audio, write_report
from kws.bench.gradients import gates_agree
from kws.bench.models import bench_corpus, model_config, speed_bundle, untrained_run

SIZINGS = {"hidden": {"rnn": 128, "lstm": 128, "gru": 128},
           "params": {"rnn": 224, "lstm": 112, "gru": 128}}
FAMILIES = ("rnn", "lstm", "gru")


def arabic_accuracy(run: Path) -> float | None:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return max((r["val_accuracy"] for r in rows), default=None)


def sc_accuracy(run: Path) -> float | None:
    path = run / "eval" / "clips_test.json"
    return json.loads(path.read_text())["accuracy"] if path.is_file() else None


def frames_per_step(run: Path) -> int:
    """How many feature frames the run's model reads per recurrent step (model.frame_stride
    of its config.yaml; 1 when the run is missing): the table says so beside its accuracy,
    since its cost rows are for one frame per step."""
    from kws.config import load_config

    path = run / "config.yaml"
    return load_config(path).model.frame_stride if path.is_file() else 1


def longest_learned(gradients: dict, family: str) -> int | None:
    """The longest sequence every seed of `kws bench gradients` learned (None: not run)."""
    return gradients.get("longest_learned", {}).get(family)


def measure(tmp: Path, family: str, hidden: int, log) -> tuple[dict, dict[str, Path]]:
    """Sizes and the training step of one model, and its float and INT8 bundles (timed
    later, all together: see `streaming_costs`)."""
    from kws.bench.train import record_steps
    from kws.train.checkpoint import load_model

    corpus = bench_corpus(tmp / "corpus", per_word=40)
    cfg = model_config(corpus, family, hidden=hidden, **{"train.batch_size": 128,
                                                         "augment.context_ms": 300})
    run = untrained_run(tmp / f"run_{family}_{hidden}", cfg)
    model, _, _ = load_model(run / "model.pt")
    _, rate, params = record_steps(cfg, tmp / f"steps_{family}_{hidden}", "cpu", 10, warmup=3)
    bundles = {name: speed_bundle(run, tmp / f"bundle_{family}_{hidden}_{name}", q, 10)
               for name, q in (("float", "none"), ("int8", "dynamic"))}
    log(f"bench seed-table: {family} 2 x {hidden}: {params:,} parameters")
    return {"params": params, "macs_per_frame": model.macs_per_frame()["model"],
            "state_floats": model.state_size(),
            "train_ms_per_step": 128 / rate * 1e3}, bundles


def streaming_costs(bundles: dict, audio, rounds: int = 3) -> dict:
    """µs per 10 ms hop of each bundle's detector: interleaved rounds, best of each (this
    machine drifts 2x between minutes; timed one after another, a slow minute would decide
    the families' order)."""
    from kws.bench.hop import detector_rtf

    cost: dict = {}
    for _ in range(rounds):
        for key, path in bundles.items():
            us = detector_rtf(path, audio, 16000) * 1e4
            cost[key] = min(us, cost.get(key, us))
    return cost


def run(out: Path, runs: Path | None, log=print) -> dict:
    import torch

    torch.set_num_threads(1)
    gradients = {}
    if (out / "gradients.json").is_file():
        gradients = json.loads((out / "gradients.json").read_text())
    audio, _ = speech_audio(10.0)
    table: dict = {}
    with tempfile.TemporaryDirectory(prefix="kws-bench-") as tmp_name:
        tmp = Path(tmp_name)
        measured: dict = {}
        bundles: dict = {}
        for hidden in SIZINGS.values():
            for fam in FAMILIES:
                if (fam, hidden[fam]) not in measured:
                    measured[(fam, hidden[fam])], paths = measure(tmp, fam, hidden[fam], log)
                    bundles |= {(fam, hidden[fam], q): p for q, p in paths.items()}
        cost = streaming_costs(bundles, audio)
        for (fam, h, q), us in cost.items():
            measured[(fam, h)][f"us_per_hop_{q}"] = us
        for sizing, hidden in SIZINGS.items():
            for fam in FAMILIES:
                h = hidden[fam]
                e = dict(measured[(fam, h)], hidden=h)
                name = f"{fam}_{sizing}"
                e["arabic_val"] = arabic_accuracy(runs / f"arabic_{name}") if runs else None
                e["sc_test"] = sc_accuracy(runs / f"sc_{name}") if runs else None
                for key, data in (("arabic_stride", "arabic"), ("sc_stride", "sc")):
                    e[key] = frames_per_step(runs / f"{data}_{name}") if runs else 1
                e["longest_T_learned"] = longest_learned(gradients, fam)
                table[name] = e

    def pct(x, stride: int = 1):
        if x is None:
            return "not run"
        return f"{100 * x:.1f}%" + (f" ({stride} frames per step)" if stride > 1 else "")

    def head(f: str, s: str) -> str:
        return f"{f} 2x{table[f'{f}_{s}']['hidden']} (equal {s})"

    rows = [["", *(head(f, s) for s in SIZINGS for f in FAMILIES)]]
    fields = [("parameters", lambda e: f"{e['params']:,}"),
              ("MACs per frame (encoder)", lambda e: f"{e['macs_per_frame']:,}"),
              ("state floats per stream", lambda e: str(e["state_floats"])),
              ("training step, CPU (ms, batch 128)", lambda e: f"{e['train_ms_per_step']:.0f}"),
              ("streaming µs per hop, float", lambda e: f"{e['us_per_hop_float']:.1f}"),
              ("streaming µs per hop, INT8", lambda e: f"{e['us_per_hop_int8']:.1f}"),
              ("Arabic SC val accuracy", lambda e: pct(e["arabic_val"], e["arabic_stride"])),
              ("SC mini test accuracy (12 classes)", lambda e: pct(e["sc_test"], e["sc_stride"])),
              ("longest T learned (every seed, >= 95%)",
               lambda e: str(e["longest_T_learned"] or "none") if gradients else "not run")]
    for label, fmt in fields:
        rows.append([label, *(fmt(table[f"{f}_{s}"]) for s in SIZINGS for f in FAMILIES)])
    notes = verdicts(table, bool(gradients))
    report = {"table": table, "sizings": SIZINGS}
    write_report(out, "seed-table", report, rows, notes)
    return report


def verdicts(t: dict, have_gradients: bool) -> list[str]:
    """Where the measurements agree or disagree with the seed's claims."""
    h = {f: t[f"{f}_hidden"] for f in FAMILIES}
    notes = []
    for weights in ("int8", "float"):
        speed = sorted(FAMILIES, key=lambda f: h[f][f"us_per_hop_{weights}"])
        notes.append(f"speed ({weights.replace('int8', 'INT8')} streaming, equal hidden): "
                     f"fastest to slowest {' < '.join(speed)}; the seed says rnn fast, gru "
                     "faster than lstm: "
                     f"{'agrees' if speed == ['rnn', 'gru', 'lstm'] else 'disagrees'}"
                     + (" (onnxruntime runs the LSTM on an INT8 kernel; the GRU and RNN "
                        "compute in float from INT8-stored weights)" if weights == "int8"
                        else ""))
    notes.append(f"complexity (encoder MACs per frame, equal hidden): rnn "
                 f"{h['rnn']['macs_per_frame']:,}, gru {h['gru']['macs_per_frame']:,}, lstm "
                 f"{h['lstm']['macs_per_frame']:,}: 1 : 3 : 4 weight blocks, as the seed says")
    notes.append(f"memory state: rnn {h['rnn']['state_floats']}, gru "
                 f"{h['gru']['state_floats']}, lstm {h['lstm']['state_floats']} floats per "
                 "stream: one, one and two states, as the seed says")
    if have_gradients:
        ls = {f: h[f]["longest_T_learned"] or 0 for f in FAMILIES}
        agree = gates_agree(ls)
        notes.append(f"long-range task, longest T learned: {ls}; the seed says the gates solve "
                     f"vanishing gradients: {'agrees' if agree else 'does not clearly agree'}")
    for data, key in (("Arabic val", "arabic_val"), ("SC mini test", "sc_test")):
        acc = {f: t[f"{f}_params"][key] for f in FAMILIES}
        if all(v is not None for v in acc.values()):
            best = max(acc, key=acc.get)
            notes.append(f"accuracy at equal parameters on {data}: best {best} "
                         f"({', '.join(f'{f} {100 * v:.1f}%' for f, v in acc.items())}); the "
                         "seed says GRU usually as accurate as LSTM, often better with little "
                         f"data: {'agrees' if acc['gru'] >= acc['lstm'] - 0.005 else 'disagrees'}")
    return notes


def main(args, out: Path) -> dict:
    return run(out, Path(args.runs) if args.runs else None)
