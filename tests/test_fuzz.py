"""Fuzzing (hypothesis): the audio loader, the config loader, the bundle loader and feed()
each give a correct result or a clean one-line KwsInputError, never a crash, a hang or
silent garbage. Run alone with `pytest -k fuzz`."""

from __future__ import annotations

import io
import itertools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from kws.audio import load_audio
from kws.config import load_config
from kws.errors import KwsInputError
from kws.runtime import Detector, load_bundle

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_line(exc: Exception) -> None:
    event(f"refused: {type(exc).__name__}")
    text = str(exc)
    assert text and "\n" not in text.strip()


def _check_audio(path: Path) -> None:
    try:
        x = load_audio(path, 16000)
    except KwsInputError as exc:
        _one_line(exc)
        return
    event("decoded")
    assert x.dtype == np.float32 and x.ndim == 1 and x.size > 0
    assert np.isfinite(x).all() and np.abs(x).max() <= 1.0


def _wav_bytes(seconds: float = 0.2) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]))
def test_fuzz_audio_loader_random_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(data)
        _check_audio(path)


@FUZZ
@given(cut=st.integers(0, 6444), pos=st.integers(0, 60), value=st.integers(0, 255))
@example(cut=0, pos=27, value=7)  # a 117 MHz rate: 0.2 s resampled to no samples at all
def test_fuzz_audio_loader_truncated_files_and_absurd_headers(cut, pos, value):
    """A real WAV cut anywhere, or with one header byte changed (sizes, rate, channels,
    format code): decoded correctly or refused cleanly."""
    good = _wav_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        cut_path = Path(tmp) / "cut.wav"
        cut_path.write_bytes(good[:cut])
        _check_audio(cut_path)
        bad = bytearray(good)
        bad[pos] = value
        bad_path = Path(tmp) / "header.wav"
        bad_path.write_bytes(bytes(bad))
        _check_audio(bad_path)


KEYS = ["data.corpus", "data.task", "features.n_mels", "features.n_cepstra",
        "features.hop_ms", "model.family", "model.hidden", "model.layers",
        "model.frame_stride", "train.epochs", "train.lr", "train.loss", "augment.speed",
        "augment.context_ms", "nonsense.key", "model.nonsense"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                   st.lists(st.floats(-5, 5), max_size=3))


@FUZZ
@given(entries=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
       raw=st.text(max_size=200))
def test_fuzz_config_loader_random_yaml(entries, raw):
    import yaml

    tree: dict = {}
    for key, value in entries.items():
        section, name = key.split(".")
        tree.setdefault(section, {})[name] = value
    with tempfile.TemporaryDirectory() as tmp:
        for text in (yaml.safe_dump(tree), raw):
            path = Path(tmp) / "c.yaml"
            path.write_text(text)
            try:
                cfg = load_config(str(path), [])
            except KwsInputError as exc:
                _one_line(exc)
            else:
                event("config accepted")
                assert cfg.model.hidden >= 4 and cfg.train.epochs >= 1


def _mutations():
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                       st.floats(allow_nan=True), st.text(max_size=10))
    return st.lists(st.tuples(st.sampled_from(["delete", "set", "add"]),
                              st.integers(0, 200), scalar), min_size=1, max_size=4)


