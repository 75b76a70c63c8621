"""kws.audio: decoding, mono mixing, resampling, and a clear error for every bad file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from kws.audio import load_audio, load_audio_with_rate, save_audio
from kws.errors import AudioError
from tests.conftest import shared


def _tone(freq: float, rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"),
                                         ("OGG", "VORBIS"), ("WAV", "FLOAT")])
def test_audio_formats_decode_to_float32_mono(tmp_path, fmt, subtype):
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, _tone(440, 16000), 16000, format=fmt, subtype=subtype)
    audio = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 8000) <= 1200  # vorbis may pad
    assert 0.3 < np.abs(audio).max() <= 1.0


def test_audio_stereo_is_mixed_to_mono(tmp_path):
    left, right = _tone(440, 16000), np.zeros(8000, np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path, 16000), left / 2, atol=1e-6)


def test_audio_resample_keeps_pitch_and_duration(tmp_path):
    path = tmp_path / "tone44k.wav"
    sf.write(path, _tone(1000, 44100, 1.0), 44100, subtype="FLOAT")
    audio, rate = load_audio_with_rate(path, 16000)
    assert rate == 16000 and abs(audio.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.size - 1000) < 2


def test_audio_fsdd_8k_loads_at_16k():
    path = sorted(shared("fsdd", "recordings").glob("*.flac"))[0]
    native, native_rate = load_audio_with_rate(path, None)
    audio = load_audio(path, 16000)
    assert native_rate == 8000
    assert abs(audio.size - 2 * native.size) <= 2
    # band-limited resampling: no energy above the original Nyquist (4 kHz)
    spec = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / 16000)
    assert spec[freqs > 4200].sum() < 1e-3 * spec.sum()


def test_audio_paths_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "zoom in" / "ünïcødé 語"
    folder.mkdir(parents=True)
    path = folder / "clip ñ.flac"
    save_audio(path, _tone(300, 16000), 16000)
    assert load_audio(path).size == 8000


def test_audio_arabic_zoom_in_folder_has_spaces():
    path = sorted(shared("arabic_speech_commands", "dataset", "zoom in").glob("*.flac"))[0]
    assert load_audio(path).size == 16000


def test_audio_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_audio_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        load_audio(path)


def test_audio_zero_length_file(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="zero-length"):
        load_audio(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_audio_non_finite_samples(tmp_path, bad):
    data = _tone(200, 16000)
    data[100] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or Inf"):
        load_audio(path)


def test_audio_random_bytes_do_not_decode(tmp_path):
    path = tmp_path / "noise.flac"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(path)


def test_audio_flac_corrupted_mid_stream(tmp_path):
    """A FLAC whose frames are damaged after a valid header: the decoder loses sync."""
    src = sorted(shared("speech_commands_mini", "yes").glob("*.flac"))[0]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(1)
    start = len(data) // 3
    data[start:] = rng.bytes(len(data) - start)
    path = tmp_path / "broken.flac"
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="cannot decode") as info:
        load_audio(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_audio_directory_is_not_a_file(tmp_path):
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_audio_offset_and_duration_read_a_part(tmp_path):
    data = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    path = tmp_path / "ramp.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    part = load_audio(path, 16000, offset=0.25, duration=0.5)
    np.testing.assert_allclose(part, data[4000:12000], atol=1e-7)
