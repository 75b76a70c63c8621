"""`kws bench gradients`: the seed's vanishing-gradient claim, measured with the package's
own recurrent layers.

1. Recall with distractors at a variable delay (the long-time-lag tasks of Hochreiter &
   Schmidhuber 1997): T one-hot symbols, all distractors but one class token (4 classes)
   at a random position; after the last symbol, name the class (chance 25 %). The position
   is uniform over the sequence, so every cell meets short delays to start learning from,
   while >= 95 % needs it to hold the token up to T steps through distractors.
   Each configuration trains until it reaches that level on 1,024 held-out sequences, or
   until a step budget runs out, over several seeds. A configuration that fails a length
   on every seed is not trained at longer ones (it is reported as failing them).
2. dL/dh_t against the distance T - t, per family, untrained and after training at
   T = 200: how much of the loss' gradient reaches a frame that lies far back. Plotted (log).
3. Gradient clipping on/off for the classic RNN: the largest gradient norm seen, non-finite
   losses, and the lengths learned.

Every cell gets the initialisation the literature gives it for long ranges: the classic
RNN orthogonal recurrent weights (Saxe et al. 2014), the LSTM a forget-gate bias of 1
(Gers et al. 2000), the GRU torch.nn's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kws.bench.common import write_report

LENGTHS = (50, 100, 200, 400, 800)
CLASSES, DISTRACTORS, HIDDEN = 4, 4, 32
LEVEL = 0.95          # accuracy that counts as learned
EVAL_EVERY = 100      # steps between checks against the held-out sequences


@dataclass(frozen=True)
class Setup:
    """One trained configuration of the study."""

    name: str
    family: str
    init: str = "torch"
    clip: float = 1.0


SETUPS = (Setup("rnn", "rnn", "orthogonal"), Setup("rnn, no clipping", "rnn", "orthogonal", 0.0),
          Setup("lstm", "lstm"), Setup("gru", "gru"))


class Reader(nn.Module):
    """One recurrent layer of a family + a linear read-out of the last state."""

    def __init__(self, family: str, init: str = "torch") -> None:
        super().__init__()
        from kws.models.model import RecurrentLayer
        from kws.models.registry import get_family

        self.layer = RecurrentLayer(get_family(family), CLASSES + DISTRACTORS, HIDDEN, init)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.layer.initial_state(x.shape[0], x.device)
        h, _ = self.layer(x, state)
        return self.out(h[:, -1]), h


def batch(length: int, size: int, g: torch.Generator,
          device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` sequences of one-hot symbols: distractors, and the class token at one
    uniformly drawn position."""
    symbols = torch.randint(CLASSES, CLASSES + DISTRACTORS, (size, length), generator=g,
                            device=device)
    y = torch.randint(0, CLASSES, (size,), generator=g, device=device)
    where = torch.randint(0, length, (size,), generator=g, device=device)
    symbols[torch.arange(size, device=device), where] = y
    return nn.functional.one_hot(symbols, CLASSES + DISTRACTORS).float(), y


def train_task(setup: Setup, length: int, steps: int, device: str, seed: int = 0,
               lr: float = 3e-3) -> tuple[dict, Reader]:
    """Train until LEVEL on held-out sequences or `steps`: (accuracy, steps taken, largest
    gradient norm, non-finite losses; the trained model)."""
    torch.manual_seed(seed)
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    model = Reader(setup.family, setup.init).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    held_x, held_y = batch(length, 1024, g, device)
    max_norm, bad, acc, step = 0.0, 0, 0.0, 0
    while step < steps:
        step += 1
        x, y = batch(length, 64, g, device)
        loss = nn.functional.cross_entropy(model(x)[0], y)
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            bad += 1
            continue
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                    setup.clip if setup.clip > 0 else math.inf))
        if math.isfinite(norm):
            max_norm = max(max_norm, norm)
        opt.step()
        if step % EVAL_EVERY == 0 or step == steps:
            with torch.no_grad():
                acc = float((model(held_x)[0].argmax(-1) == held_y).float().mean())
            if acc >= LEVEL:
                break
    return {"accuracy": acc, "steps": step, "max_grad_norm": max_norm,
            "nonfinite_losses": bad}, model


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


def longest_reliable(per_length: dict) -> int:
    """The longest T every seed learned, with every shorter T learned too (0: none)."""
    best = 0
    for t in sorted(per_length, key=int):
        if not all(a >= LEVEL for a in per_length[t]["accuracy"]):
            break
        best = int(t)
    return best


def study(setups: tuple[Setup, ...], lengths: tuple[int, ...], seeds: int, steps: int,
          device: str, probe: int, log) -> tuple[dict, dict]:
    """Train every setup over the lengths and seeds; the trained models at `probe` (seed 0)
    for the gradient plot."""
    learned: dict = {}
    trained: dict = {}
    for setup in setups:
        learned[setup.name] = {}
        for t in lengths:
            runs = []
            for seed in range(seeds):
                r, model = train_task(setup, t, steps, device, seed)
                runs.append(r)
                if t == probe and seed == 0:
                    trained[setup.name] = model
            learned[setup.name][t] = {k: [r[k] for r in runs] for k in runs[0]}
            accs = learned[setup.name][t]["accuracy"]
            log(f"bench gradients: {setup.name} T={t}: accuracy "
                + " / ".join(f"{100 * a:.0f}%" for a in accs)
                + f" after {' / '.join(str(r['steps']) for r in runs)} steps")
            if all(a < LEVEL for a in accs):
                break   # failed on every seed: longer sequences are not tried
    return learned, trained


