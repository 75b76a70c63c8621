"""`kws bench runtime`: what listening costs on one CPU core, every export variant of a
model against that model's float bundle, measured in the same process.

Models: rnn, lstm and gru (2 x 128, one frame per step), and gru with two frames per step
(the quickstart's and the base encoder's shape), untrained (speed does not depend on the
weights); with `--run RUN` also trained runs, whose variants are scored for accuracy on a
split of their corpus (the accuracy each variant costs, in points against float); with
`--bundle B` also finished bundles (an enrolled phrase, say), timed as they are.

Variants (kws export options): float (the baseline), INT8 dynamic, in chunks of 4, 10 and 20
hops, recurrent layers fused (ONNX's operators) or unrolled (per-frame MatMuls, for runtimes
without them), and static INT8 unrolled (the phone profile). Each is timed as a `Detector`
(front end and decisions included, one thread) fed 100 ms pieces of real speech. Baselines
of each model: (a) the PyTorch model stepped frame by frame in eager mode; (b) a sliding
window (MFCC of the last second and the model over it, every hop: how Mycroft Precise
listens); (c) the compute floor (one single-core matrix-vector product of a frame's
multiply-accumulates). Where a hop goes (kws.bench.hop) for every model's INT8 bundle in
10-hop chunks and every given bundle; peak memory of a `kws stream` process; and at which
layer width integer matrix products start to pay (kws.bench.int8_products).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kws.bench.common import cpu_time, speech_audio, write_report
from kws.bench.hop import breakdown_line, detector_rtf, hop_breakdown
from kws.bench.int8_products import WIDTHS, crossover, crossover_note
from kws.bench.models import bench_corpus, model_config, speed_bundle, untrained_run
from kws.errors import KwsInputError

FAMILIES = ("rnn", "lstm", "gru")
QUICKSTART = "gru stride 2"  # the quickstart's model shape (recipes/synthetic/conf/gru.yaml)
TARGETS = {"rtf": 0.002, "vs_eager": 20.0, "vs_window": 50.0, "vs_floor": 3.0, "rss_mb": 150.0,
           "quickstart_rtf": 0.001, "encoder_rtf": 0.002, "encoder_drop_points": 0.3,
           "enrolled_rtf": 0.003}


@dataclass(frozen=True)
class Variant:
    weights: str     # float | int8 | int8 static
    quantize: str    # kws export --quantize
    recurrent: str   # fused | unrolled
    chunk: int

    @property
    def key(self) -> str:
        return f"{self.weights}/{self.recurrent}/{self.chunk}"


BASELINE = Variant("float", "none", "fused", 10)
VARIANTS = (BASELINE, Variant("int8", "dynamic", "fused", 10),
            Variant("int8", "dynamic", "fused", 4), Variant("int8", "dynamic", "fused", 20),
            Variant("float", "none", "unrolled", 10), Variant("int8", "dynamic", "unrolled", 10),
            Variant("int8 static", "static", "unrolled", 10))
ALWAYS_ON = "int8/fused/10"  # the default export: what the targets judge


@torch.no_grad()
def eager_rtf(model, audio: np.ndarray, seconds: float) -> float:
    """Baseline (a): MFCC step + model step per 10 ms hop, PyTorch eager, float32."""
    from kws.features.mfcc import MfccStep

    f = model.feature_cfg
    step = MfccStep(f, dtype=torch.float32)
    keep, hop = f.win_length - f.hop_length, f.hop_length
    stride = model.stride
    wave = torch.from_numpy(audio[:int(seconds * f.sample_rate)])[None]
    hops = (wave.shape[1] - keep) // (hop * stride) * stride

    def go() -> None:
        carry, state = wave[:, :keep], model.initial_state(1)
        for i in range(0, hops, stride):
            chunk = wave[:, keep + i * hop:keep + (i + stride) * hop]
            feats, carry = step(chunk, carry)
            logits, state = model(model.normalize(feats), state)
            torch.softmax(logits, -1)

    return cpu_time(go, repeat=3, min_seconds=0.3) / (hops * hop / f.sample_rate)


@torch.no_grad()
def window_rtf(model, audio: np.ndarray, hops: int = 100, window_s: float = 1.0) -> float:
    """Baseline (b): every hop, MFCC of the last `window_s` seconds and the whole model."""
    f = model.feature_cfg
    win = int(window_s * f.sample_rate)
    wave = torch.from_numpy(audio)[None]

    def go() -> None:
        for i in range(hops):
            end = win + i * f.hop_length
            feats = model.features(wave[:, end - win:end], torch.float32)
            logits, _ = model(feats)
            torch.softmax(logits[:, -1], -1)

    return cpu_time(go, repeat=3, min_seconds=0.3) / (hops * f.hop_length / f.sample_rate)


def floor_rtf(model) -> tuple[float, float]:
    """Baseline (c): (RTF of the floor, measured multiply-accumulates per second)."""
    macs = model.macs_per_frame()["total"]
    cols = 256
    w = torch.randn(max(1, macs // cols), cols)
    x = torch.randn(cols)
    t = cpu_time(lambda: torch.mv(w, x), repeat=5, min_seconds=0.2)
    rate = w.numel() / t
    frames_per_second = model.feature_cfg.sample_rate / model.feature_cfg.hop_length
    return macs * frames_per_second / rate, rate


def stream_peak_rss_mb(bundle: Path, wav: Path) -> float:
    """Peak resident memory (MB) that a `kws stream` process reports streaming `wav`."""
    import json

    proc = subprocess.run([sys.executable, "-m", "kws", "stream", str(bundle), str(wav),
                           "--threads", "1", "--json"], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"kws stream failed: {proc.stderr.strip()[-300:]}")
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(last["summary"]["peak_memory_mb"])


def clip_accuracy(bundle: Path, split: str | None, data: str | None) -> float:
    """Clip accuracy of a bundle through the runtime on a split of its run's corpus (or of
    `data`): what `kws eval BUNDLE` reports."""
    from kws.eval.clip_eval import eval_clips
    from kws.eval.target import open_target

    t = open_target(bundle)
    return float(eval_clips(t.config, t.labels, t.rule, split, t.clip_posteriors, data=data,
                            log=lambda *_: None)["accuracy"])


def measure_model(name: str, run_dir: Path, tmp: Path, audio: np.ndarray, wav: Path,
                  variants: tuple[Variant, ...], trained: bool, split: str | None,
                  data: str | None, log=print) -> dict:
    """Every variant of one model against its float bundle; accuracy when `trained`."""
    from kws.train.checkpoint import load_model

    model, cfg, _ = load_model(run_dir / "model.pt")
    eager = eager_rtf(model, audio, min(len(audio) / 16000, 5.0))
    floor, mac_rate = floor_rtf(model)
    entry = {"params": model.num_params(), "macs_per_frame": model.macs_per_frame(),
             "frame_stride": model.stride, "trained": trained, "init": cfg.train.init,
             "eager_rtf": eager, "window_rtf": window_rtf(model, audio), "floor_rtf": floor,
             "floor_macs_per_second": mac_rate, "variants": {}}
    accuracy: dict[tuple[str, str], float] = {}  # chunking changes no posterior (tested)
    for v in variants:
        if v.chunk % model.stride:
            continue
        bundle = tmp / f"{name.replace(' ', '_')}_{v.key.replace('/', '_').replace(' ', '_')}"
        speed_bundle(run_dir, bundle, v.quantize, v.chunk, recurrent=v.recurrent,
                     trained=trained)
        rtf = detector_rtf(bundle, audio, 16000)
        model_file = next(p for p in bundle.glob("model*.onnx"))
        cell = {"rtf": rtf, "us_per_hop": rtf * 1e4, "vs_eager": eager / rtf,
                "vs_window": entry["window_rtf"] / rtf, "vs_floor": rtf / floor,
                "size_kb": model_file.stat().st_size / 1024}
        if trained:
            if (v.weights, v.recurrent) not in accuracy:
                accuracy[(v.weights, v.recurrent)] = clip_accuracy(bundle, split, data)
            cell["accuracy"] = accuracy[(v.weights, v.recurrent)]
        if v.key == ALWAYS_ON:
            cell["peak_rss_mb"] = stream_peak_rss_mb(bundle, wav)
            entry["breakdown"] = hop_breakdown(bundle, audio)
            log("bench runtime: " + breakdown_line(name, entry["breakdown"]))
        entry["variants"][v.key] = cell
        log(f"bench runtime: {name} {v.key}: RTF {rtf:.5f}" +
            (f", accuracy {100 * cell['accuracy']:.2f}%" if "accuracy" in cell else ""))
    base = entry["variants"].get(BASELINE.key)
    for cell in entry["variants"].values():
        if base:
            cell["vs_float"] = base["rtf"] / cell["rtf"]
            if "accuracy" in cell:
                cell["delta_points"] = 100 * (cell["accuracy"] - base["accuracy"])
    return entry


def run(out: Path, seconds: float = 30.0, families: tuple[str, ...] = FAMILIES,
        variants: tuple[Variant, ...] = VARIANTS, runs: tuple[str, ...] = (),
        bundles: tuple[str, ...] = (), split: str | None = "validation",
        data: str | None = None, widths: tuple[int, ...] = WIDTHS, log=print) -> dict:
    from kws.audio import save_audio

    torch.set_num_threads(1)
    for r in runs:
        if not (Path(r) / "model.pt").is_file():
            raise KwsInputError(f"--run {r}: not a run directory with model.pt")
    from kws.runtime.bundle import load_bundle

    for b in bundles:
        load_bundle(b)  # a bad bundle is refused before anything is measured
    results, timed = {}, {}
    with tempfile.TemporaryDirectory(prefix="kws-bench-") as tmp_name:
        tmp = Path(tmp_name)
        audio, source = speech_audio(seconds)
        wav = tmp / "speech.wav"
        save_audio(wav, audio, 16000)
        shapes = [(fam, 1) for fam in families] + ([("gru", 2)] if "gru" in families else [])
        if shapes:
            corpus = bench_corpus(tmp / "corpus")
        for fam, stride in shapes:
            name = fam if stride == 1 else f"{fam} stride {stride}"
            run_dir = untrained_run(tmp / f"run_{fam}_{stride}",
                                    model_config(corpus, fam, stride=stride))
            results[name] = measure_model(name, run_dir, tmp, audio, wav, variants, False,
                                          split, data, log)
        for r in runs:
            name = _unique(Path(r), results)
            results[name] = measure_model(name, Path(r), tmp, audio, wav, variants, True,
                                          split, data, log)
        for b in bundles:
            name = _unique(Path(b), {**results, **timed})
            bd = hop_breakdown(Path(b), audio)
            timed[name] = {"breakdown": bd, "rtf": min(bd["rtf"], detector_rtf(
                Path(b), audio, 16000)), "search": load_bundle(b).search is not None}
            log("bench runtime: " + breakdown_line(name, bd))
    products = crossover(widths)
    notes, met = _targets(results, timed)
    notes.append(crossover_note(products))
    notes.insert(0, f"{seconds:.0f} s of {source}, fed in 100 ms pieces; one thread; best of "
                 "3 (process CPU time); untrained models are 2 x 128 with the default front "
                 "end (25 ms / 10 ms, 20 cepstra): speed does not depend on the weights; "
                 "accuracy: clips of the trained runs' " + (split or "test") + " split "
                 "through the runtime, in points against the same run's float bundle")
    for name, e in results.items():
        notes.append(f"{name}: eager PyTorch RTF {e['eager_rtf']:.4f}, sliding window RTF "
                     f"{e['window_rtf']:.3f}, floor RTF {e['floor_rtf']:.5f} "
                     f"({e['floor_macs_per_second'] / 1e9:.1f} GMAC/s single-core matvec, "
                     f"{e['macs_per_frame']['total']:,} MACs per frame)")
    notes += [breakdown_line(n, e["breakdown"]) + " (µs, best of interleaved rounds)"
              for n, e in [*results.items(), *timed.items()] if "breakdown" in e]
    report = {"seconds_of_audio": seconds, "source": source, "split": split,
              "results": results, "bundles": timed, "int8_products": products,
              "targets": TARGETS, "targets_met": met}
    write_report(out, "runtime", report, _table(results, timed), notes)
    return report


def _unique(path: Path, taken: dict) -> str:
    """A row name for a run or bundle: its folder's name, with its parent's where that is
    taken (a run named `gru` beside the untrained `gru`)."""
    path = path.resolve()
    return path.name if path.name not in taken else f"{path.parent.name}/{path.name}"


def _table(results: dict, timed: dict) -> list[list[str]]:
    head = ["model", "weights", "layers", "chunk (hops)", "RTF", "µs per hop", "vs float",
            "vs eager (a)", "vs window (b)", "vs floor (c)", "model KB", "accuracy",
            "vs float (points)", "peak RSS MB"]
    rows = [head]
    for name, e in results.items():
        for key, c in e["variants"].items():
            weights, form, chunk = key.split("/")
            acc = f"{100 * c['accuracy']:.2f}%" if "accuracy" in c else ""
            delta = f"{c['delta_points']:+.2f}" if "delta_points" in c else ""
            rows.append([name, weights, form, chunk, f"{c['rtf']:.5f}",
                         f"{c['us_per_hop']:.1f}", f"{c.get('vs_float', 1.0):.2f}x",
                         f"{c['vs_eager']:.0f}x", f"{c['vs_window']:.0f}x",
                         f"{c['vs_floor']:.1f}x", f"{c['size_kb']:.0f}", acc, delta,
                         f"{c['peak_rss_mb']:.0f}" if "peak_rss_mb" in c else ""])
    for name, t in timed.items():
        rows.append([name, "as exported", "", "", f"{t['rtf']:.5f}", f"{t['rtf'] * 1e4:.1f}",
                     "", "", "", "", "", "", "", ""])
    return rows


def _targets(results: dict, timed: dict | None = None) -> tuple[list[str], dict]:
    """The targets: GRU-128 INT8 in 10-hop chunks (RTF, vs eager, window, floor, memory);
    the quickstart's shape (`gru stride 2`) INT8 at RTF <= 0.001; a base-encoder run's
    INT8 bundle at RTF <= 0.002 within 0.3 points of its float bundle (mean over runs);
    an enrolled bundle at RTF <= 0.003. Each RTF is the best of the table's and the
    breakdown's measurements of that bundle."""
    word = {True: "met", False: "MISSED"}
    notes, met = [], {}

    def best(e: dict) -> float:
        rtf = e["variants"][ALWAYS_ON]["rtf"]
        return min(rtf, e["breakdown"]["rtf"]) if "breakdown" in e else rtf

    gru = results.get("gru")
    if gru is not None and ALWAYS_ON in gru["variants"]:
        c = gru["variants"][ALWAYS_ON]
        rtf = best(gru)
        met.update(rtf=rtf <= TARGETS["rtf"],
                   vs_eager=gru["eager_rtf"] / rtf >= TARGETS["vs_eager"],
                   vs_window=gru["window_rtf"] / rtf >= TARGETS["vs_window"],
                   vs_floor=rtf / gru["floor_rtf"] <= TARGETS["vs_floor"],
                   rss_mb=c.get("peak_rss_mb", 1e9) <= TARGETS["rss_mb"])
        notes.append(
            f"target GRU-128 INT8 chunk 10: RTF <= {TARGETS['rtf']}: {word[met['rtf']]} "
            f"({rtf:.5f}); >= 20x eager: {word[met['vs_eager']]} "
            f"({gru['eager_rtf'] / rtf:.0f}x); >= 50x window: {word[met['vs_window']]} "
            f"({gru['window_rtf'] / rtf:.0f}x); within 3x of floor: "
            f"{word[met['vs_floor']]} ({rtf / gru['floor_rtf']:.1f}x); peak RSS <= 150 MB: "
            f"{word[met['rss_mb']]} ({c.get('peak_rss_mb', float('nan')):.0f} MB)")
    quick = results.get(QUICKSTART)
    if quick is not None and ALWAYS_ON in quick["variants"]:
        rtf = best(quick)
        met["quickstart_rtf"] = rtf <= TARGETS["quickstart_rtf"]
        notes.append(f"target the quickstart's GRU 2 x 128 (two frames per step) INT8 chunk "
                     f"10: RTF <= {TARGETS['quickstart_rtf']}: "
                     f"{word[met['quickstart_rtf']]} ({rtf:.5f})")
    encoder = {n: e for n, e in results.items()
               if e.get("trained") and str(e.get("init", "")).startswith("encoder:")
               and ALWAYS_ON in e["variants"]}
    if encoder:
        rtfs = {n: best(e) for n, e in encoder.items()}
        drops = {n: -e["variants"][ALWAYS_ON]["delta_points"] for n, e in encoder.items()}
        mean_drop = float(np.mean(list(drops.values())))
        met["encoder_rtf"] = max(rtfs.values()) <= TARGETS["encoder_rtf"]
        met["encoder_drop_points"] = mean_drop <= TARGETS["encoder_drop_points"]
        notes.append(
            f"target base-encoder keyword bundles INT8 chunk 10 ({len(encoder)} runs): RTF <= "
            f"{TARGETS['encoder_rtf']}: {word[met['encoder_rtf']]} (worst "
            f"{max(rtfs.values()):.5f}); within {TARGETS['encoder_drop_points']} points of "
            f"float (mean over runs): {word[met['encoder_drop_points']]} ({mean_drop:+.2f} "
            f"points lost; per run " + ", ".join(f"{d:+.2f}" for d in drops.values()) + ")")
    enrolled = {n: t for n, t in (timed or {}).items() if t["search"]}
    if enrolled:
        worst = max(t["rtf"] for t in enrolled.values())
        met["enrolled_rtf"] = worst <= TARGETS["enrolled_rtf"]
        notes.append(f"target enrolled bundles ({', '.join(enrolled)}): RTF <= "
                     f"{TARGETS['enrolled_rtf']}: {word[met['enrolled_rtf']]} "
                     f"(worst {worst:.5f})")
    return notes, met


def main(args, out: Path) -> dict:
    extra = {"runs": tuple(args.run or ()), "bundles": tuple(args.bundle or ()),
             "split": args.split, "data": args.data}
    if args.quick:
        return run(out, seconds=min(args.seconds, 5.0), families=("gru",),
                   variants=(BASELINE, Variant("int8", "dynamic", "fused", 10)),
                   widths=(128,), **extra)
    return run(out, seconds=args.seconds, **extra)
