"""Model selection: ``auto``'s cross-validated choice among candidates, and out-of-fold predictions.

Every candidate of :func:`aihub.ml.estimators.auto_candidates` is fitted on
the same folds of the training split (the preprocessing is refitted inside
each fold, so no fold sees its own rows' statistics); the best mean ROC AUC
(classification) or RMSE (regression) wins, with a two-member blend of the
best linear and the best tree candidate scored on the same out-of-fold
predictions.

The winner is the best mean, except that the linear candidate is kept when
its mean is within one standard error of the best (the one-standard-error
rule; Hastie, Tibshirani & Friedman 2009, *The Elements of Statistical
Learning*, section 7.10): on small tables the cross-validated ranking of
flexible models is mostly noise, and the simpler model is the safer bet and
the easier to explain. The standard error is the fold scores' standard
deviation of the best candidate divided by the square root of the number of
folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold

from aihub.errors import AihubError, TrainingError
from aihub.ml.config import SELECTION_METRIC
from aihub.ml.estimators import LINEAR, auto_candidates, make_estimator


@dataclass
class Selection:
    """The estimator chosen for the final fit.

    Attributes
    ----------
    algorithm : str
        Concrete algorithm or ``"blend"``.
    params : dict
        Its hyperparameters (for blends: per member, and the weights).
    estimator : unfitted estimator
    members : list of str
        Candidate names inside a blend (empty otherwise).
    cv_results : list of dict or None
        One row per candidate (``auto`` only).
    oof : ndarray or None
        Out-of-fold predictions of the chosen estimator on the training split:
        class-code probabilities (n_rows, n_classes) or values (n_rows,).
    """

    algorithm: str
    params: dict[str, Any]
    estimator: Any
    members: list[str]
    cv_results: list[dict[str, Any]] | None = None
    oof: np.ndarray | None = None


def folds(task: str, y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled (stratified for classes) folds; fewer than ``n_folds`` when the rarest class is smaller."""
    if task == "classification":
        counts = np.bincount(np.asarray(y, dtype=int))
        k = max(2, min(n_folds, int(counts[counts > 0].min())))
        return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    k = max(2, min(n_folds, len(y) // 5))
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y))))


