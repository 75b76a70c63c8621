"""The device side: the detector through its public API, `kws stream`, no torch, bad input,
and the microphone path through a real PulseAudio server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.audio import load_audio
from kws.runtime import Detector

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
BLOCK_TORCH = ("import sys; [sys.modules.__setitem__(m, None) for m in "
               "('torch', 'torchaudio', 'librosa')]; from kws.cli import main; "
               "sys.exit(main(sys.argv[1:]))")


def _events(det: Detector, audio: np.ndarray, piece: int) -> list[tuple]:
    s = det.stream()
    out = []
    for i in range(0, len(audio), piece):
        out += [(e.keyword, e.frame, round(e.score, 6)) for e in s.feed(audio[i:i + piece])]
    return out


def _kws(*args: str, stdin: bytes | None = None, block_torch: bool = False):
    cmd = [sys.executable, "-c", BLOCK_TORCH] if block_torch else [sys.executable, "-m", "kws"]
    return subprocess.run([*cmd, *args], env=ENV, capture_output=True, input=stdin,
                          timeout=300)


def test_runtime_chunk_size_invariance_through_public_api(tiny_bundle, tiny_stream):
    det = Detector(tiny_bundle, thresholds=None)
    audio = load_audio(tiny_stream[0])[:16000 * 40]
    reference = _events(det, audio, 16000)
    assert reference, "the tiny model detects nothing: the test would prove nothing"
    for piece in (1, 37, 160, 1600):
        assert _events(det, audio, piece) == reference, piece


def test_runtime_int16_and_float_feeds_agree(tiny_bundle, tiny_stream):
    det = Detector(tiny_bundle)
    audio = load_audio(tiny_stream[0])[:16000 * 20]
    pcm = np.round(audio * 32767).astype(np.int16)
    a = det.stream().process(pcm)
    b = det.stream().process(pcm.astype(np.float32) / 32768)
    assert np.abs(a - b).max() == 0


def test_runtime_feeding_from_a_reused_buffer_equals_feeding_copies(tiny_bundle, tiny_stream):
    """A sound card hands the same buffer back each time: a stream must keep the samples,
    not the buffer (pieces shorter than a chunk wait in the stream between feeds)."""
    det = Detector(tiny_bundle)
    audio = load_audio(tiny_stream[0])[:16000 * 5]
    want = det.stream().process(audio)
    s, buf, got = det.stream(), np.empty(700, np.float32), []
    for lo in range(0, len(audio), 700):
        n = len(audio[lo:lo + 700])
        buf[:n] = audio[lo:lo + n]
        got.append(s.process(buf[:n]))
        buf[:] = 0.5  # the card writes the next block into the same memory
    np.testing.assert_array_equal(np.concatenate(got), want)


def test_runtime_batched_streams_equal_separate_streams(tiny_bundle, tiny_stream):
    det = Detector(tiny_bundle)
    audio = load_audio(tiny_stream[0])
    parts = [audio[i * 16000 * 20:(i + 1) * 16000 * 20] for i in range(3)]
    alone = [_events(det, p, 1600) for p in parts]
    streams = [det.stream() for _ in parts]
    together = [[] for _ in parts]
    for lo in range(0, len(parts[0]), 1600):
        found = det.feed_many(streams, [p[lo:lo + 1600] for p in parts])
        for i, evs in enumerate(found):
            together[i] += [(e.keyword, e.frame, round(e.score, 6)) for e in evs]
    assert together == alone
    assert sum(map(len, alone)) > 0


def test_runtime_saved_state_stays_and_restores(tiny_bundle, tiny_stream):
    """A stream's state is a snapshot: what `states` handed out does not move as the
    stream goes on (the session writes into buffers of its own), and assigning it back
    (or a state reset between calls, as after a detection) reaches the next session call:
    the same audio then gives the same posteriors, single or batched."""
    det = Detector(tiny_bundle)
    b = det.bundle
    audio = load_audio(tiny_stream[0])
    first = b.carry_samples + 7 * b.chunk_samples  # leaves nothing pending
    x1, x2 = audio[:first], audio[first:first + 9 * b.chunk_samples]
    s = det.stream()
    s.process(x1)
    saved = s.states
    frozen = {k: v.copy() for k, v in saved.items()}
    want = s.process(x2)
    assert all(np.array_equal(saved[k], frozen[k]) for k in saved)
    s.states = saved
    np.testing.assert_array_equal(s.process(x2), want)
    s.states = saved
    s2 = det.stream()
    s2.process(x1)
    det.feed_many([s, s2], [x2, x2])  # a batched round, then single calls again
    s.states = saved
    np.testing.assert_array_equal(s.process(x2), want)
    zero = {k: (np.zeros_like(v) if k != "fe_carry" else v) for k, v in saved.items()}
    s.states = zero
    fresh = s.process(x2)
    assert not np.array_equal(fresh, want)
    s.states = zero
    np.testing.assert_array_equal(s.process(x2), fresh)


def test_runtime_reset_after_detection_reaches_the_next_call(tiny_bundle, tiny_stream):
    """`reset_after_detection`: the chunk after a detection starts from a zero recurrent
    state, exactly as a stream whose state was zeroed by hand at that point."""
    from dataclasses import replace

    plain = Detector(tiny_bundle)
    resetting = Detector(tiny_bundle, decision=replace(plain.decision,
                                                       reset_after_detection=True))
    b = plain.bundle
    audio = load_audio(tiny_stream[0])
    s, ref = resetting.stream(), plain.stream()
    s.recorded = []
    s.feed(audio[:b.carry_samples])
    ref.process(audio[:b.carry_samples])
    at = b.carry_samples
    while at + 2 * b.chunk_samples <= len(audio):
        piece = audio[at:at + b.chunk_samples]
        at += b.chunk_samples
        ref.process(piece)
        if s.feed(piece):
            break
    else:
        pytest.fail("no detection in the stream")
    ref.states = {k: (v if k == "fe_carry" else np.zeros_like(v))
                  for k, v in ref.states.items()}
    piece = audio[at:at + b.chunk_samples]
    s.feed(piece)
    np.testing.assert_array_equal(s.recorded[-1], ref.process(piece))


def test_runtime_reset_starts_over(tiny_bundle, tiny_stream):
    det = Detector(tiny_bundle)
    audio = load_audio(tiny_stream[0])[:16000 * 10]
    s = det.stream()
    first = s.process(audio)
    s.reset()
    assert np.array_equal(s.process(audio), first)


def test_runtime_stream_cli_equals_streaming_evaluation(tiny_bundle, tiny_stream, tmp_path):
    wav, _labels = tiny_stream
    res = _kws("stream", str(tiny_bundle), str(wav), "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.decode().splitlines()]
    found = [(x["keyword"], x["time"]) for x in lines if "keyword" in x]
    summary = lines[-1]["summary"]
    assert summary["audio_seconds"] == pytest.approx(120, abs=0.1)
    assert summary["real_time_factor"] > 0
    # its own peak, not the parent's (a forked child's ru_maxrss would report this pytest)
    assert 20 < summary["peak_memory_mb"] < 400
    ev = _kws("eval", str(tiny_bundle), "--stream", str(wav), "--no-clips", "--json",
              "--out", str(tmp_path / "eval"))
    assert ev.returncode == 0, ev.stderr
    report = json.loads(ev.stdout)["stream"]
    expected = [(d["keyword"], d["time"]) for d in report["detections_at_configured_thresholds"]]
    assert found == expected and len(found) > 5


def test_runtime_without_torch(tiny_bundle, tiny_stream, tmp_path):
    """`kws stream` and kws.runtime work where importing torch/torchaudio/librosa fails."""
    check = subprocess.run([sys.executable, "-c", BLOCK_TORCH.replace(
        "from kws.cli import main; sys.exit(main(sys.argv[1:]))",
        "import kws.runtime, kws.audio, kws.commands.stream; "
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]")],
        env=ENV, capture_output=True)
    assert check.returncode == 0, check.stderr
    res = _kws("stream", str(tiny_bundle), str(tiny_stream[0]), "--json",
               "--plot", str(tmp_path / "p.png"), block_torch=True)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    assert any("keyword" in json.loads(x) for x in res.stdout.decode().splitlines())
    assert (tmp_path / "p.png").stat().st_size > 10000


def _detections(res) -> list[tuple[str, float]]:
    lines = [json.loads(x) for x in res.stdout.decode().splitlines()]
    return [(x["keyword"], x["time"]) for x in lines if "keyword" in x]


def _agree(a: list, b: list, tol: float = 0.25) -> float:
    """Share of detections in `b` matched by the same keyword within `tol` s in `a`."""
    hits = sum(any(k == k2 and abs(t - t2) <= tol for k2, t2 in a) for k, t in b)
    return hits / max(1, len(b))


def test_runtime_stereo_44k_file_is_mixed_and_resampled(tiny_bundle, tiny_stream, tmp_path):
    import soxr

    audio = load_audio(tiny_stream[0])[:16000 * 30]
    up = soxr.resample(audio, 16000, 44100)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([up, up], axis=1), 44100)  # the mix is `up` itself
    res = _kws("stream", str(tiny_bundle), str(path), "--json")
    assert res.returncode == 0, res.stderr
    last = json.loads(res.stdout.decode().splitlines()[-1])
    assert last["summary"]["audio_seconds"] == pytest.approx(30, abs=0.05)
    mono = sf.SoundFile(tmp_path / "mono.wav", "w", 16000, 1)
    mono.write(audio)
    mono.close()
    ref = _detections(_kws("stream", str(tiny_bundle), str(tmp_path / "mono.wav"), "--json"))
    got = _detections(res)
    assert ref and _agree(got, ref) >= 0.9 and _agree(ref, got) >= 0.9


def test_runtime_raw_pcm_on_stdin_with_rate(tiny_bundle, tiny_stream):
    import soxr

    audio = load_audio(tiny_stream[0])[:16000 * 20]
    file_res = _kws("stream", str(tiny_bundle), "-", "--json",
                    stdin=np.round(audio * 32767).astype("<i2").tobytes())
    pcm8k = np.round(soxr.resample(audio, 16000, 8000) * 32767).astype("<i2")
    res8 = _kws("stream", str(tiny_bundle), "-", "--rate", "8000", "--json",
                stdin=pcm8k.tobytes())
    for r in (file_res, res8):
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.decode().splitlines()[-1])["summary"]["audio_seconds"] == \
            pytest.approx(20, abs=0.05)


@pytest.mark.parametrize("case", ["version", "missing_file", "corrupt_model", "bad_audio",
                                  "no_bundle", "bad_threshold"])
def test_runtime_bad_input_one_line_exit_2(tiny_bundle, tiny_stream, tmp_path, case):
    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    audio = str(tiny_stream[0])
    args = ["stream", str(bundle), audio]
    if case == "version":
        meta = json.loads((bundle / "bundle.json").read_text())
        meta["version"] = 99
        (bundle / "bundle.json").write_text(json.dumps(meta))
    elif case == "missing_file":
        args[2] = str(tmp_path / "nothing.wav")
    elif case == "corrupt_model":
        model = bundle / "model.onnx"
        model.write_bytes(model.read_bytes()[:1000])
    elif case == "bad_audio":
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"RIFF" + os.urandom(500))
        args[2] = str(bad)
    elif case == "no_bundle":
        args[1] = str(tmp_path)
    elif case == "bad_threshold":
        args += ["--thresholds", "yes=1.5"]
    res = _kws(*args)
    err = res.stderr.decode().strip()
    assert res.returncode == 2, err
    assert err.startswith("kws stream: error:") and "\n" not in err


def _pulse_env(tmp: Path) -> dict:
    home, run = tmp / "home", tmp / "run"
    home.mkdir()
    run.mkdir()
    (home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
    return {**ENV, "HOME": str(home), "PULSE_RUNTIME_PATH": str(run),
            "XDG_RUNTIME_DIR": str(run), "PULSE_SERVER": f"unix:{run}/native"}


@pytest.mark.mic
@pytest.mark.parametrize("kind", ["tiny_bundle", "enrolled_bundle"])
def test_runtime_listen_hears_keywords_through_pulseaudio(kind, request, tiny_stream, tmp_path):
    """A real PulseAudio server (user mode) with a null sink whose monitor is the default
    source; a recording is played into the sink while `kws listen` (PortAudio via ALSA's
    pulse plugin) listens: a trained bundle, and one enrolled by text (kws enroll)."""
    tiny_bundle = request.getfixturevalue(kind)
    if not (shutil.which("pulseaudio") and shutil.which("paplay") and shutil.which("pactl")):
        pytest.skip("pulseaudio/paplay not installed (.ci/run installs them)")
    env = _pulse_env(tmp_path)
    subprocess.run(["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
                    "--load=module-native-protocol-unix",
                    "--load=module-null-sink sink_name=kws_sink"], env=env, check=True,
                   timeout=30)
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-sink", "kws_sink"], env=env, check=True)
        subprocess.run(["pactl", "set-default-source", "kws_sink.monitor"], env=env,
                       check=True)
        # the 20 s of the test stream where the file path detects the most keywords
        whole = _kws("stream", str(tiny_bundle), str(tiny_stream[0]), "--json")
        times = np.array([json.loads(x)["time"] for x in whole.stdout.decode().splitlines()
                          if "keyword" in json.loads(x)])
        start = max(range(0, 100, 5), key=lambda s: int(((times > s) & (times < s + 18)).sum()))
        clip = tmp_path / "clip.wav"
        audio = load_audio(tiny_stream[0])[16000 * start:16000 * (start + 20)]
        sf.write(clip, audio, 16000)
        expected = _kws("stream", str(tiny_bundle), str(clip), "--json")
        want = [json.loads(x)["keyword"] for x in expected.stdout.decode().splitlines()
                if "keyword" in json.loads(x)]
        assert want
        listen = subprocess.Popen([sys.executable, "-m", "kws", "listen", str(tiny_bundle),
                                   "--seconds", "26", "--json"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        subprocess.run(["paplay", str(clip)], env=env, check=True, timeout=60)
        out, err = listen.communicate(timeout=60)
        assert listen.returncode == 0, err.decode()
        lines = [json.loads(x) for x in out.decode().splitlines()]
        heard = [x["keyword"] for x in lines if "keyword" in x]
        assert lines[-1]["summary"]["audio_seconds"] > 20
        # the microphone path hears (nearly) what the file path finds
        assert len(heard) >= 0.7 * len(want)
        assert set(heard) & set(want)
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)


def test_runtime_listen_without_input_device(tiny_bundle, tmp_path):
    """No sound card and no reachable sound server: a one-line error, exit code 2."""
    if Path("/dev/snd").exists():
        pytest.skip("this machine has sound devices")
    env = {**ENV, "HOME": str(tmp_path), "PULSE_SERVER": "unix:/nonexistent"}
    res = subprocess.run([sys.executable, "-m", "kws", "listen", str(tiny_bundle),
                          "--seconds", "1"], env=env, capture_output=True, timeout=120)
    err = res.stderr.decode().strip().splitlines()
    assert res.returncode == 2, res.stderr.decode()
    assert err[-1].startswith("kws listen: error:")


def test_runtime_soak_short_hostile_audio(tiny_bundle, tiny_stream):
    """A shortened soak (6 minutes; scripts/soak.py runs 10 hours): silence, clipping, DC
    offset and 0 dBFS noise leave posteriors finite and in [0, 1], the state bounded, memory
    flat, and the stream hears a keyword track afterwards exactly as a fresh stream does."""
    from kws.bench.soak import soak

    speech = load_audio(tiny_stream[0])
    report = soak(tiny_bundle, 0.1, speech, speech[:40 * 16000], log=lambda *_: None)
    assert report["nonfinite"] == 0
    lo, hi = report["posterior_range"]
    assert lo >= 0.0 and hi <= 1.0 + 1e-6 and hi > 0.5
    assert report["largest_abs_state"] <= 1.0 + 1e-6  # GRU: a convex mix of tanh values
    assert report["rss_growth_mb"] <= 5.0
    assert report["track_detections_fresh"] and report["track_matches_fresh"]


def test_runtime_soak_forgetting_measures_posterior_gaps(tiny_bundle, tiny_stream):
    """The forgetting measurement lines a soaked and a fresh stream up frame by frame: with
    no soak the two are the same stream (gap 0 everywhere); after a soak they differ."""
    from kws.bench.soak import forgetting

    speech = load_audio(tiny_stream[0])
    same = forgetting(tiny_bundle, speech, trials=1, soak_s=0.0, track_s=35.0)
    assert set(same) == {"silence", "white_noise_0dbfs", "speech"}
    assert all(v == 0.0 for lead in same.values() for v in lead.values())
    soaked = forgetting(tiny_bundle, speech, trials=1, soak_s=60.0, track_s=35.0)
    gaps = [v for lead in soaked.values() for v in lead.values()]
    assert max(gaps) > 0.0 and all(0.0 <= v <= 1.0 for v in gaps)


def test_runtime_threads_many_streams_share_one_detector(tiny_bundle, tiny_stream):
    """Eight threads, each with its own stream on one shared Detector (one onnxruntime
    session), fed in different piece sizes: each hears exactly what it hears alone."""
    from concurrent.futures import ThreadPoolExecutor

    det = Detector(tiny_bundle, threads=1)
    audio = load_audio(tiny_stream[0])
    parts = [audio[i * 15 * 16000:(i + 1) * 15 * 16000] for i in range(8)]

    def run(i: int) -> list[tuple[str, int]]:
        stream, piece = det.stream(), 160 * (i + 1) + 7
        x = parts[i]
        return [(e.keyword, e.frame) for a in range(0, len(x), piece)
                for e in stream.feed(x[a:a + piece])]

    alone = [run(i) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(run, range(8)))
    assert together == alone and sum(map(len, alone)) > 3
