"""Clip evaluation: accuracy, per-class precision and recall, the confusion matrix, the
pairs of classes most often confused, accuracy per speaker and the misclassified clips, for
a PyTorch run or an exported bundle alike (both give per-frame posteriors; the clip
decision is kws.train.loss.clip_predictions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from kws.atomic import atomic_write
from kws.config import RunConfig
from kws.data.manifest import SILENCE, SPLITS, UNKNOWN, Row
from kws.data.task import prepare_task
from kws.errors import KwsInputError
from kws.train.loss import clip_predictions


def score_report(pred: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, per-class precision/recall, confusion matrix (rows: truth), worst pairs."""
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    diag = np.diag(confusion)
    per_class = {}
    for i, lab in enumerate(labels):
        per_class[lab] = {
            "precision": float(diag[i] / predicted[i]) if predicted[i] else None,
            "recall": float(diag[i] / support[i]) if support[i] else None,
            "support": int(support[i])}
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1]
    pairs = []
    for flat in order[:10]:
        t, p = divmod(int(flat), k)
        if off[t, p] == 0:
            break
        pairs.append({"truth": labels[t], "predicted": labels[p], "count": int(off[t, p]),
                      "rate": float(off[t, p] / support[t])})
    return {"accuracy": float(diag.sum() / max(1, confusion.sum())), "clips": len(truth),
            "labels": labels, "per_class": per_class, "confusion": confusion.tolist(),
            "worst_pairs": pairs}


def speaker_breakdown(rows: list[Row], truth: np.ndarray, pred: np.ndarray,
                      labels: list[str]) -> tuple[dict, list[dict]]:
    """Accuracy per speaker (clips cut from noise, `_silence_`, left out), worst first, and
    every misclassified clip: where a validation or test number comes from a handful of
    speakers, one odd voice or recording session can move it by a point."""
    tally: dict[str, list[int]] = {}
    errors = []
    for row, t, p in zip(rows, truth, pred, strict=True):
        if row.label != SILENCE:
            right_wrong = tally.setdefault(row.speaker, [0, 0])
            right_wrong[int(t != p)] += 1
        if t != p:
            errors.append({"file": row.path, "offset": row.offset, "speaker": row.speaker,
                           "truth": labels[t], "predicted": labels[p]})
    per_speaker = {spk: {"accuracy": ok / (ok + bad), "clips": ok + bad, "errors": bad}
                   for spk, (ok, bad) in tally.items()}
    order = sorted(per_speaker, key=lambda spk: (per_speaker[spk]["accuracy"], spk))
    return {spk: per_speaker[spk] for spk in order}, errors


def plot_confusion(report: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["labels"]
    m = np.array(report["confusion"], dtype=np.float64)
    rates = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.28 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    if len(labels) <= 16:
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, int(v), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(f"{title}: accuracy {100 * report['accuracy']:.2f}%")
    fig.colorbar(im, fraction=0.046, pad=0.04)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=90))
    plt.close(fig)


def eval_clips(cfg: RunConfig, labels: list[str], rule: str, split: str | None,
               posteriors: Callable[[np.ndarray], np.ndarray], data: str | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Score a model (given as `posteriors(clips) -> [N, T, K]`) on a split of its own
    corpus, or of any corpus (`data`), whose words are mapped onto the model's labels."""
    data_cfg = cfg.data if data is None else replace(cfg.data, corpus=data, extra_train=[],
                                                     validation_corpus="", task="auto")
    if split is not None and split not in SPLITS:
        raise KwsInputError(f"--split {split}: expected train, validation or test")
    task = prepare_task(data_cfg, cfg.features.sample_rate, cfg.train.seed, log=log,
                        splits=(split,) if split else ("validation", "test"))
    for note in task.notes[1:]:
        if not note.startswith("left out"):   # unreadable clips: counted in the report
            log(note)
    if split is None:
        split = "test" if len(task.splits["test"].rows) else "validation"
    cache = task.splits[split]
    if not len(cache.rows):
        raise KwsInputError(f"{data_cfg.corpus}: the {split} split is empty")
    index = {lab: i for i, lab in enumerate(labels)}
    keep, truth, dropped = [], [], set()
    for i, row in enumerate(cache.rows):
        name = row.label if row.label in index else \
            UNKNOWN if UNKNOWN in index and row.label != SILENCE else None
        if name is None:
            dropped.add(row.label)
            continue
        keep.append(i)
        truth.append(index[name])
    if not keep:
        raise KwsInputError(f"{data_cfg.corpus}: no clip of the {split} split has a label the "
                            f"model knows ({', '.join(labels)})")
    post = posteriors(np.asarray(cache.clips)[keep])
    silence = labels.index(SILENCE) if SILENCE in labels else -1
    pred = clip_predictions(post, rule, silence)
    truth = np.array(truth)
    report = score_report(pred, truth, labels)
    per_speaker, errors = speaker_breakdown([cache.rows[i] for i in keep], truth, pred, labels)
    report.update({"corpus": data_cfg.corpus, "split": split,
                   "skipped_labels": sorted(dropped), "unreadable": len(cache.bad),
                   "per_speaker": per_speaker, "errors": errors})
    return report


def format_clip_report(report: dict) -> str:
    lines = [f"{report['corpus']} [{report['split']}]: {report['clips']} clips, accuracy "
             f"{100 * report['accuracy']:.2f}%"]
    width = max(len(x) for x in report["labels"]) + 2
    lines.append(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'clips':>8}")
    for lab, v in report["per_class"].items():
        fmt = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        lines.append(f"{lab:<{width}}{fmt(v['precision']):>10}{fmt(v['recall']):>10}"
                     f"{v['support']:>8}")
    if report["worst_pairs"]:
        lines.append("most confused: " + "; ".join(
            f"{p['truth']} -> {p['predicted']} ({p['count']})" for p in report["worst_pairs"][:5]))
    speakers = report["per_speaker"]
    if len(speakers) > 1:
        worst = "; ".join(f"{spk} {100 * v['accuracy']:.1f}% ({v['errors']} of {v['clips']})"
                          for spk, v in list(speakers.items())[:3])
        lines.append(f"{len(speakers)} speakers; worst: {worst}")
    if report["skipped_labels"]:
        skipped = ", ".join(report["skipped_labels"])
        lines.append(f"skipped labels the model does not know: {skipped}")
    return "\n".join(lines)
