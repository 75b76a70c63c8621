"""The MFCC front end: streaming equals batched, and both equal librosa (an outside
reference) on real speech."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kws.audio import load_audio
from kws.config import FeatureConfig
from kws.features import Mfcc, MfccStreamer, num_frames
from tests.conftest import shared

CFG = FeatureConfig()


def _speech() -> np.ndarray:
    files = sorted(shared("speech_commands_mini", "yes").glob("*.flac"))[:3]
    return np.concatenate([load_audio(f) for f in files])


def _random() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.3 * rng.standard_normal(23456)).astype(np.float32)


def _stream(audio: np.ndarray, piece: int) -> torch.Tensor:
    streamer = MfccStreamer(CFG)
    out = [streamer.push(audio[i:i + piece]) for i in range(0, audio.size, piece)]
    return torch.cat(out)


@pytest.mark.parametrize("source", ["random", "speech"])
@pytest.mark.parametrize("piece", [1, 7, 160, 1000, None])
def test_mfcc_stream_equals_batched(source, piece):
    audio = _random() if source == "random" else _speech()
    batched = Mfcc(CFG)(torch.from_numpy(audio)[None])[0]
    streamed = _stream(audio, piece or audio.size)
    assert batched.shape == (num_frames(audio.size, CFG), CFG.n_cepstra)
    assert streamed.shape == batched.shape
    assert (streamed - batched).abs().max().item() <= 1e-5


def test_mfcc_stream_emits_nothing_before_a_full_window():
    streamer = MfccStreamer(CFG)
    assert streamer.push(np.zeros(CFG.win_length - 1, np.float32)).shape[0] == 0
    assert streamer.push(np.zeros(1, np.float32)).shape[0] == 1


def test_mfcc_librosa_matches_on_real_speech():
    """Settings that make librosa compute our definition:
    - librosa centres a 400-sample window in its 512-sample frame, so its frame t covers
      padded[t*hop + 56, t*hop + 456): pad 56 zeros in front to align with our frame t;
    - center=False (ours is causal), window='hann' (periodic), power=2;
    - mel: htk=False, norm='slaney' (torchaudio's slaney scale and norm);
    - log: power_to_db with amin=log_floor, ref=1.0 and top_db=None (librosa.feature.mfcc's
      own call clips to max-80 dB per utterance, which a stream cannot know);
    - DCT type 2, norm='ortho'; then our scale (0.1)."""
    librosa = pytest.importorskip("librosa")
    audio = _speech()
    ours = Mfcc(CFG)(torch.from_numpy(audio)[None])[0].numpy()
    pad = (CFG.n_fft - CFG.win_length) // 2
    mel = librosa.feature.melspectrogram(
        y=np.concatenate([np.zeros(pad, np.float32), audio]), sr=CFG.sample_rate,
        n_fft=CFG.n_fft, hop_length=CFG.hop_length, win_length=CFG.win_length,
        window="hann", center=False, power=2.0, n_mels=CFG.n_mels, fmin=CFG.f_min,
        fmax=CFG.f_max, htk=False, norm="slaney")
    db = librosa.power_to_db(mel, ref=1.0, amin=CFG.log_floor, top_db=None)
    ref = librosa.feature.mfcc(S=db, n_mfcc=CFG.n_cepstra, dct_type=2, norm="ortho").T
    ref = ref * CFG.scale
    n = min(len(ref), len(ours))
    assert n >= len(ours) - 1
    rel = np.abs(ours[:n] - ref[:n]).max() / np.abs(ref[:n]).max()
    assert rel <= 1e-3


def test_mfcc_runs_in_float32_under_autocast():
    audio = torch.from_numpy(_random())[None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats = Mfcc(CFG)(audio)
    assert feats.dtype == torch.float32
    torch.testing.assert_close(feats, Mfcc(CFG)(audio))


def test_mfcc_settings_change_the_output():
    audio = torch.from_numpy(_random())[None]
    other = Mfcc(FeatureConfig(n_mels=32, n_cepstra=13))(audio)
    assert other.shape[-1] == 13
    assert num_frames(16000, CFG) == 98


def test_mfcc_mel_matrix_equals_torchaudio():
    import torchaudio.functional as AF

    from kws.features.mfcc import mel_bins, mel_matrix

    for cfg in (CFG, FeatureConfig(n_mels=64, f_min=0.0, f_max=8000.0, n_fft=400),
                FeatureConfig(sample_rate=8000, f_max=3800.0, n_fft=256, n_mels=23)):
        lo, hi = mel_bins(cfg)
        ref = AF.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels,
                                 cfg.sample_rate, norm="slaney", mel_scale="slaney").double()
        assert ref[:lo].abs().sum() == 0 and ref[hi:].abs().sum() == 0
        ours = mel_matrix(cfg, torch.float64)
        # torchaudio computes in float32: agreement to its precision
        assert (ours - ref[lo:hi]).abs().max().item() <= 1e-5 * ref.abs().max().item()


def test_mfcc_warp_moves_a_tone_and_one_is_no_warp():
    """Vocal tract length perturbation: factor 1 gives the plain features bit for bit (row
    by row in a mixed batch), and a factor above 1 moves a 1 kHz tone into a lower mel band
    (each filter reads a higher frequency), below 1 into a higher one."""
    from kws.features.mfcc import fold_frames, frame_signal, mel_matrix, mfcc_constants

    t = torch.arange(16000, dtype=torch.float64) / 16000
    tone = (0.3 * torch.sin(2 * np.pi * 1000 * t))[None].repeat(3, 1)
    speech = torch.from_numpy(_speech()[:16000]).double()[None].repeat(3, 1)
    front = Mfcc(CFG)
    warp = torch.tensor([1.0, 1.1, 0.9], dtype=torch.float64)
    plain, warped = front(speech), front(speech, warp=warp)
    assert torch.equal(warped[0], plain[0])
    assert (warped[1] - plain[1]).abs().max() > 0.1
    consts = mfcc_constants(CFG, torch.float64)
    p, q = fold_frames(frame_signal(tone, CFG.win_length, CFG.hop_length))
    power = (p @ consts["dft_cos"]) ** 2 + (q @ consts["dft_sin"]) ** 2
    band = (power @ mel_matrix(CFG, torch.float64, warp)).mean(dim=1).argmax(dim=1)
    assert band[1] < band[0] < band[2], band


@pytest.mark.parametrize("win", [400, 399, 256])
def test_mfcc_folded_dft_power_equals_fft(win):
    from kws.features.mfcc import dft_matrices, fold_frames, mel_bins

    cfg = FeatureConfig(window_ms=win / 16, n_fft=512)
    x = torch.from_numpy(_random()[:win]).double()
    lo, hi = mel_bins(cfg)
    ref = torch.fft.rfft(x * torch.hann_window(win, dtype=torch.float64), n=512)[lo:hi]
    cos, sin = dft_matrices(cfg, torch.float64)
    p, q = fold_frames(x)
    power = (p @ cos) ** 2 + (q @ sin) ** 2
    assert torch.allclose(power, ref.abs() ** 2, rtol=1e-9, atol=1e-9)


def test_mfcc_mel_band_mask_flattens_only_the_masked_bands():
    """SpecAugment on mel bands: with every cepstrum kept (an invertible DCT), the log-mel
    energies behind the features are those of the plain front end, except that a masked
    band holds its own mean over the frames; a row with nothing masked is bit for bit the
    plain one."""
    cfg = FeatureConfig(n_cepstra=40)
    front = Mfcc(cfg)
    speech = torch.from_numpy(_speech()[:16000]).double()[None].repeat(2, 1)
    keep = torch.ones(2, cfg.n_mels, dtype=torch.bool)
    keep[1, 10:14] = False
    plain, masked = front(speech), front(speech, band_keep=keep)
    assert torch.equal(masked[0], plain[0])
    dct = front.dct.double()
    to_logmel = torch.linalg.inv(dct)
    before, after = plain[1].double() @ to_logmel, masked[1].double() @ to_logmel
    assert torch.allclose(after[:, 14:], before[:, 14:], atol=1e-3)
    assert torch.allclose(after[:, :10], before[:, :10], atol=1e-3)
    assert torch.allclose(after[:, 10:14], before[:, 10:14].mean(dim=0).expand(len(after), 4),
                          atol=1e-3)
    assert before[:, 10:14].std(dim=0).min() > 0.5  # the band moved before it was masked
