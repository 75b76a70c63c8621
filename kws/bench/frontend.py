"""`kws bench frontend`: MFCC throughput, ours against librosa and torchaudio, one core.

- ours, batched (PyTorch, float32 and float64: the training and the reference forms);
- ours, streaming: the exported front-end graph in onnxruntime, fed 10-hop chunks with the
  carried samples, as on a device;
- librosa.feature.mfcc and torchaudio.transforms.MFCC on the whole signal (batch).
Throughput is seconds of audio per CPU second; ratios are against librosa.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from kws.bench.common import cpu_time, speech_audio, write_report
from kws.config import FeatureConfig


def front_only_onnx(cfg: FeatureConfig, chunk: int, path: Path) -> None:
    import onnx
    import onnxscript.optimizer

    from kws.export.onnx_export import OPSET, _strip_debug_info
    from kws.features.mfcc import MfccStep

    step = MfccStep(cfg, dtype=torch.float32, generate=True).eval()
    carry = torch.zeros(1, cfg.win_length - cfg.hop_length)
    x = torch.zeros(1, chunk * cfg.hop_length)
    program = torch.onnx.export(step, (x, carry), dynamo=True, optimize=False,
                                opset_version=OPSET, input_names=["audio", "carry"],
                                output_names=["mfcc", "carry_out"], verbose=False)
    proto = onnxscript.optimizer.optimize(program.model_proto, input_size_limit=64,
                                          output_size_limit=64)
    _strip_debug_info(proto)
    onnx.save_model(proto, str(path))


def run(out: Path, seconds: float = 30.0, chunk: int = 10) -> dict:
    import librosa
    import torchaudio

    from kws.bench.hop import frontend_us_per_hop
    from kws.features.mfcc import Mfcc

    torch.set_num_threads(1)
    cfg = FeatureConfig()
    audio, source = speech_audio(seconds, cfg.sample_rate)
    wave = torch.from_numpy(audio)[None]
    ours = Mfcc(cfg)
    results = {}
    with torch.no_grad():
        results["ours, batched, PyTorch float32"] = cpu_time(lambda: ours(wave, torch.float32))
        results["ours, batched, PyTorch float64"] = cpu_time(lambda: ours(wave))
        ta = torchaudio.transforms.MFCC(
            sample_rate=cfg.sample_rate, n_mfcc=cfg.n_cepstra, log_mels=False,
            melkwargs={"n_fft": cfg.n_fft, "win_length": cfg.win_length,
                       "hop_length": cfg.hop_length, "n_mels": cfg.n_mels,
                       "f_min": cfg.f_min, "f_max": cfg.f_max, "center": False,
                       "mel_scale": "slaney", "norm": "slaney"})
        results["torchaudio.transforms.MFCC, batch"] = cpu_time(lambda: ta(wave))

    def lib() -> np.ndarray:
        return librosa.feature.mfcc(y=audio, sr=cfg.sample_rate, n_mfcc=cfg.n_cepstra,
                                    n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                    win_length=cfg.win_length, center=False,
                                    n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max)

    results["librosa.feature.mfcc, batch"] = cpu_time(lib)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "front.onnx"
        front_only_onnx(cfg, chunk, path)
        keep = cfg.win_length - cfg.hop_length
        size = chunk * cfg.hop_length
        chunks = [audio[keep + i:keep + i + size][None]
                  for i in range(0, len(audio) - keep - size + 1, size)]
        us_per_hop = frontend_us_per_hop(path, chunks, audio[None, :keep], chunk)
        results[f"ours, streaming, onnxruntime ({chunk}-hop chunks)"] = \
            us_per_hop * 1e-6 * len(audio) / cfg.hop_length
    lib_t = results["librosa.feature.mfcc, batch"]
    rows = [["front end", "audio s per CPU s", "vs librosa"]]
    table = {}
    for name, t in results.items():
        table[name] = {"cpu_seconds": t, "throughput": seconds / t, "vs_librosa": lib_t / t}
        rows.append([name, f"{seconds / t:,.0f}", f"{lib_t / t:.2f}x"])
    stream_key = next(k for k in results if "streaming" in k)
    met = table[stream_key]["vs_librosa"] >= 1.0
    notes = [f"{seconds:.0f} s of {source}, 16 kHz, 25 ms / 10 ms, 512-point FFT, 40 mels, "
             "20 cepstra; one thread; best of several runs (process CPU time)",
             f"target: streaming throughput >= librosa's batch MFCC: "
             f"{'met' if met else 'missed'} ({table[stream_key]['vs_librosa']:.2f}x)"]
    report = {"seconds_of_audio": seconds, "source": source, "results": table,
              "target_met": met}
    write_report(out, "frontend", report, rows, notes)
    return report


def main(args, out: Path) -> dict:
    return run(out, seconds=min(args.seconds, 5.0) if args.quick else args.seconds)