def raw_output(task: str, est, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Class-code probabilities (n_rows, n_classes) or predicted values (n_rows,)."""
    if task != "classification":
        return est.predict(X)
    proba = np.zeros((X.shape[0], n_classes))
    proba[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(X)
    return proba


def score(task: str, y: np.ndarray, pred: np.ndarray, n_classes: int, pos_code: int | None) -> float:
    """ROC AUC of the positive class (binary), macro one-vs-rest ROC AUC (multiclass) or RMSE (regression)."""
    if task == "classification":
        if n_classes == 2:
            return float(roc_auc_score((y == pos_code).astype(int), pred[:, pos_code]))
        return float(roc_auc_score(y, pred, multi_class="ovr", labels=np.arange(n_classes)))
    return float(np.sqrt(np.mean((np.asarray(y, float) - pred) ** 2)))


def _row(name: str, algo: str, params: dict, metric: str, scores: list[float], seconds: float) -> dict[str, Any]:
    return {
        "candidate": name, "algorithm": algo, "params": params, "metric": metric, "mean": float(np.mean(scores)),
        "std": float(np.std(scores)), "folds": scores, "seconds": round(seconds, 3),
    }  # fmt: skip


def _better(a: dict, b: dict, higher: bool) -> bool:
    return a["mean"] > b["mean"] + 1e-4 if higher else a["mean"] < b["mean"] - 1e-4


def auto_select(cfg, task: str, pipeline_for: Callable, X, y: np.ndarray, n_classes: int, pos_code: int | None, steps) -> Selection:
    """Cross-validate the candidates and return the winner (see module docstring).

    Parameters
    ----------
    cfg : TrainingConfig
    task : {"classification", "regression"}
    pipeline_for : callable(estimator) -> Pipeline
        Builds the model pipeline; ``pipeline_for(None)[:-1]`` is the preprocessing.
    X : pandas.DataFrame of shape (n_rows, n_features)
    y : ndarray of shape (n_rows,)
        Class codes or floats.
    n_classes : int
        0 for regression.
    pos_code : int or None
        Positive class code (binary).
    steps : callable(fraction, message)
        Progress and cancellation (raises :class:`aihub.ml.train.Cancelled`).

    Raises
    ------
    TrainingError
        A candidate cannot be fitted.
    """
    cands = auto_candidates(task, cfg.hyperparameters, n_rows=len(y))
    splits = folds(task, y, cfg.cv_folds, cfg.random_seed)
    shape = (len(y), n_classes) if task == "classification" else (len(y),)
    oof = {name: np.zeros(shape) for name, _, _ in cands}
    fold_scores: dict[str, list[float]] = {name: [] for name, _, _ in cands}
    seconds = dict.fromkeys(oof, 0.0)
    total, done = len(splits) * len(cands), 0
    for fi, (tr, va) in enumerate(splits):
        prep = pipeline_for(None)[:-1]
        Xtr = prep.fit_transform(X.iloc[tr], y[tr])
        Xva = prep.transform(X.iloc[va])
        for name, algo, params in cands:
            steps(0.1 + 0.6 * done / total, f"Cross-validating {name} (fold {fi + 1} of {len(splits)})")
            t0 = time.perf_counter()
            est = make_estimator(task, algo, params, seed=cfg.random_seed, n_jobs=cfg.n_jobs)
            try:
                est.fit(Xtr, y[tr])
            except AihubError:
                raise
            except Exception as exc:
                raise TrainingError(f"{name} could not be fitted during cross-validation: {type(exc).__name__}: {exc}") from exc
            oof[name][va] = raw_output(task, est, Xva, n_classes)
            fold_scores[name].append(score(task, y[va], oof[name][va], n_classes, pos_code))
            seconds[name] += time.perf_counter() - t0
            done += 1
    steps(0.7, "Comparing candidates")
    metric, higher = SELECTION_METRIC[task], task == "classification"
    rows = [_row(name, algo, params, metric, fold_scores[name], seconds[name]) for name, algo, params in cands]
    blend = _blend_row(task, rows, oof, y, splits, n_classes, pos_code, metric, higher)
    if blend is not None:
        rows.append(blend)
    best = _pick(rows, higher)
    for r in rows:
        r["selected"] = r is best
    return _selection(cfg, task, cands, best, rows, oof)


def _pick(rows: list[dict[str, Any]], higher: bool) -> dict[str, Any]:
    """Best mean (ties within 1e-4 keep the earlier candidate), or the linear one within one standard error of it."""
    best = rows[0]
    for r in rows[1:]:
        if _better(r, best, higher):
            best = r
    linear = [r for r in rows if r["algorithm"] in LINEAR]
    if linear and best["algorithm"] not in LINEAR:
        se = float(np.std(best["folds"], ddof=1) / np.sqrt(len(best["folds"]))) if len(best["folds"]) > 1 else 0.0
        lin = linear[0]
        gap = best["mean"] - lin["mean"] if higher else lin["mean"] - best["mean"]
        if gap <= se:
            lin["rule"] = f"within one standard error ({se:.4f}) of the best, {best['candidate']}"
            return lin
    return best


def _blend_row(task, rows, oof, y, splits, n_classes, pos_code, metric, higher) -> dict[str, Any] | None:
    linear = [r for r in rows if r["algorithm"] in LINEAR]
    trees = [r for r in rows if r["algorithm"] not in LINEAR]
    if not linear or not trees:
        return None
    pick = max if higher else min
    bl = pick(linear, key=lambda r: r["mean"])
    bt = pick(trees, key=lambda r: r["mean"])
    oof["blend"] = (oof[bl["candidate"]] + oof[bt["candidate"]]) / 2.0
    scores = [score(task, y[va], oof["blend"][va], n_classes, pos_code) for _, va in splits]
    members = [bl["candidate"], bt["candidate"]]
    row = _row("blend", "blend", {"members": members, "weights": [0.5, 0.5]}, metric, scores, bl["seconds"] + bt["seconds"])
    return row


def _selection(cfg, task: str, cands, best: dict, rows: list[dict], oof: dict) -> Selection:
    by_name = {name: (algo, params) for name, algo, params in cands}
    if best["candidate"] == "blend":
        members = best["params"]["members"]
        ests = [(m, make_estimator(task, by_name[m][0], by_name[m][1], seed=cfg.random_seed, n_jobs=cfg.n_jobs)) for m in members]
        estimator = VotingClassifier(ests, voting="soft") if task == "classification" else VotingRegressor(ests)
        params = {"members": {m: by_name[m][1] for m in members}, "weights": [0.5, 0.5]}
        return Selection("blend", params, estimator, list(members), rows, oof["blend"])
    algo, params = by_name[best["candidate"]]
    estimator = make_estimator(task, algo, params, seed=cfg.random_seed, n_jobs=cfg.n_jobs)
    return Selection(algo, dict(params), estimator, [], rows, oof[best["candidate"]])


def oof_predictions(cfg, task: str, pipeline_for: Callable, estimator, X, y: np.ndarray, n_classes: int, steps, start: float = 0.76) -> np.ndarray:
    """Out-of-fold predictions of one estimator (pipeline refitted per fold).

    Returns
    -------
    ndarray
        Class-code probabilities (n_rows, n_classes) or values (n_rows,).
    """
    splits = folds(task, y, cfg.cv_folds, cfg.random_seed)
    out = np.zeros((len(y), n_classes) if task == "classification" else len(y))
    for fi, (tr, va) in enumerate(splits):
        steps(start + 0.04 * fi / len(splits), f"Cross-validating held-out predictions (fold {fi + 1} of {len(splits)})")
        pipe = pipeline_for(clone(estimator))
        try:
            pipe.fit(X.iloc[tr], y[tr])
        except AihubError:
            raise
        except Exception as exc:
            raise TrainingError(f"the model could not be fitted during cross-validation: {type(exc).__name__}: {exc}") from exc
        out[va] = raw_output(task, pipe.named_steps["model"], pipe[:-1].transform(X.iloc[va]), n_classes)
    return out
