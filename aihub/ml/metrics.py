"""Evaluation metrics on held-out rows, as JSON-ready dicts.

Definitions follow scikit-learn's ``sklearn.metrics`` (accuracy, precision,
recall, F1, ROC AUC, average precision, MAE, RMSE, R², silhouette).
Curves are downsampled to at most ``max_points`` points for charts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def _native(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _downsample(*arrays: np.ndarray, max_points: int = 101) -> list[list[float]]:
    n = len(arrays[0])
    if n <= max_points:
        idx = np.arange(n)
    else:
        idx = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))
    out = []
    for a in arrays:
        vals = np.asarray(a, dtype=float)[idx]
        out.append([float(x) if np.isfinite(x) else None for x in vals])
    return out


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    classes: list,
    positive_class: Any = None,
    max_points: int = 101,
) -> dict[str, Any]:
    """Metrics of a classifier on held-out rows.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_rows,)
        True and predicted labels.
    proba : ndarray of shape (n_rows, n_classes)
        Predicted probabilities (0 to 1), columns in ``classes`` order.
    classes : list
        Class labels.
    positive_class : optional
        For binary problems: the class precision/recall/F1/curves refer to.
    max_points : int, default 101
        Maximum points per curve.

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``f1`` (positive class for
        binary, macro average otherwise), ``brier`` (:func:`brier_score`), ``roc_auc`` (one-vs-rest macro for
        multiclass; None if a class is absent), ``average_precision``
        (binary), ``log_loss``, ``confusion_matrix`` ``{"labels", "matrix"}``
        (rows true, columns predicted), ``roc_curve`` ``{"fpr", "tpr",
        "threshold"}`` and ``pr_curve`` ``{"recall", "precision",
        "threshold"}`` (binary), ``n_rows``, ``positive_rate``.
    """
    classes = list(classes)
    # sklearn's metrics refuse object arrays of numbers ("unknown" target type): score class codes
    codes = {(type(c).__name__, c): i for i, c in enumerate(classes)}
    t = np.asarray([codes[(type(v).__name__, v)] for v in y_true], dtype=int)
    p = np.asarray([codes[(type(v).__name__, v)] for v in y_pred], dtype=int)
    proba = np.asarray(proba, dtype=float)
    labels = np.arange(len(classes))
    out: dict[str, Any] = {"n_rows": len(t), "accuracy": float(skm.accuracy_score(t, p))}
    cm = skm.confusion_matrix(t, p, labels=labels)
    out["confusion_matrix"] = {"labels": [_native(c) for c in classes], "matrix": cm.astype(int).tolist()}
    try:
        out["log_loss"] = float(skm.log_loss(t, proba, labels=labels))
    except ValueError:
        out["log_loss"] = None
    out["brier"] = brier_score(np.asarray(classes, dtype=object)[t], proba, classes)
    if len(classes) == 2:
        out.update(_binary_metrics(t, p, proba, classes, positive_class, max_points))
    else:
        out.update(_multiclass_metrics(t, p, proba, labels))
    return out


def _binary_metrics(t: np.ndarray, p: np.ndarray, proba: np.ndarray, classes: list, positive_class: Any, max_points: int) -> dict[str, Any]:
    pos = positive_class if positive_class is not None else classes[1]
    pi = classes.index(pos)
    yb = (t == pi).astype(int)
    pb = (p == pi).astype(int)
    score = proba[:, pi]
    out: dict[str, Any] = {"positive_class": _native(pos), "positive_rate": float(yb.mean()) if len(yb) else None}
    out["precision"] = float(skm.precision_score(yb, pb, zero_division=0))
    out["recall"] = float(skm.recall_score(yb, pb, zero_division=0))
    out["f1"] = float(skm.f1_score(yb, pb, zero_division=0))
    if not 0 < yb.sum() < len(yb):
        out["roc_auc"] = out["average_precision"] = None
        return out
    out["roc_auc"] = float(skm.roc_auc_score(yb, score))
    out["average_precision"] = float(skm.average_precision_score(yb, score))
    fpr, tpr, thr = skm.roc_curve(yb, score)
    f, tp, th = _downsample(fpr, tpr, thr, max_points=max_points)
    out["roc_curve"] = {"fpr": f, "tpr": tp, "threshold": th}
    prec, rec, thr2 = skm.precision_recall_curve(yb, score)
    thr2 = np.append(thr2, np.nan)
    r, pr, th2 = _downsample(rec[::-1], prec[::-1], thr2[::-1], max_points=max_points)
    out["pr_curve"] = {"recall": r, "precision": pr, "threshold": th2}
    return out


def _multiclass_metrics(t: np.ndarray, p: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    out = {
        "precision": float(skm.precision_score(t, p, labels=labels, average="macro", zero_division=0)),
        "recall": float(skm.recall_score(t, p, labels=labels, average="macro", zero_division=0)),
        "f1": float(skm.f1_score(t, p, labels=labels, average="macro", zero_division=0)),
    }
    present = set(t.tolist())
    out["roc_auc"] = float(skm.roc_auc_score(t, proba, multi_class="ovr", labels=labels)) if all(c in present for c in labels) else None
    return out


def brier_score(y_true: np.ndarray, proba: np.ndarray, classes: list) -> float | None:
    """Brier score of probabilistic predictions (Brier 1950), lower is better.

    Binary: mean squared difference between the positive class's probability
    and the 0/1 outcome (0 to 1; scikit-learn's ``brier_score_loss``).
    Multiclass: mean over rows of the summed squared differences across
    classes (0 to 2), Brier's original definition.

    Parameters
    ----------
    y_true : array of shape (n_rows,)
        True labels.
    proba : ndarray of shape (n_rows, n_classes)
        Probabilities, columns in ``classes`` order.
    classes : list
    """
    y_true = np.asarray(y_true, dtype=object)
    if len(y_true) == 0:
        return None
    onehot = np.column_stack([(y_true == c).astype(float) for c in classes])
    proba = np.asarray(proba, dtype=float)
    if len(classes) == 2:
        return float(np.mean((proba[:, 1] - onehot[:, 1]) ** 2))
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> dict[str, Any]:
    """Metrics of a regressor on held-out rows.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_rows,)
        In the target's unit (e.g. currency).
    lower, upper : array of shape (n_rows,), optional
        Prediction interval bounds.

    Returns
    -------
    dict
        ``mae``, ``rmse``, ``median_ae`` (target unit), ``r2`` (1 is perfect,
        0 is as good as predicting the mean), ``n_rows`` and, with an
        interval, ``interval_coverage`` (share of rows inside, 0 to 1) and
        ``interval_mean_width``.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    out: dict[str, Any] = {
        "n_rows": len(y_true),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "median_ae": float(skm.median_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else None,
    }
    if lower is not None and upper is not None:
        out["interval_coverage"] = float(np.mean((y_true >= lower) & (y_true <= upper)))
        out["interval_mean_width"] = float(np.mean(np.asarray(upper) - np.asarray(lower)))
    return out


def clustering_metrics(X: np.ndarray, labels: np.ndarray, seed: int = 0, sample_size: int = 5000) -> dict[str, Any]:
    """Silhouette and cluster sizes.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Rows in the model's (scaled) input space.
    labels : ndarray of int, shape (n_rows,)
    seed : int
        For the silhouette sample when there are more than ``sample_size`` rows.

    Returns
    -------
    dict
        ``silhouette`` (-1 to 1, higher means better separated; None with
        one cluster), ``cluster_sizes`` ``{cluster: rows}``, ``n_rows``.
    """
    labels = np.asarray(labels)
    uniq, counts = np.unique(labels, return_counts=True)
    out: dict[str, Any] = {"n_rows": len(labels), "cluster_sizes": {str(int(u)): int(c) for u, c in zip(uniq, counts)}}
    if 1 < len(uniq) < len(labels):
        out["silhouette"] = float(
            skm.silhouette_score(X, labels, sample_size=min(sample_size, len(labels)), random_state=seed)
        )
    else:
        out["silhouette"] = None
    return out
