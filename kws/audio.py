"""Audio in and out: decode, mix to mono, resample, validate (numpy only).

Everything downstream assumes float32 mono in [-1, 1] at the model's rate; this module is
the one place that guarantees it. Files that cannot be used raise `AudioError` with the
path and the reason, so a corpus reader can report them and go on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from kws.errors import AudioError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".mp3")


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr (high quality); a no-op when rates match."""
    if rate == target_rate or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(audio.astype(np.float32, copy=False), rate, target_rate,
                         quality="HQ").astype(np.float32, copy=False)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels: (frames, channels) -> (frames,)."""
    if audio.ndim == 1:
        return audio
    return audio.mean(axis=1, dtype=np.float32)


def load_audio(path: str | Path, target_rate: int | None = 16000, *,
               offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Read `path` as float32 mono in [-1, 1] at `target_rate` (None keeps the file's rate).

    `offset` and `duration` (seconds) read a part of a longer file, e.g. a silence clip cut
    from a background-noise recording.
    """
    audio, _ = load_audio_with_rate(path, target_rate, offset=offset, duration=duration)
    return audio


def load_audio_with_rate(path: str | Path, target_rate: int | None = 16000, *,
                         offset: float = 0.0,
                         duration: float | None = None) -> tuple[np.ndarray, int]:
    """Like `load_audio`, also returning the rate of the returned samples."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if not p.is_file():
        raise AudioError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise AudioError(f"{p}: empty file (0 bytes)")
    try:
        with sf.SoundFile(str(p)) as fh:
            rate = fh.samplerate
            if offset:
                fh.seek(min(round(offset * rate), fh.frames))
            frames = -1 if duration is None else round(duration * rate)
            audio = fh.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise AudioError(f"{p}: cannot decode audio ({reason})") from None
    if audio.shape[0] == 0:
        raise AudioError(f"{p}: zero-length audio (no samples)")
    if not np.isfinite(audio).all():
        raise AudioError(f"{p}: audio contains NaN or Inf samples")
    mono = to_mono(audio)
    if target_rate is not None and target_rate != rate:
        mono = resample(mono, rate, target_rate)
        if mono.size == 0:  # e.g. a header claiming 117 MHz: a few samples resample to none
            raise AudioError(f"{p}: {audio.shape[0]} samples at {rate} Hz leave no samples "
                             f"at {target_rate} Hz (a corrupt sample rate?)")
        rate = target_rate
    np.clip(mono, -1.0, 1.0, out=mono)
    return mono.astype(np.float32, copy=False), rate


def audio_info(path: str | Path) -> tuple[int, int]:
    """(sample rate, frames) from the header, without decoding the samples."""
    p = Path(path)
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise AudioError(f"{p}: cannot read audio header ({reason})") from None
    return info.samplerate, info.frames


def save_audio(path: str | Path, audio: np.ndarray, rate: int) -> None:
    """Write 16-bit PCM (WAV or FLAC, from the suffix) atomically."""
    from kws.atomic import atomic_write

    p = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(p.suffix.lower())
    if fmt is None:
        raise AudioError(f"{p}: unsupported output format (use .wav, .flac or .ogg)")
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    atomic_write(p, lambda fh: sf.write(fh, data, rate, format=fmt, subtype=subtype))


def active_region(audio: np.ndarray, rate: int, margin_s: float = 0.03) -> tuple[int, int]:
    """[start, end) samples of the spoken part: the 10 ms frames louder than both 30 dB
    under the peak and 10 dB over the clip's noise floor (its 10th-percentile frame), at
    most 6 dB under the peak, widened by a small margin."""
    hop = rate // 100
    n = max(1, len(audio) // hop)
    frames = audio[:n * hop].reshape(n, hop).astype(np.float64)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    peak, floor = level.max(), np.percentile(level, 10)
    loud = np.flatnonzero(level >= min(peak - 6, max(peak - 30, floor + 10)))
    margin = int(margin_s * rate)
    return max(0, int(loud[0]) * hop - margin), min(len(audio), (int(loud[-1]) + 1) * hop + margin)


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1)."""
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32, copy=False)


def iter_audio_blocks(path: str | Path, target_rate: int, block_seconds: float = 1.0):
    """Yield float32 mono blocks of a file at `target_rate`, decoding and resampling as it
    goes: a long recording is streamed in constant memory."""
    import soxr

    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: no such file")
    try:
        fh = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise AudioError(f"{p}: cannot decode audio ({reason})") from None
    with fh:
        if fh.frames == 0:
            raise AudioError(f"{p}: zero-length audio (no samples)")
        resampler = None if fh.samplerate == target_rate else \
            soxr.ResampleStream(fh.samplerate, target_rate, 1, dtype="float32", quality="HQ")
        block = max(1, int(block_seconds * fh.samplerate))
        while True:
            try:
                data = fh.read(block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioError(f"{p}: cannot decode audio ({' '.join(str(exc).split())})") \
                    from None
            last = len(data) < block
            if not np.isfinite(data).all():
                raise AudioError(f"{p}: audio contains NaN or Inf samples")
            mono = to_mono(data)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)
            if last:
                break
