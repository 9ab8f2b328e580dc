"""Estimators: one concrete algorithm from validated hyperparameters, and the candidates ``auto`` compares.

Estimators are always fitted on class codes 0..K-1 (classification) or
floats (regression), never on the user's labels; see :mod:`aihub.ml.targets`.
"""

from __future__ import annotations

from typing import Any

from sklearn.cluster import KMeans
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from aihub.errors import ValidationError

#: Algorithms whose model is linear in the preprocessed inputs.
LINEAR = frozenset({"logistic_regression", "linear_regression", "ridge"})

#: LightGBM settings of ``auto``'s boosted-tree candidate, fixed before any
#: benchmark: half the default learning rate with three times the rounds,
#: smaller trees, row and column subsampling and a little L2 shrinkage -- the
#: conservative settings LightGBM's parameter-tuning guide recommends against
#: over-fitting small tables ("Deal with Over-fitting").
LIGHTGBM_AUTO = {
    "learning_rate": 0.05,
    "n_estimators": 300,
    "num_leaves": 15,
    "min_child_samples": 10,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


def _lightgbm(task: str, p: dict[str, Any], seed: int, n_jobs: int):
    """LightGBM (Ke et al. 2017, "LightGBM: A Highly Efficient Gradient Boosting Decision Tree", NeurIPS)."""
    import lightgbm

    subsample = p.get("subsample", 1.0)
    kw = {
        "learning_rate": p.get("learning_rate", 0.1),
        "n_estimators": p.get("n_estimators", 100),
        "num_leaves": p.get("num_leaves", 31),
        "min_child_samples": p.get("min_child_samples", 20),
        "subsample": subsample,
        "subsample_freq": 1 if subsample < 1.0 else 0,
        "colsample_bytree": p.get("colsample_bytree", 1.0),
        "reg_lambda": p.get("reg_lambda", 0.0),
        "random_state": seed,
        "n_jobs": n_jobs,
        "verbose": -1,
    }
    if task == "classification":
        return lightgbm.LGBMClassifier(class_weight=p.get("class_weight"), **kw)
    return lightgbm.LGBMRegressor(**kw)


def _random_forest(task: str, p: dict[str, Any], seed: int, n_jobs: int):
    mf = p.get("max_features", "sqrt" if task == "classification" else "all")
    kw = {
        "n_estimators": p.get("n_estimators", 100),
        "max_depth": p.get("max_depth"),
        "min_samples_split": p.get("min_samples_split", 2),
        "min_samples_leaf": p.get("min_samples_leaf", 5),
        "max_features": 1.0 if mf == "all" else mf,
        "random_state": seed,
        "n_jobs": n_jobs,
    }
    if task == "classification":
        return RandomForestClassifier(class_weight=p.get("class_weight"), **kw)
    return RandomForestRegressor(**kw)


def _hist_boosting(task: str, p: dict[str, Any], seed: int):
    kw = {
        "learning_rate": p.get("learning_rate", 0.1),
        "max_iter": p.get("max_iter", 100),
        "max_depth": p.get("max_depth"),
        "max_leaf_nodes": p.get("max_leaf_nodes", 31),
        "min_samples_leaf": p.get("min_samples_leaf", 20),
        "l2_regularization": p.get("l2_regularization", 0.0),
        "early_stopping": p.get("early_stopping", "auto"),
        "random_state": seed,
    }
    if task == "classification":
        return HistGradientBoostingClassifier(class_weight=p.get("class_weight"), **kw)
    return HistGradientBoostingRegressor(**kw)


def make_estimator(task: str, algorithm: str, params: dict[str, Any], *, seed: int = 0, n_jobs: int = 1):
    """Build an unfitted estimator from validated hyperparameters.

    Parameters
    ----------
    task : {"classification", "regression", "clustering"}
    algorithm : str
        A concrete algorithm (not ``auto``).
    params : dict
        Hyperparameters as validated by :class:`~aihub.ml.config.TrainingConfig`;
        missing keys take the library defaults.
    seed : int
    n_jobs : int
        Threads for random forests and LightGBM.

    Returns
    -------
    estimator
        ``LogisticRegression``, ``RandomForestClassifier/Regressor``,
        ``HistGradientBoostingClassifier/Regressor``,
        ``LGBMClassifier/Regressor``, ``LinearRegression``, ``Ridge`` or ``KMeans``.

    Raises
    ------
    ValidationError
        ``algorithm`` is not concrete for ``task`` (``field="algorithm"``).
    """
    p = dict(params)
    if algorithm == "logistic_regression":
        return LogisticRegression(C=p.get("C", 1.0), max_iter=p.get("max_iter", 1000), class_weight=p.get("class_weight"), random_state=seed)
    if algorithm == "random_forest":
        return _random_forest(task, p, seed, n_jobs)
    if algorithm == "gradient_boosting":
        return _hist_boosting(task, p, seed)
    if algorithm == "lightgbm":
        return _lightgbm(task, p, seed, n_jobs)
    if algorithm == "linear_regression":
        return LinearRegression()
    if algorithm == "ridge":
        return Ridge(alpha=p.get("alpha", 1.0))
    if algorithm == "kmeans":
        return KMeans(n_clusters=p.get("n_clusters", 5), n_init=p.get("n_init", 10), max_iter=p.get("max_iter", 300), random_state=seed)
    raise ValidationError(f"algorithm {algorithm!r} is not a concrete algorithm for {task}", field="algorithm")


def forest_leaf_size(n_rows: int | None) -> int:
    """Smallest leaf of ``auto``'s regression forest: 1 (fully grown trees, Breiman 2001 and scikit-learn's
    default) up to 10,000 training rows, then growing with the rows so a tree keeps about 10,000 leaves
    (the model file and SHAP time stay bounded)."""
    return max(1, round((n_rows or 0) / 10_000))


def auto_candidates(task: str, hyperparameters: dict[str, Any] | None = None, n_rows: int | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """Candidates ``auto`` cross-validates, as ``(name, algorithm, params)``.

    A fixed, data-independent set of diverse, strong learners (not tuned on
    any one table): scikit-learn's default-strength linear model; a random
    forest (Breiman 2001: leaves of 3 rows for classes, whose probabilities are
calibrated afterwards; fully grown trees for amounts, see :func:`forest_leaf_size`); histogram gradient boosting with
    scikit-learn's defaults; and LightGBM with the conservative settings of
    :data:`LIGHTGBM_AUTO`. After the singles, an equal-weight blend of the best
    linear and the best tree candidate is scored on the same out-of-fold
    predictions (ensemble selection as in Caruana et al. 2004, restricted to
    two members). The choice of this set is argued table by table in
    ``benchmarks/ml_tables.py``.

    Parameters
    ----------
    task : {"classification", "regression"}
    hyperparameters : dict, optional
        ``class_weight`` (classification) is applied to every candidate.
    n_rows : int, optional
        Training rows; sizes the regression forest's leaves (:func:`forest_leaf_size`).

    Raises
    ------
    ValueError
        For clustering (``auto`` picks the number of segments instead).
    """
    hp = hyperparameters or {}
    if task == "classification":
        cw = {"class_weight": hp.get("class_weight")}
        return [
            ("logistic_regression", "logistic_regression", {"C": 1.0, "max_iter": 1000, **cw}),
            ("random_forest", "random_forest", {"n_estimators": 200, "min_samples_leaf": 3, "max_features": "sqrt", **cw}),
            ("gradient_boosting", "gradient_boosting", {"learning_rate": 0.1, "max_iter": 100, **cw}),
            ("lightgbm", "lightgbm", {**LIGHTGBM_AUTO, **cw}),
        ]
    if task == "regression":
        return [
            ("ridge", "ridge", {"alpha": 1.0}),
            ("random_forest", "random_forest", {"n_estimators": 100, "min_samples_leaf": forest_leaf_size(n_rows), "max_features": "all"}),
            ("gradient_boosting", "gradient_boosting", {"learning_rate": 0.1, "max_iter": 100}),
            ("lightgbm", "lightgbm", dict(LIGHTGBM_AUTO)),
        ]
    raise ValueError(f"auto has no candidates for task {task!r}")
