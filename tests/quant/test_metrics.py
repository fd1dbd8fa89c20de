"""Metrics and report plots of the QAT stage, checked against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tsmfpga.quant import metrics as M
from tsmfpga.quant import plots as P

NAMES4 = ["walk", "pick", "conceal", "pay"]
# 6 clips, 4 classes; per row: label, prediction, and whether the label is in the top-2
LOGITS4 = np.array(
    [
        [4, 1, 0, 0.5],  # y=0  pred 0  top2 yes
        [1, 3, 0, 0.5],  # y=0  pred 1  top2 yes (0 is second)
        [0, 5, 1, 0.5],  # y=1  pred 1
        [0, 1, 2, 3],  # y=1  pred 3  top2 no (order 3,2,1,0)
        [0, 0.5, 3, 1],  # y=2  pred 2
        [2, -1, 1, 0],  # y=3  pred 0  top2 no (order 0,2,3,1)
    ],
    dtype=np.float32,
)
LABELS4 = np.array([0, 0, 1, 1, 2, 3])


def fbeta_by_hand(tp, fp, fn, beta):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    b2 = beta * beta
    return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


# --------------------------------------------------------------- classification_report
def test_classification_report_hand_example():
    rep = M.classification_report(LOGITS4, LABELS4, NAMES4, topk=(1, 2, 5))
    assert rep["top1"] == pytest.approx(3 / 6)
    assert rep["top2"] == pytest.approx(4 / 6)
    assert rep["top5"] == 1.0 and rep["top5_k"] == 4  # clipped to C=4: trivially 1
    assert rep["top1_k"] == 1 and rep["top2_k"] == 2
    assert rep["clips"] == 6
    assert rep["per_class"] == {
        "walk": {"accuracy": 0.5, "support": 2},
        "pick": {"accuracy": 0.5, "support": 2},
        "conceal": {"accuracy": 1.0, "support": 1},
        "pay": {"accuracy": 0.0, "support": 1},
    }
    assert rep["confusion_matrix"] == [
        [1, 1, 0, 0],
        [0, 1, 0, 1],
        [0, 0, 1, 0],
        [1, 0, 0, 0],
    ]
    assert rep["class_names"] == NAMES4
    json.dumps(rep)  # plain Python types only
    assert type(rep["top1"]) is float and type(rep["confusion_matrix"][0][0]) is int


def test_classification_report_default_topk_and_absent_class():
    # 5 classes, class 4 never occurs; top5 over 5 classes is trivial, top-3 is not
    logits = np.array([[3, 2, 1, 0, -1], [0, 1, 2, 3, 4], [0, 0.1, 3, 2, 1]])
    labels = np.array([1, 0, 2])
    rep = M.classification_report(logits, labels, list("abcde"), topk=(1, 3, 5))
    assert rep["top1"] == pytest.approx(1 / 3)  # only clip 2 is right
    assert rep["top3"] == pytest.approx(2 / 3)  # clip 0 (rank 2) yes, clip 1 (rank 5) no
    assert rep["top5"] == 1.0 and rep["top5_k"] == 5
    assert rep["per_class"]["e"] == {"accuracy": None, "support": 0}
    assert rep["confusion_matrix"][0] == [0, 0, 0, 0, 1]
    json.dumps(rep)


def test_classification_report_accepts_integral_float_labels_and_probs():
    rep = M.classification_report(M.softmax(LOGITS4), LABELS4.astype(float), NAMES4)
    assert rep["top1"] == pytest.approx(0.5) and rep["top5_k"] == 4


@pytest.mark.parametrize(
    "logits, labels, names, match",
    [
        (LOGITS4[0], LABELS4, NAMES4, r"shape \(N, C\)"),
        (LOGITS4, LABELS4[:, None], NAMES4, "1-D"),
        (LOGITS4, LABELS4[:5], NAMES4, "5 entries but logits have N=6"),
        (LOGITS4, LABELS4, NAMES4[:3], "C=4 columns but 3 class_names"),
        (LOGITS4, np.array([0, 0, 1, 1, 2, 4]), NAMES4, r"\[0, 3\].*\[4\]"),
        (LOGITS4, np.array([0, 0, 1, -1, 2, 3]), NAMES4, r"\[-1\]"),
        (LOGITS4, np.array([0, 0, 1, 1.5, 2, 3]), NAMES4, "integers"),
        (np.where(LOGITS4 > 4, np.nan, LOGITS4), LABELS4, NAMES4, "NaN"),
        (np.zeros((0, 4)), np.zeros(0, int), NAMES4, "N=0"),
    ],
)
def test_classification_report_validation(logits, labels, names, match):
    with pytest.raises(ValueError, match=match):
        M.classification_report(logits, labels, names)


# ------------------------------------------------------------------ binary_alarm_report
# sorted by score; 4 positives of 9.  Alarm if score >= t.  At each unique score:
#   t    TP FP FN   P     R    F1     F2
#   0.9  1  0  3   1     .25  .400   .294
#   0.8  2  0  2   1     .5   .667   .556
#   0.7  2  1  2   .667  .5   .571   .526
#   0.6  3  1  1   .75   .75  .750*  .750
#   0.5  3  2  1   .6    .75  .667   .714
#   0.4  3  3  1   .5    .75  .600   .682
#   0.3  4  3  0   .571  1    .727   .870*
#   0.2  4  4  0   .5    1    .667   .833
#   0.1  4  5  0   .444  1    .615   .800
SCORES9 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
LABELS9 = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0])


def test_binary_alarm_report_f2_optimum_by_hand():
    rep = M.binary_alarm_report(SCORES9, LABELS9)
    assert rep["threshold"] == pytest.approx(0.3, abs=1e-12)
    assert rep["threshold_chosen_on"] == "test" and rep["beta"] == 2.0
    assert rep["precision"] == pytest.approx(4 / 7)
    assert rep["recall"] == pytest.approx(1.0)
    assert rep["f1"] == pytest.approx(8 / 11)
    assert rep["f2"] == pytest.approx(20 / 23) == pytest.approx(fbeta_by_hand(4, 3, 0, 2))
    assert rep["fbeta"] == rep["f2"]
    assert rep["confusion_matrix"] == [[2, 3], [0, 4]]  # [[tn, fp], [fn, tp]]
    assert rep["positives"] == 4 and rep["clips"] == 9
    # ROC-AUC by pair counting: of 4*5 (pos, neg) pairs, the positive outranks in 5+5+4+2
    assert rep["roc_auc"] == pytest.approx(16 / 20)
    # AP = mean over positives of precision at its rank: (1 + 1 + 3/4 + 4/7) / 4
    assert rep["average_precision"] == pytest.approx((1 + 1 + 0.75 + 4 / 7) / 4)
    sw = rep["sweep"]
    assert len(sw["threshold"]) == len(sw["precision"]) == len(sw["fbeta"]) == len(sw["f1"])
    assert sw["threshold"] == sorted(sw["threshold"]) and len(sw["threshold"]) >= 101
    i = sw["threshold"].index(0.6)
    assert (sw["precision"][i], sw["recall"][i]) == pytest.approx((0.75, 0.75))
    assert sw["f1"][i] == pytest.approx(0.75) and sw["fbeta"][i] == pytest.approx(0.75)
    assert max(sw["fbeta"]) == pytest.approx(20 / 23)
    json.dumps(rep)


def test_recall_biased_choice_differs_from_f1():
    f1_rep = M.binary_alarm_report(SCORES9, LABELS9, beta=1.0)
    f2_rep = M.binary_alarm_report(SCORES9, LABELS9, beta=2.0)
    assert f1_rep["threshold"] == pytest.approx(0.6)  # F1 optimum 0.75 at t=0.6
    assert f1_rep["f1"] == pytest.approx(0.75) and "f2" not in f1_rep
    assert f2_rep["threshold"] == pytest.approx(0.3)
    assert f2_rep["recall"] > f1_rep["recall"] and f2_rep["precision"] < f1_rep["precision"]
    half = M.binary_alarm_report(SCORES9, LABELS9, beta=0.5)  # precision-biased
    assert half["threshold"] == pytest.approx(0.8) and half["precision"] == 1.0
    assert half["f0.5"] == pytest.approx(fbeta_by_hand(2, 0, 2, 0.5))


def test_f2_tie_goes_to_higher_precision():
    # 2 positives: A (t=0.9): TP1 FP0 FN1 -> F2 = 5/9;  B (t=0.1): TP2 FP8 FN0 -> F2 = 10/18
    scores = np.array([0.9] + [0.5 + 0.03 * i for i in range(8)] + [0.1])
    labels = np.array([1] + [0] * 8 + [1])
    assert fbeta_by_hand(1, 0, 1, 2) == pytest.approx(fbeta_by_hand(2, 8, 0, 2))
    rep = M.binary_alarm_report(scores, labels)
    assert rep["f2"] == pytest.approx(5 / 9)
    assert rep["threshold"] == pytest.approx(0.9) and rep["precision"] == 1.0
    assert rep["recall"] == 0.5


def test_threshold_chosen_on_val_applied_to_test():
    rep = M.binary_alarm_report(
        scores=np.array([0.95, 0.65, 0.55, 0.45, 0.35, 0.25]),
        labels=np.array([1, 1, 0, 1, 0, 0]),
        val_scores=SCORES9,
        val_labels=LABELS9,
    )
    assert rep["threshold_chosen_on"] == "val"
    assert rep["threshold"] == pytest.approx(0.3)  # the val optimum, not re-tuned on test
    # on test, t=0.3 flags 0.95 0.65 0.55 0.45 0.35: TP3 FP2 FN0, TN1
    assert rep["confusion_matrix"] == [[1, 2], [0, 3]]
    assert rep["precision"] == pytest.approx(3 / 5) and rep["recall"] == 1.0
    assert rep["f2"] == pytest.approx(fbeta_by_hand(3, 2, 0, 2))
    assert rep["val"]["fbeta"] == pytest.approx(20 / 23) and rep["val"]["clips"] == 9
    # tuned on the test set itself the threshold would be 0.45 (TP3 FP1: F2 = 15/16 > 15/17)
    own = M.binary_alarm_report(np.array([0.95, 0.65, 0.55, 0.45, 0.35, 0.25]),
                                np.array([1, 1, 0, 1, 0, 0]))
    assert own["threshold_chosen_on"] == "test" and own["threshold"] == pytest.approx(0.45)
    assert own["f2"] == pytest.approx(15 / 16) == pytest.approx(fbeta_by_hand(3, 1, 0, 2))


@pytest.mark.parametrize("value", [0, 1])
def test_single_class_labels_do_not_crash(value):
    scores = np.array([0.1, 0.4, 0.8])
    rep = M.binary_alarm_report(scores, np.full(3, value))
    assert rep["roc_auc"] is None
    assert rep["positives"] == 3 * value and rep["clips"] == 3
    if value == 0:
        assert rep["average_precision"] is None and rep["recall"] == 0.0
        assert rep["confusion_matrix"][1] == [0, 0]
    else:
        assert rep["average_precision"] == pytest.approx(1.0) and rep["recall"] == 1.0
    json.dumps(rep)


def test_binary_validation_and_custom_thresholds():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.binary_alarm_report(np.array([0.2, 1.7]), np.array([0, 1]))
    with pytest.raises(ValueError, match="0/1"):
        M.binary_alarm_report(np.array([0.2, 0.7]), np.array([0, 2]))
    with pytest.raises(ValueError, match="both"):
        M.binary_alarm_report(SCORES9, LABELS9, val_scores=SCORES9)
    rep = M.binary_alarm_report(SCORES9, LABELS9, thresholds=[0.5])  # single threshold
    assert rep["threshold"] == 0.5 and rep["sweep"]["threshold"] == [0.5]
    assert rep["sweep"]["fbeta"] == [pytest.approx(fbeta_by_hand(3, 2, 1, 2))]


# ---------------------------------------------------------------------- consensus etc.
def test_clip_consensus_and_softmax():
    frames = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    out = M.clip_consensus(frames)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out[0], (frames[0, 0] + frames[0, 1] + frames[0, 2]) / 3)
    np.testing.assert_allclose(out[1], [16, 17, 18, 19])
    with pytest.raises(ValueError, match=r"\(N, T, C\)"):
        M.clip_consensus(frames[0])
    p = M.softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]])


# ------------------------------------------------------------------------------ plots
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _check_png(path, folder):
    import matplotlib.pyplot as plt

    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_SIG
    img = plt.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temp file left over
    return img


def _plot_cases():
    hist = {
        "tsn_float": [{"epoch": e, "train_loss": 2 - 0.1 * e, "train_acc": 0.2, "val_acc": 0.2}
                      for e in range(5)],
        "tsm_qat": [{"epoch": e, "train_loss": 1 / (e + 1), "train_acc": 0.5 + 0.1 * e,
                     "val_acc": 0.45 + 0.1 * e} for e in range(5)],
    }
    rep = M.classification_report(LOGITS4, LABELS4, NAMES4)
    alarm = M.binary_alarm_report(SCORES9, LABELS9)
    return {
        "training_curves": lambda p: P.plot_training_curves(hist, p),
        "confusion_matrix": lambda p: P.plot_confusion_matrix(
            rep["confusion_matrix"], NAMES4, p, title="TSM 4-bit"),
        "pr_threshold": lambda p: P.plot_precision_recall_threshold(alarm, p),
        "accuracy_bars": lambda p: P.plot_accuracy_bars(
            {"TSN float": 0.2, "TSM float": 0.95, "TSM 4-bit": 0.94}, p, title="val top-1"),
    }


@pytest.mark.parametrize("name", list(_plot_cases()))
def test_plot_writes_valid_png(name, tmp_path):
    folder = tmp_path / "figs"
    out = _plot_cases()[name](folder / f"{name}.png")  # creates the folder
    assert out == folder / f"{name}.png"
    _check_png(out, folder)
    out2 = _plot_cases()[name](out)  # overwrite in place
    _check_png(out2, folder)


def test_plot_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def boom(self, fh, **kw):
        fh.write(b"\x89PNG half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        P.plot_accuracy_bars({"a": 0.5}, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []
