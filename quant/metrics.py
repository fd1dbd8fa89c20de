"""Evaluation metrics for the QAT stage: multi-class action recognition and a binary alarm.

Every metric is computed by scikit-learn; this module only validates inputs, picks an operating
point and converts results to plain Python types, so each report is ``json.dumps``-able as is.

Conventions
-----------
* ``logits`` may be raw logits or probabilities: argmax and top-k ranking are the same for both.
* Top-1 is ``argmax`` (ties go to the lowest class index); it agrees with the confusion matrix.
* A binary alarm fires when ``score >= threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax as _scipy_softmax
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
    roc_auc_score,
    top_k_accuracy_score,
)

__all__ = ["classification_report", "binary_alarm_report", "clip_consensus", "softmax"]

# F-beta values closer than this count as a tie (sklearn computes them from integer counts,
# so equal fractions come out equal, but keep a margin for rounding of different fractions).
_TIE_TOL = 1e-12
# thresholds x clips evaluated per sklearn call in the vectorised sweep (bounds memory)
_SWEEP_CELLS = 4_000_000


# ----------------------------------------------------------------------------- helpers
def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (scipy's implementation)."""
    return _scipy_softmax(np.asarray(x, dtype=np.float64), axis=axis)


def clip_consensus(frame_logits: np.ndarray) -> np.ndarray:
    """TSN/TSM segmental consensus: average the per-segment outputs, (N, T, C) -> (N, C)."""
    x = np.asarray(frame_logits)
    if x.ndim != 3:
        raise ValueError(f"frame_logits must have shape (N, T, C); got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError("frame_logits has T == 0 segments; cannot average")
    return x.mean(axis=1)


def _int_labels(labels, name: str = "labels") -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,); got shape {y.shape}")
    if y.dtype == bool:
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} must be integers; got non-integral values")
        return y.astype(np.int64)
    raise ValueError(f"{name} must be integers; got dtype {y.dtype}")


