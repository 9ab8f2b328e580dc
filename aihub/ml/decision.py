"""From raw scores to calibrated probabilities and a decision: calibration and the decision threshold.

Both are fitted on out-of-sample predictions of the chosen model (the
validation split plus, when ``auto`` cross-validated, the out-of-fold
predictions) and recorded with the model, as scikit-learn's
``CalibratedClassifierCV(ensemble=False)`` does: the final model is refit on
all training rows and the calibration map learnt from held-out predictions
is applied to it.

Calibration (binary), one of:

* ``platt``: ``logit(p') = a * logit(p) + b`` (Platt 1999), for models whose
  scores are known to be mis-calibrated: random forests and blends with a
  forest (Niculescu-Mizil & Caruana 2005, "Predicting good probabilities with
  supervised learning", ICML) and any model trained with class weights,
  whose probabilities are inflated for the up-weighted class;
* ``prior``: when too few held-out rows exist for Platt, or for multiclass
  models trained with class weights, the analytic prior-shift correction
  ``p'_k ∝ p_k / w_k`` (Elkan 2001, "The Foundations of Cost-Sensitive
  Learning", Theorem 2; Saerens et al. 2002) undoes the weights exactly.

Logistic regression and gradient boosting (log-loss objectives) trained
without weights are left as they are.

The decision threshold (binary) turns the calibrated probability into the
predicted class: the cut-off that maximises the user's metric (F1 by
default, or balanced accuracy, or accuracy) on the held-out predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Fewest held-out rows of each class for a Platt fit.
MIN_PLATT_ROWS = 20
_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with p clipped to [1e-6, 1 - 1e-6]."""
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def class_weights(codes: np.ndarray, n_classes: int, class_weight: Any) -> list[float] | None:
    """Per-class weights the estimator trained with (``"balanced"``: n / (K n_k), as scikit-learn), else None."""
    if class_weight != "balanced":
        return None
    counts = np.bincount(np.asarray(codes, dtype=int), minlength=n_classes).astype(float)
    return (len(codes) / (n_classes * np.maximum(counts, 1.0))).tolist()


def needs_calibration(algorithm: str, members: list[str] | None, weights: list[float] | None) -> bool:
    """Whether the model's raw probabilities are known to need calibration (see module docstring)."""
    forest = algorithm == "random_forest" or (algorithm == "blend" and any("forest" in m for m in members or ()))
    return forest or weights is not None


def fit_calibration(y_pos: np.ndarray, p_pos: np.ndarray, weights: list[float] | None, pos_index: int) -> dict[str, Any]:
    """Fit the binary calibration map on held-out predictions.

    Parameters
    ----------
    y_pos : ndarray of {0, 1}, shape (n_rows,)
        1 where the row is of the positive class.
    p_pos : ndarray of shape (n_rows,)
        Raw predicted probability of the positive class.
    weights : list of float or None
        Class weights used in training (class-code order).
    pos_index : int
        Code of the positive class.

    Returns
    -------
    dict
        ``{"method": "platt", "a", "b", "n_rows"}``, or ``{"method": "prior",
        "weights"}`` when there are fewer than :data:`MIN_PLATT_ROWS` rows of
        a class, or ``{"method": "none"}``.
    """
    y_pos = np.asarray(y_pos, dtype=int)
    if min(int(y_pos.sum()), int(len(y_pos) - y_pos.sum())) >= MIN_PLATT_ROWS:
        from sklearn.linear_model import LogisticRegression

        z = logit(p_pos).reshape(-1, 1)
        lr = LogisticRegression(C=1e4, max_iter=1000).fit(z, y_pos)
        return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0]), "n_rows": len(y_pos), "positive_index": pos_index}
    if weights is not None:
        return {"method": "prior", "weights": list(weights)}
    return {"method": "none"}


def apply_calibration(proba: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """Calibrated probabilities, shape (n_rows, n_classes), columns in class-code order."""
    proba = np.asarray(proba, dtype=float)
    method = (calibration or {}).get("method", "none")
    if method == "platt":
        k = int(calibration.get("positive_index", 1))
        p = 1.0 / (1.0 + np.exp(-(calibration["a"] * logit(proba[:, k]) + calibration["b"])))
        out = np.empty_like(proba)
        out[:, k] = p
        out[:, 1 - k] = 1.0 - p
        return out
    if method == "prior":
        w = np.asarray(calibration["weights"], dtype=float)
        adj = proba / w[None, :]
        return adj / adj.sum(axis=1, keepdims=True)
    return proba


def calibrate_scalar(p: np.ndarray, calibration: dict[str, Any] | None, pos_index: int) -> np.ndarray:
    """Calibrated probability of class ``pos_index`` from its raw probability (binary)."""
    p = np.asarray(p, dtype=float)
    two = np.column_stack([1 - p, p]) if pos_index == 1 else np.column_stack([p, 1 - p])
    return apply_calibration(two, calibration)[:, pos_index]


def _metric_grid(y: np.ndarray, p: np.ndarray, grid: np.ndarray, metric: str) -> np.ndarray:
    pred = p[:, None] >= grid[None, :]
    pos = (y == 1)[:, None]
    tp = (pred & pos).sum(axis=0).astype(float)
    fp = (pred & ~pos).sum(axis=0).astype(float)
    fn = (~pred & pos).sum(axis=0).astype(float)
    tn = (~pred & ~pos).sum(axis=0).astype(float)
    if metric == "f1":
        return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    if metric == "balanced_accuracy":
        tpr = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
        tnr = np.divide(tn, tn + fp, out=np.zeros_like(tn), where=(tn + fp) > 0)
        return (tpr + tnr) / 2
    return (tp + tn) / max(len(y), 1)


def choose_threshold(y_pos: np.ndarray, p_pos: np.ndarray, metric: str, *, source: str) -> dict[str, Any]:
    """The probability cut-off maximising ``metric`` on held-out predictions.

    Candidates are 0.01, 0.02, ..., 0.99; among equally good cut-offs the one
    nearest 0.5 is kept.

    Parameters
    ----------
    y_pos : ndarray of {0, 1}
    p_pos : ndarray
        Calibrated probability of the positive class.
    metric : {"f1", "balanced_accuracy", "accuracy"}
    source : str
        Where the predictions came from, recorded for the user.

    Returns
    -------
    dict
        ``{"value", "metric", "score", "score_at_0_5", "n_rows", "source"}``.
    """
    y = np.asarray(y_pos, dtype=int)
    p = np.asarray(p_pos, dtype=float)
    grid = np.round(np.arange(1, 100) / 100.0, 2)
    scores = _metric_grid(y, p, grid, metric)
    best = scores.max()
    tied = grid[np.isclose(scores, best)]
    value = float(tied[np.argmin(np.abs(tied - 0.5))])
    return {
        "value": value,
        "metric": metric,
        "score": float(best),
        "score_at_0_5": float(scores[49]),
        "n_rows": len(y),
        "source": source,
    }


def fixed_threshold(value: float, metric: str) -> dict[str, Any]:
    """A threshold the user set (recorded the same way as a chosen one)."""
    return {"value": float(value), "metric": metric, "score": None, "score_at_0_5": None, "n_rows": 0, "source": "configured"}