def plot(norms: dict, probe: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (when, per_setup) in zip(axes, norms.items(), strict=True):
        for name, n in per_setup.items():
            ax.semilogy(np.arange(len(n))[::-1], np.maximum(n, 1e-45), label=name)
        ax.set_xlabel("distance from the last step")
        ax.set_title(f"{'untrained' if when == 'init' else 'trained'} (T = {probe})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean ||dL/dh_t||")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cell(result: dict | None) -> str:
    if result is None:
        return "not tried"
    accs = result["accuracy"]
    n = sum(a >= LEVEL for a in accs)
    return f"{n}/{len(accs)} ({100 * min(accs):.0f}-{100 * max(accs):.0f}%)"


def gates_agree(longest: dict[str, int], longest_tried: int = 200) -> bool:
    """The seed's claim, judged: both gated cells learn long sequences (T >= 200, or the
    longest tried when shorter) on every seed, and longer ones than the classic RNN."""
    gated = min(longest["lstm"], longest["gru"])
    return gated >= min(200, longest_tried) and gated > longest["rnn"]


def verdict(longest: dict[str, int], lengths: tuple[int, ...]) -> str:
    agree = gates_agree(longest, max(lengths))
    return ("longest T learned by every seed: "
            + ", ".join(f"{k} {v or 'none'}" for k, v in longest.items())
            + "; the seed says the gates solve the classic RNN's vanishing gradients: "
            + ("agrees" if agree else "does not agree"))


def run(out: Path, device: str = "auto", steps: int = 4000,
        lengths: tuple[int, ...] = LENGTHS, seeds: int = 3,
        setups: tuple[Setup, ...] = SETUPS, log=print) -> dict:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)  # tiny matrices: more threads only wait on each other
    probe = 200 if 200 in lengths else lengths[-1]
    learned, trained = study(setups, lengths, seeds, steps, device, probe, log)
    norms: dict = {"init": {}, "trained": {}}
    seen = set()
    for setup in setups:
        if (setup.family, setup.init) not in seen:   # one untrained curve per cell
            seen.add((setup.family, setup.init))
            torch.manual_seed(0)
            norms["init"][setup.name] = hidden_gradient_norms(
                Reader(setup.family, setup.init).to(device), probe, device)
        if setup.name in trained:
            norms["trained"][setup.name] = hidden_gradient_norms(trained[setup.name], probe,
                                                                 device)
    plot(norms, probe, out / "gradients.png")
    longest = {s.name: longest_reliable(learned[s.name]) for s in setups}
    rows = [["cell", *(f"T={t}" for t in lengths), "longest T (all seeds)"]]
    for s in setups:
        rows.append([s.name, *(cell(learned[s.name].get(t)) for t in lengths),
                     str(longest[s.name] or "none")])
    ratio = {when: {name: float(n[0] / n[-1]) for name, n in per.items()}
             for when, per in norms.items()}
    clipping = {s.name: {t: {"max_grad_norm": max(r["max_grad_norm"]),
                             "nonfinite_losses": sum(r["nonfinite_losses"])}
                         for t, r in learned[s.name].items()}
                for s in setups if s.family == "rnn"}
    notes = [f"cells: seeds learned at each T (lowest-highest held-out accuracy); learned: "
             f">= {100 * LEVEL:.0f}% on 1,024 held-out sequences. Task: recall one of "
             f"{CLASSES} class tokens among {DISTRACTORS} distractor symbols after T steps, "
             f"token position uniform (chance 25%); one layer of {HIDDEN}; Adam 3e-3, batch "
             f"64, up to {steps} steps, clip 1.0 unless said; {seeds} seeds; device {device}",
             verdict({k: longest[k] for k in ("rnn", "lstm", "gru") if k in longest}, lengths)
             if {"rnn", "lstm", "gru"} <= set(longest) else "verdict: not all cells ran",
             *(f"gradient reaching the first step relative to the last, {when} "
               f"(T = {probe}): " + ", ".join(f"{k} {r:.1e}" for k, r in per.items())
               + " (gradients.png)" for when, per in ratio.items() if per),
             "classic RNN, clipping at 1.0 and off (largest gradient norm before clipping, "
             "non-finite losses, over seeds): " + "; ".join(
                 f"{name} T={t}: {v['max_grad_norm']:.1f}, {v['nonfinite_losses']}"
                 for name, per in clipping.items() for t, v in per.items())]
    report = {"device": device, "steps": steps, "seeds": seeds, "level": LEVEL,
              "learned": learned, "longest_learned": longest, "clipping": clipping,
              "first_to_last_gradient_ratio": ratio,
              "gradient_norms": {w: {k: n.tolist() for k, n in per.items()}
                                 for w, per in norms.items()}}
    write_report(out, "gradients", report, rows, notes)
    return report


def main(args, out: Path) -> dict:
    if args.quick:
        return run(out, args.device, steps=300, lengths=(10, 20), seeds=2)
    return run(out, args.device)