# ------------------------------------------------------------------ multi-class report
def classification_report(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    topk=(1, 5),
) -> dict:
    """Top-k accuracy, per-class accuracy (= recall) and confusion matrix of a clip classifier.

    Returns a JSON-serialisable dict::

        {"top1": 0.93, "top5": 1.0, "top1_k": 1, "top5_k": 4,   # fractions in 0..1
         "clips": N,
         "per_class": {name: {"accuracy": recall or None, "support": int}},
         "confusion_matrix": [[...]],   # rows = true class, cols = predicted class
         "class_names": [...]}

    For every requested k, ``"top{k}"`` is reported and ``"top{k}_k"`` holds the k actually
    used: k is clipped to the number of classes, so with fewer than 5 classes ``top5`` is 1.0
    trivially.  A class absent from ``labels`` has ``"accuracy": None`` (recall undefined).
    """
    x = np.asarray(logits)
    names = [str(n) for n in class_names]
    if x.ndim != 2:
        raise ValueError(f"logits must have shape (N, C); got shape {x.shape}")
    n, c = x.shape
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"logits must be real numbers; got dtype {x.dtype}")
    if c != len(names):
        raise ValueError(f"logits have C={c} columns but {len(names)} class_names were given")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be unique; got {names}")
    if n == 0:
        raise ValueError("logits have N=0 clips; nothing to evaluate")
    if not np.all(np.isfinite(x)):
        raise ValueError("logits contain NaN or inf")
    y = _int_labels(labels)
    if y.shape[0] != n:
        raise ValueError(f"labels have {y.shape[0]} entries but logits have N={n} rows")
    if y.min() < 0 or y.max() >= c:
        bad = sorted(set(y[(y < 0) | (y >= c)].tolist()))
        raise ValueError(f"labels must be in [0, {c - 1}] (C={c} classes); got {bad}")
    ks = (topk,) if isinstance(topk, int) else tuple(topk)
    if not ks or any(int(k) != k or k < 1 for k in ks):
        raise ValueError(f"topk must be positive integers; got {topk!r}")

    class_ids = list(range(c))
    pred = x.argmax(axis=1)
    report: dict = {}
    for k in ks:
        k = int(k)
        k_eff = min(k, c)
        if k_eff == 1:
            acc = accuracy_score(y, pred)
        elif k_eff == c:
            acc = 1.0  # every class is in the top-C: trivially correct
        else:
            acc = top_k_accuracy_score(y, x, k=k_eff, labels=class_ids)
        report[f"top{k}"] = float(acc)
        report[f"top{k}_k"] = k_eff
    recall = recall_score(y, pred, labels=class_ids, average=None, zero_division=np.nan)
    support = np.bincount(y, minlength=c)
    report["clips"] = int(n)
    report["per_class"] = {
        name: {
            "accuracy": None if support[i] == 0 else float(recall[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    report["confusion_matrix"] = confusion_matrix(y, pred, labels=class_ids).tolist()
    report["class_names"] = names
    return report


# ---------------------------------------------------------------------- binary alarm
def _check_binary(scores, labels, what: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{what} scores must be 1-D (N,); got shape {s.shape}")
    if s.size == 0:
        raise ValueError(f"{what} scores are empty")
    if not np.all(np.isfinite(s)) or s.min() < 0 or s.max() > 1:
        raise ValueError(
            f"{what} scores must be positive-class probabilities in [0, 1] "
            f"(apply softmax/sigmoid to logits first); got range [{s.min()}, {s.max()}]"
        )
    y = _int_labels(labels, f"{what} labels")
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{what} labels have {y.shape[0]} entries but scores have {s.shape[0]}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{what} labels must be 0/1; got values {sorted(set(y.tolist()))}")
    return s, y


def _thresholds(scores: np.ndarray, thresholds) -> np.ndarray:
    if thresholds is None:
        t = np.concatenate([np.linspace(0.0, 1.0, 101), scores])
    else:
        t = np.asarray(thresholds, dtype=np.float64).ravel()
        if t.size == 0 or not np.all(np.isfinite(t)):
            raise ValueError("thresholds must be a non-empty array of finite numbers")
    return np.unique(t)  # sorted ascending, deduplicated


def _sweep(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray, beta: float) -> dict:
    """Precision, recall, F1, F-beta of ``score >= t`` for every t, via sklearn.

    Each threshold is one column of a multilabel-indicator problem, so a whole block of
    thresholds is scored in one ``precision_recall_fscore_support(average=None)`` call.
    """
    n, out = scores.shape[0], {"precision": [], "recall": [], "f1": [], "fbeta": []}
    step = max(2, _SWEEP_CELLS // max(n, 1))
    for lo in range(0, thresholds.size, step):
        t = thresholds[lo : lo + step]
        pad = t.size == 1  # a single column would be read as a binary target: add a dummy one
        tt = np.append(t, np.inf) if pad else t
        y_pred = (scores[:, None] >= tt[None, :]).astype(np.int8)
        y_true = np.repeat(labels.astype(np.int8)[:, None], tt.size, axis=1)
        p, r, fb, _ = precision_recall_fscore_support(
            y_true, y_pred, beta=beta, average=None, zero_division=0
        )
        f1 = f1_score(y_true, y_pred, average=None, zero_division=0)
        m = t.size
        for key, v in (("precision", p), ("recall", r), ("f1", f1), ("fbeta", fb)):
            out[key].append(np.asarray(v[:m], dtype=np.float64))
    return {"threshold": thresholds, **{k: np.concatenate(v) for k, v in out.items()}}


def _choose(sweep: dict) -> int:
    """Index of the operating threshold: max F-beta; ties -> higher precision -> higher t."""
    fb, p, t = sweep["fbeta"], sweep["precision"], sweep["threshold"]
    cand = np.flatnonzero(fb >= fb.max() - _TIE_TOL)
    cand = cand[p[cand] >= p[cand].max() - _TIE_TOL]
    return int(cand[np.argmax(t[cand])])


def _operating_point(scores, labels, t: float, beta: float) -> dict:
    pred = (scores >= t).astype(np.int64)
    p, r, fb, _ = precision_recall_fscore_support(
        labels, pred, beta=beta, average="binary", pos_label=1, labels=[0, 1], zero_division=0
    )
    f1 = f1_score(labels, pred, average="binary", pos_label=1, labels=[0, 1], zero_division=0)
    cm = confusion_matrix(labels, pred, labels=[0, 1])
    return {"precision": float(p), "recall": float(r), "f1": float(f1), "fbeta": float(fb),
            "confusion_matrix": cm.tolist()}


def binary_alarm_report(
    scores: np.ndarray,
    labels: np.ndarray,
    beta: float = 2.0,
    thresholds: np.ndarray | None = None,
    val_scores=None,
    val_labels=None,
) -> dict:
    """Threshold sweep and operating point of a binary alarm (e.g. "shoplifting" vs "normal").

    ``scores`` are positive-class probabilities per clip, ``labels`` are 0/1; the alarm fires
    when ``score >= threshold``.  The sweep covers ``thresholds`` (default: 101 evenly spaced
    values in [0, 1] plus every unique score).  Precision, recall, F1 and F-beta at each
    threshold come from scikit-learn with ``zero_division=0``.

    Operating threshold: the swept threshold maximising F-beta (beta=2 weighs recall 2x:
    a missed theft costs more than a false alarm).  Ties are broken towards the higher
    precision, then towards the higher threshold (fewer alarms for the same measured quality).
    If ``val_scores``/``val_labels`` are given, the threshold is chosen on them and applied
    unchanged to the test ``scores`` (``"threshold_chosen_on": "val"``); otherwise it is chosen
    on the test scores themselves (``"test"``, an optimistic estimate).

    All reported metrics (including ``"sweep"``) are on the test ``scores``.  Keys::

        threshold, threshold_chosen_on, beta, precision, recall, f1, fbeta,
        f2 (named f"f{beta:g}", i.e. "f2" for beta=2; same value as "fbeta"),
        average_precision (None if there are no positives), roc_auc (None if one class only),
        positives, clips, confusion_matrix [[tn, fp], [fn, tp]],
        sweep {threshold, precision, recall, f1, fbeta} (lists, thresholds ascending),
        val {precision, recall, f1, fbeta, positives, clips}  (only when val data is given)
    """
    beta = float(beta)
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a positive number; got {beta}")
    s, y = _check_binary(scores, labels, "test")
    if (val_scores is None) != (val_labels is None):
        raise ValueError("give both val_scores and val_labels, or neither")

    test_t = _thresholds(s, thresholds)
    test_sweep = _sweep(s, y, test_t, beta)
    val_block = None
    if val_scores is None:
        chosen_on = "test"
        t_op = float(test_t[_choose(test_sweep)])
    else:
        chosen_on = "val"
        vs, vy = _check_binary(val_scores, val_labels, "val")
        val_sweep = _sweep(vs, vy, _thresholds(vs, thresholds), beta)
        t_op = float(val_sweep["threshold"][_choose(val_sweep)])
        vop = _operating_point(vs, vy, t_op, beta)
        vop.pop("confusion_matrix")
        val_block = {**vop, "positives": int(vy.sum()), "clips": int(vy.size)}

    op = _operating_point(s, y, t_op, beta)
    n_pos = int(y.sum())
    two_classes = 0 < n_pos < y.size
    report = {
        "threshold": t_op,
        "threshold_chosen_on": chosen_on,
        "beta": beta,
        "precision": op["precision"],
        "recall": op["recall"],
        "f1": op["f1"],
        "fbeta": op["fbeta"],
        f"f{beta:g}": op["fbeta"],
        "average_precision": float(average_precision_score(y, s)) if n_pos > 0 else None,
        "roc_auc": float(roc_auc_score(y, s)) if two_classes else None,
        "positives": n_pos,
        "clips": int(y.size),
        "confusion_matrix": op["confusion_matrix"],
        "sweep": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in test_sweep.items()},
    }
    if val_block is not None:
        report["val"] = val_block
    return report
