"""PNG figures for the QAT reports: training curves, confusion matrix, alarm threshold, accuracy.

Figures are built with the object-oriented API on an explicit Agg canvas (no pyplot, so no
global figure registry to leak and no interference with the caller's interactive backend).
Each function writes one PNG atomically (temp file in the same folder, then ``os.replace``),
so a reader never sees a half-written image, and returns the final ``Path``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

__all__ = [
    "plot_training_curves",
    "plot_confusion_matrix",
    "plot_precision_recall_threshold",
    "plot_accuracy_bars",
]

_DPI = 120


def _new_figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically, then release the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=_DPI)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        fig.clear()
    return path


def plot_training_curves(history: Mapping[str, Sequence[Mapping]], path) -> Path:
    """Loss (left) and accuracy (right) per epoch, one colour per training phase.

    ``history`` maps a phase name (e.g. "tsn_float", "tsm_qat") to per-epoch dicts with keys
    "epoch", "train_loss", "train_acc", "val_acc" (accuracies as fractions).  Missing keys or
    None values are skipped.  Accuracy: solid = validation, dashed = training; a star marks the
    epoch a phase kept (rows with ``selected``, model selection on validation).
    """
    if not history:
        raise ValueError("history is empty: nothing to plot")
    fig = _new_figure(11, 4.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    for i, (phase, rows) in enumerate(history.items()):
        color = colors[i % len(colors)]

        def series(key, rows=rows):
            pts = [(r.get("epoch", j), r[key]) for j, r in enumerate(rows) if r.get(key) is not None]
            return ([p[0] for p in pts], [float(p[1]) for p in pts]) if pts else None

        style = {"marker": "o", "markersize": 3, "color": color}
        if (xy := series("train_loss")) is not None:
            ax_loss.plot(*xy, label=phase, **style)
        if (xy := series("val_acc")) is not None:
            ax_acc.plot(*xy, label=f"{phase} val", linestyle="-", **style)
        if (xy := series("train_acc")) is not None:
            ax_acc.plot(*xy, label=f"{phase} train", linestyle="--", alpha=0.7, **style)
        kept = [(r["epoch"], float(r["val_acc"])) for r in rows if r.get("selected") and r.get("val_acc") is not None]
        if kept:
            ax_acc.plot(*zip(*kept), marker="*", markersize=12, color=color, linestyle="none")
    ax_loss.set(title="Training loss", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="Accuracy (solid: val, dashed: train)", xlabel="epoch", ylabel="accuracy",
               ylim=(0, 1.02))
    ax_acc.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return _save(fig, path)


def plot_confusion_matrix(cm, class_names: Sequence[str], path, title: str = "") -> Path:
    """Row-normalised confusion matrix (colour = fraction of the true class), cells show counts.

    Rows are true classes, columns predicted.  A row with no clips stays blank (0).
    """
    cm = np.asarray(cm)
    names = [str(n) for n in class_names]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(names):
        raise ValueError(f"cm must be (C, C) with C={len(names)} class_names; got {cm.shape}")
    c = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    side = min(max(4.5, 0.55 * c + 2.5), 30)
    fig = _new_figure(side + 1.2, side)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class",
                 format=PercentFormatter(xmax=1.0))
    if c <= 40:
        fontsize = 9 if c <= 12 else 7 if c <= 25 else 5
        for i in range(c):
            for j in range(c):
                if cm[i, j] == 0 and i != j:
                    continue
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=fontsize,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(c), names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(c), names)
    ax.set(xlabel="predicted class", ylabel="true class")
    acc = np.trace(cm) / cm.sum() if cm.sum() else float("nan")
    ax.set_title(f"{title + ' - ' if title else ''}top-1 {acc:.1%} of {int(cm.sum())} clips "
                 "(colour: row-normalised, text: counts)", fontsize=10)
    return _save(fig, path)


def plot_precision_recall_threshold(alarm_report: Mapping, path) -> Path:
    """Precision, recall, F1 and F-beta versus threshold from a ``binary_alarm_report`` dict.

    A vertical line marks the operating threshold (value and where it was chosen in the legend).
    """
    sw = alarm_report["sweep"]
    t = np.asarray(sw["threshold"], dtype=float)
    order = np.argsort(t, kind="stable")
    beta = float(alarm_report.get("beta", 2.0))
    fig = _new_figure(8, 4.8)
    ax = fig.subplots()
    for key, label, style in (
        ("precision", "precision", {"color": "C0"}),
        ("recall", "recall", {"color": "C1"}),
        ("f1", "F1", {"color": "C2", "linestyle": "--"}),
        ("fbeta", f"F{beta:g} (beta={beta:g})", {"color": "C3", "linewidth": 2.2}),
    ):
        ax.plot(t[order], np.asarray(sw[key], dtype=float)[order], label=label, **style)
    t_op = float(alarm_report["threshold"])
    ax.axvline(t_op, color="k", linestyle=":", linewidth=1.5,
               label=f"operating t={t_op:.3f} (chosen on {alarm_report.get('threshold_chosen_on', '?')})")
    ax.plot([t_op], [alarm_report["fbeta"]], "o", color="C3")
    ax.set(xlabel="alarm threshold (alarm if score >= t)", ylabel="metric", xlim=(0, 1),
           ylim=(0, 1.02))
    ap, auc = alarm_report.get("average_precision"), alarm_report.get("roc_auc")
    ax.set_title(
        f"Alarm at t={t_op:.3f}: P={alarm_report['precision']:.2f} "
        f"R={alarm_report['recall']:.2f} F{beta:g}={alarm_report['fbeta']:.2f} | "
        f"AP={'n/a' if ap is None else f'{ap:.2f}'} AUC={'n/a' if auc is None else f'{auc:.2f}'} | "
        f"{alarm_report.get('positives', '?')}/{alarm_report.get('clips', '?')} positive clips",
        fontsize=9,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)


def plot_accuracy_bars(accs: Mapping[str, float], path, title: str = "") -> Path:
    """One bar per model/variant with its accuracy (fraction 0..1) printed on top."""
    if not accs:
        raise ValueError("accs is empty: nothing to plot")
    names = [str(k) for k in accs]
    vals = [float(v) for v in accs.values()]
    fig = _new_figure(max(4.5, 1.3 * len(names) + 1.5), 4.2)
    ax = fig.subplots()
    bars = ax.bar(range(len(names)), vals, color=[f"C{i % 10}" for i in range(len(names))])
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in vals], padding=2, fontsize=9)
    long = max(len(n) for n in names) > 12 or len(names) > 6
    ax.set_xticks(range(len(names)), names, rotation=30 if long else 0,
                  ha="right" if long else "center", rotation_mode="anchor")
    ax.set(ylabel="accuracy", ylim=(0, 1.1), title=title or "Accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)
