"""Classification metrics that survive class imbalance (accuracy, UAR, macro F1, confusion) and
the reference baselines every table shows (majority class, chance). Notebooks 04 and 09."""

import numpy as np


def classification_metrics(y_true, y_pred, n_classes: int,
                           class_names: tuple[str, ...] | None = None) -> dict:
    """Accuracy, unweighted average recall (UAR = mean per-class recall), macro F1, per class;
    classes absent from ``y_true`` are left out of UAR and macro F1 (their recall is undefined)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)  # rows: true class, columns: predicted
    np.add.at(cm, (y_true, y_pred), 1)
    support, predicted, tp = cm.sum(1), cm.sum(0), np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    names = class_names or tuple(str(i) for i in range(n_classes))
    return {"n": len(y_true),
            "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
            "uar": float(np.nanmean(recall[present])) if present.any() else float("nan"),
            "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
            "majority_baseline": float(support.max() / max(1, support.sum())),
            "chance_baseline": 1.0 / n_classes,
            "per_class": {names[c]: {"precision": float(precision[c]),
                                     "recall": float(np.nan_to_num(recall[c])), "f1": float(f1[c]),
                                     "support": int(support[c])} for c in range(n_classes)},
            "confusion": cm.tolist()}