def _paths(obj, prefix=()):
    """Every (path to a value) in a JSON tree."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


@FUZZ
@given(mutations=_mutations())
def test_fuzz_bundle_loader_mutated_json(tiny_bundle, mutations):
    """bundle.json with fields deleted, replaced by random values or added: the loader (and
    a Detector on what it accepts) runs correctly or refuses with a BundleError."""
    meta = json.loads((tiny_bundle / "bundle.json").read_text())
    for op, index, value in mutations:
        paths = _paths(meta)
        where = paths[index % len(paths)]
        parent = meta
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        if op == "delete" and isinstance(parent, dict):
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            parent[f"extra_{index}"] = value
        else:
            parent[last] = value
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "b"
        shutil.copytree(tiny_bundle, bundle)
        (bundle / "bundle.json").write_text(json.dumps(meta))
        try:
            det = Detector(load_bundle(bundle), threads=1)
            det.stream().feed(np.zeros(16000, np.float32))
            event("bundle accepted")
        except KwsInputError as exc:
            _one_line(exc)


@pytest.mark.parametrize("size", [-1, 0, 1])
def test_fuzz_bundle_state_sizes_must_fit_the_model(tiny_bundle, tmp_path, size):
    """A state size that is not positive, or not the model input's width, is refused in one
    line when the bundle is loaded, not by onnxruntime when audio arrives."""
    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["states"][-1]["size"] = size
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(KwsInputError, match=r"size|values") as info:
        Detector(load_bundle(bundle), threads=1)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("file", ["../outside.onnx", "/etc/passwd", "sub/../../x.onnx"])
def test_fuzz_bundle_paths_cannot_escape_the_bundle(tiny_bundle, tmp_path, file):
    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    (tmp_path / "outside.onnx").write_bytes(b"x")
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["model"]["file"] = file
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(KwsInputError, match=r"model\.file"):
        load_bundle(bundle)


@FUZZ
@given(cuts=st.lists(st.integers(0, 5000), max_size=12),
       dtype=st.sampled_from(["float32", "float64", "int16", "int32", "uint8", "complex64"]),
       poison=st.sampled_from([None, np.nan, np.inf, -np.inf]), scale=st.floats(0.0, 40.0))
def test_fuzz_feed_random_lengths_dtypes_values(tiny_bundle, tiny_stream, cuts, dtype, poison,
                                                scale):
    """feed() in random pieces, dtypes and values: accepted input gives exactly the
    detections of one whole feed (values beyond full scale are clipped); int16 and float are
    accepted, other dtypes and NaN/Inf are refused with a clean error."""
    det = Detector(tiny_bundle, threads=1)
    audio = load_audio(tiny_stream[0])[:16000 * 4] * scale
    if dtype == "int16":
        x = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    elif dtype in ("int32", "uint8", "complex64"):
        x = audio.astype(dtype)
    else:
        x = audio.astype(dtype)
        if poison is not None:
            x[len(x) // 2] = poison
    bounds = sorted({min(c, len(x)) for c in cuts} | {0, len(x)})
    stream = det.stream()
    try:
        events = [e for a, b in itertools.pairwise(bounds)
                  for e in stream.feed(x[a:b])]
    except KwsInputError as exc:
        _one_line(exc)
        assert dtype in ("int32", "uint8", "complex64") or poison is not None
        return
    assert dtype in ("float32", "float64", "int16") and (poison is None or dtype == "int16")
    event("feed accepted")
    whole = det.stream().feed(x)
    assert [(e.keyword, e.frame) for e in events] == [(e.keyword, e.frame) for e in whole]
    post = stream.process(np.zeros(0, np.float32))
    assert np.isfinite(post).all()


@pytest.mark.parametrize("where", ["output", "state"])
def test_fuzz_bundle_output_names_must_be_the_models(tiny_bundle, tmp_path, where):
    """An output name the model lacks (hypothesis found an empty one, which onnxruntime
    refused mid-stream) is a one-line error when the Detector is made."""
    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    if where == "output":
        meta["output"]["name"] = ""
    else:
        meta["states"][-1]["output"] = "no_such_output"
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(KwsInputError, match="names outputs"):
        Detector(load_bundle(bundle), threads=1)


def test_fuzz_bundle_labels_must_be_the_models_outputs(tiny_bundle, tmp_path):
    """A label more than the model has posteriors for (each stream binds an output buffer
    of the labels' width) is a one-line error when the Detector is made, not an onnxruntime
    shape error at the first chunk."""
    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    n = len(meta["labels"])
    meta["labels"].append("extra")
    meta["keywords"].append("extra")
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(KwsInputError, match=f"emits {n} posteriors per frame, bundle.json "
                                            f"labels lists {n + 1}"):
        Detector(load_bundle(bundle), threads=1)
