"""`kws bench gradients`: the seed's vanishing-gradient claim, measured with the package's
own recurrent layers.

1. "Remember the first token": a sequence of T noise frames whose first frame also carries
   one of 4 class tokens; the class must be read out after the last frame (chance: 25 %).
   Each family is trained the same number of steps at T = 25 ... 800; which ones learn it?
2. dL/dh_t against the distance T - t, per family, at initialisation and after training at
   T = 200: how much of the loss' gradient reaches a frame that lies far back. Plotted (log).
3. Gradient clipping on/off for the classic RNN on the same task: the largest gradient norm
   seen, non-finite losses, and the accuracy reached.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kws.bench.common import write_report

FAMILIES = ("rnn", "lstm", "gru")
LENGTHS = (25, 50, 100, 200, 400, 800)
CLASSES, DIM, HIDDEN = 4, 8, 64


class Reader(nn.Module):
    """One recurrent layer of a family + a linear read-out of the last state."""

    def __init__(self, family: str) -> None:
        super().__init__()
        from kws.models.model import RecurrentLayer
        from kws.models.registry import get_family

        self.layer = RecurrentLayer(get_family(family), DIM, HIDDEN)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.layer.initial_state(x.shape[0], x.device)
        h, _ = self.layer(x, state)
        return self.out(h[:, -1]), h


def batch(length: int, size: int, g: torch.Generator,
          device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise frames; frame 0 also holds the one-hot class token (scaled up)."""
    x = torch.randn(size, length, DIM, generator=g, device=device) * 0.5
    y = torch.randint(0, CLASSES, (size,), generator=g, device=device)
    x[:, 0, :CLASSES] += 3.0 * nn.functional.one_hot(y, CLASSES).float()
    return x, y


def train_task(family: str, length: int, steps: int, device: str, clip: float = 1.0,
               lr: float = 1e-2, seed: int = 0) -> tuple[dict, Reader]:
    """Train on the task: (accuracy on 512 fresh sequences, largest gradient norm, NaNs;
    the trained model)."""
    torch.manual_seed(seed)
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    model = Reader(family).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    max_norm, bad = 0.0, 0
    for _ in range(steps):
        x, y = batch(length, 64, g, device)
        loss = nn.functional.cross_entropy(model(x)[0], y)
        if not torch.isfinite(loss):
            bad += 1
            opt.zero_grad(set_to_none=True)
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                              clip if clip > 0 else math.inf)
        max_norm = max(max_norm, float(norm))
        opt.step()
    with torch.no_grad():
        x, y = batch(length, 512, g, device)
        acc = float((model(x)[0].argmax(-1) == y).float().mean())
    return {"accuracy": acc, "max_grad_norm": max_norm, "nonfinite_losses": bad}, model


def hidden_gradient_norms(model: Reader, length: int, device: str,
                          seed: int = 1) -> np.ndarray:
    """Mean ||dL/dh_t|| over a batch of task sequences, for t = 0 .. length-1: the total
    derivative through the recurrence (the explicit cell, step by step; a fused layer's
    output gradient would hold only the direct part)."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    x, y = batch(length, 64, g, device)
    layer = model.layer
    gx = layer.input_projection(x)
    state = layer.initial_state(x.shape[0], x.device)
    hs = []
    for t in range(length):
        state = layer.step(gx[:, t], state)
        state[0].retain_grad()
        hs.append(state[0])
    nn.functional.cross_entropy(model.out(hs[-1]), y).backward()
    return np.array([float(h.grad.norm(dim=-1).mean()) for h in hs])


def run(out: Path, device: str = "auto", steps: int = 800,
        lengths: tuple[int, ...] = LENGTHS, families: tuple[str, ...] = FAMILIES,
        log=print) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)  # tiny matrices: more threads only wait on each other
    learned: dict = {f: {} for f in families}
    norms: dict = {"init": {}, "trained": {}}
    probe = 200 if 200 in lengths else lengths[-1]
    for fam in families:
        torch.manual_seed(0)
        norms["init"][fam] = hidden_gradient_norms(Reader(fam).to(device), probe, device)
        for t in lengths:
            r, model = train_task(fam, t, steps, device)
            learned[fam][t] = r
            if t == probe:
                norms["trained"][fam] = hidden_gradient_norms(model, probe, device)
            log(f"bench gradients: {fam} T={t}: accuracy {100 * r['accuracy']:.0f}%")
    clipping = {}
    for t in (50, 200):
        for clip in (1.0, 0.0):
            r, _ = train_task("rnn", t, steps, device, clip=clip, lr=1e-2)
            clipping[f"T={t}, clip {'1.0' if clip else 'off'}"] = r
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (when, per_family) in zip(axes, norms.items(), strict=True):
        for fam, n in per_family.items():
            ax.semilogy(np.arange(len(n))[::-1], np.maximum(n, 1e-45), label=fam)
        ax.set_xlabel("distance from the last frame (frames)")
        ax.set_title(f"{'at initialisation' if when == 'init' else 'after training'} "
                     f"(T = {probe})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean ||dL/dh_t||")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "gradients.png", dpi=120)
    plt.close(fig)
    rows = [["family", *(f"T={t}" for t in lengths)]]
    for fam in families:
        rows.append([fam, *(f"{100 * learned[fam][t]['accuracy']:.0f}%" for t in lengths)])
    ratio = {when: {fam: float(n[0] / n[-1]) for fam, n in per.items()}
             for when, per in norms.items()}
    notes = [f"task: remember the first of T frames (4 classes, chance 25%); one layer of 64; "
             f"Adam 1e-2, batch 64, {steps} steps, clip 1.0; accuracy on 512 fresh sequences; "
             f"device {device}",
             *(f"gradient reaching the first frame relative to the last, {when} (T = {probe}): "
               + ", ".join(f"{fam} {r:.1e}" for fam, r in per.items()) + " (gradients.png)"
               for when, per in ratio.items()),
             "classic RNN, lr 1e-2, clipping on/off: " + "; ".join(
                 f"{k}: accuracy {100 * v['accuracy']:.0f}%, max grad norm "
                 f"{v['max_grad_norm']:.1f}, non-finite losses {v['nonfinite_losses']}"
                 for k, v in clipping.items())]
    report = {"device": device, "steps": steps, "learned": learned, "clipping": clipping,
              "first_to_last_gradient_ratio": ratio,
              "gradient_norms": {w: {f: n.tolist() for f, n in per.items()}
                                 for w, per in norms.items()}}
    write_report(out, "gradients", report, rows, notes)
    return report


def main(args, out: Path) -> dict:
    if args.quick:
        return run(out, args.device, steps=30, lengths=(25, 100))
    return run(out, args.device)
