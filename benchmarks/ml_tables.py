"""Benchmark: ``auto`` against scikit-learn's defaults on every shared table, out of sample.

Tables: the seven UCI tables of ``shared/data/tables`` (0/1, string, multiclass
and regression targets; ``winequality_red`` is run twice, as classes and as
amounts, the two answers to the product's "classes or amounts?" question)
plus IBM Telco churn. Each table gets one split, fixed by seed 0: 80% for
training (stratified by class), 20% held out; every model is fitted on the
same 80% and scored on the same 20%. Tables under 2,000 rows have test
splits of 40 to 300 rows, where ROC AUC moves by several hundredths from one
split to the next; they are scored on ``--repeats`` (default 5) different
splits (seeds 0, 1, ...) and the mean is reported, so that a difference
between models is not one split's luck.

Models (same run, same split):

* ``auto``: :func:`aihub.ml.train_model` with ``algorithm="auto"`` and its
  defaults (cross-validated choice among logistic/ridge regression, random
  forest, histogram gradient boosting, LightGBM and a linear+tree blend;
  calibrated probabilities);
* scikit-learn defaults with standard preprocessing (median imputation and
  standard scaling of numbers, most-frequent imputation and one-hot encoding
  of categories, identifier and date columns dropped):
  ``LogisticRegression(max_iter=1000)`` (``LinearRegression()`` for amounts),
  ``RandomForestClassifier()``/``Regressor()`` and
  ``HistGradientBoostingClassifier()``/``Regressor()``, seed 0.

Figures: ROC AUC (binary; macro one-vs-rest for multiclass) and the Brier
score (binary: mean squared error of the positive class's probability;
multiclass: summed over classes), or R² for amounts, and seconds per model
(fit + predict, one thread).

Leave-one-table-out: the candidate set of ``auto`` was fixed before these
tables were scored. The one decision taken on them -- LightGBM with
conservative settings replaces a slow-learning histogram boosting candidate --
is re-checked with ``--loto``: for each table, the two variants are compared
on the *other* tables only (5-fold cross-validated scores on the training
splits), and the report says whether the decision would have been the same
without that table.

Usage::

    python benchmarks/ml_tables.py [--tables heart_disease,telco] [--loto] [--cv-folds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.ml import train_model
from aihub.ml.preprocess import detect_column_kind, looks_like_id, parse_numeric
from aihub.ml.targets import encode_labels, normalize_labels


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


@dataclass
class Table:
    """One benchmark table: file, target, task and how to read it."""

    name: str
    path: str
    target: str | None  # None: the last column
    task: str
    sep: str = ","
    positive_class: object = None

    def load(self) -> pd.DataFrame:
        frame = pd.read_csv(shared_dir() / self.path, sep=self.sep, encoding="utf-8-sig", low_memory=False)
        first = str(frame.columns[0])
        if first == "" or first.startswith("Unnamed: 0"):
            # DataFrame.to_csv's index column (loan_approval.csv); the upload reader learns to drop it elsewhere
            frame = frame.drop(columns=frame.columns[0])
        return frame

    @property
    def target_name(self) -> str:
        return self.target or str(self.load().columns[-1])


TABLES = [
    Table("heart_disease", "tables/heart_disease.csv", "target", "classification"),
    Table("loan_approval", "tables/loan_approval.csv", "Loan_Status", "classification"),
    Table("banknote", "tables/banknote.csv", "Class", "classification"),
    Table("car_evaluation", "tables/car_evaluation.csv", "class", "classification"),
    Table("winequality_red (classes)", "tables/winequality_red.csv", "quality", "classification", sep=";"),
    Table("winequality_red (amounts)", "tables/winequality_red.csv", "quality", "regression", sep=";"),
    Table("concrete_strength", "tables/concrete_strength.csv", None, "regression"),
    Table("bike_sharing_hourly", "tables/bike_sharing_hourly.csv", "cnt", "regression"),
    Table("telco_churn", "telco_churn/telco_customer_churn.csv", "Churn", "classification"),
]


@dataclass
class Result:
    table: str
    model: str
    score: float
    brier: float | None
    seconds: float
    note: str = ""
    cv: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------


def score(task: str, y: np.ndarray, pred: np.ndarray, pos: int | None) -> tuple[float, float | None]:
    """(ROC AUC or R², Brier or None) of predictions on held-out rows; ``y`` as class codes or floats."""
    if task == "regression":
        return float(r2_score(y, pred)), None
    k = pred.shape[1]
    onehot = np.eye(k)[y]
    if k == 2:
        return float(roc_auc_score(y == pos, pred[:, pos])), float(np.mean((pred[:, pos] - onehot[:, pos]) ** 2))
    return float(roc_auc_score(y, pred, multi_class="ovr", labels=np.arange(k))), float(np.mean(np.sum((pred - onehot) ** 2, axis=1)))


def split(table: Table, frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    target = table.target_name
    strat = frame[target].astype(str) if table.task == "classification" else None
    return train_test_split(frame, test_size=0.2, random_state=seed, stratify=strat)


def average(results: list[Result]) -> Result:
    """Mean score, Brier and seconds of the same model over repeated splits."""
    first = results[0]
    brier = [r.brier for r in results if r.brier is not None]
    note = first.note if len(results) == 1 else f"{first.note}; mean of {len(results)} splits, sd {np.std([r.score for r in results]):.3f}"
    if first.model == "auto" and len(results) > 1:
        picks = [r.note.split(",")[0].replace("chose ", "") for r in results]
        note = "chose " + "/".join(dict.fromkeys(picks)) + f"; mean of {len(results)} splits, sd {np.std([r.score for r in results]):.3f}"
    return Result(first.table, first.model, float(np.mean([r.score for r in results])), float(np.mean(brier)) if brier else None,
                  float(np.mean([r.seconds for r in results])), note)


# ---------------------------------------------------------------------------
# scikit-learn defaults
# ---------------------------------------------------------------------------


def standard_columns(train: pd.DataFrame, target: str) -> tuple[list[str], list[str]]:
    """Numbers and categories for the defaults; identifiers, dates, empty and constant columns dropped."""
    num, cat = [], []
    for c in train.columns:
        if c == target or looks_like_id(train[c], str(c))[0]:
            continue
        kind = detect_column_kind(train[c])
        if kind == "numeric":
            num.append(c)
        elif kind in ("categorical", "text"):
            cat.append(c)
    return num, cat


def default_models(task: str) -> dict[str, object]:
    if task == "classification":
        return {
            "LogisticRegression": LogisticRegression(max_iter=1000),
            "RandomForest": RandomForestClassifier(random_state=0),
            "HistGradientBoosting": HistGradientBoostingClassifier(random_state=0),
        }
    return {
        "LinearRegression": LinearRegression(),
        "RandomForest": RandomForestRegressor(random_state=0),
        "HistGradientBoosting": HistGradientBoostingRegressor(random_state=0),
    }


def _matrix(frame: pd.DataFrame, num: list[str], cat: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for c in num:
        out[c] = parse_numeric(frame[c])[0]
    for c in cat:
        out[c] = frame[c].astype(str).where(frame[c].notna(), "(missing)")
    return out


def run_defaults(table: Table, train: pd.DataFrame, test: pd.DataFrame, classes: list | None, pos: int | None) -> list[Result]:
    target = table.target_name
    num, cat = standard_columns(train, target)
    pre = ColumnTransformer(
        [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
         ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat)],
        sparse_threshold=0.0,  # HistGradientBoosting needs dense input
    )  # fmt: skip
    Xtr, Xte = _matrix(train, num, cat), _matrix(test, num, cat)
    ytr, yte = targets(table, train, classes), targets(table, test, classes)
    out = []
    for name, est in default_models(table.task).items():
        t0 = time.perf_counter()
        pipe = make_pipeline(pre, est).fit(Xtr, ytr)
        pred = pipe.predict_proba(Xte) if table.task == "classification" else pipe.predict(Xte)
        seconds = time.perf_counter() - t0
        s, b = score(table.task, yte, pred, pos)
        out.append(Result(table.name, name, s, b, seconds))
    return out


def targets(table: Table, frame: pd.DataFrame, classes: list | None) -> np.ndarray:
    y = frame[table.target_name]
    if table.task == "classification":
        return encode_labels(normalize_labels(y), classes)
    return parse_numeric(y)[0].to_numpy(dtype=float)


# ---------------------------------------------------------------------------
# auto
# ---------------------------------------------------------------------------


def run_auto(table: Table, train: pd.DataFrame, test: pd.DataFrame, cv_folds: int) -> tuple[Result, list | None, int | None]:
    cfg = {"task": table.task, "target": table.target_name, "algorithm": "auto", "cv_folds": cv_folds}
    if table.positive_class is not None:
        cfg["positive_class"] = table.positive_class
    t0 = time.perf_counter()
    model = train_model(cfg, train, test_frame=test)
    X = test[model.features]
    pred = model.predict_proba(X) if table.task == "classification" else model.pipeline.predict(X)
    seconds = time.perf_counter() - t0
    classes = model.classes
    pos = classes.index(model.positive_class) if model.positive_class is not None else None
    y = targets(table, test, classes)
    s, b = score(table.task, y, pred, pos)
    chosen = [r["candidate"] for r in (model.cv_results or []) if r.get("selected")]
    note = f"chose {chosen[0] if chosen else model.algorithm}"
    if model.calibration and model.calibration.get("method") not in (None, "none"):
        note += f", {model.calibration['method']}-calibrated"
    if model.positive_class is not None:
        note += f", {model.score_name}"
    return Result(table.name, "auto", s, b, seconds, note, model.cv_results or []), classes, pos


# ---------------------------------------------------------------------------
# Leave-one-table-out check of the one decision taken on these tables
# ---------------------------------------------------------------------------


def loto_variants(table: Table, train: pd.DataFrame, cv_folds: int) -> dict[str, float]:
    """5-fold CV scores on the training split of the two boosted-tree variants that were compared."""
    import lightgbm

    from aihub.ml.estimators import LIGHTGBM_AUTO

    target = table.target_name
    num, cat = standard_columns(train, target)
    pre = ColumnTransformer(
        [("num", SimpleImputer(strategy="median"), num),
         ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat)]
    )  # fmt: skip
    X = _matrix(train, num, cat)
    classes = sorted(set(normalize_labels(train[target]).tolist()), key=str) if table.task == "classification" else None
    y = targets(table, train, classes)
    slow = {"learning_rate": 0.05, "max_iter": 500, "max_leaf_nodes": 15, "l2_regularization": 1.0, "early_stopping": True, "random_state": 0}
    if table.task == "classification":
        variants = {"hgb_slow": HistGradientBoostingClassifier(**slow), "lightgbm": lightgbm.LGBMClassifier(**LIGHTGBM_AUTO, subsample_freq=1, random_state=0, n_jobs=1, verbose=-1)}
        scoring = "roc_auc" if len(classes) == 2 else "roc_auc_ovr"
    else:
        variants = {"hgb_slow": HistGradientBoostingRegressor(**slow), "lightgbm": lightgbm.LGBMRegressor(**LIGHTGBM_AUTO, subsample_freq=1, random_state=0, n_jobs=1, verbose=-1)}
        scoring = "r2"
    return {k: float(cross_val_score(make_pipeline(pre, v), X, y, cv=cv_folds, scoring=scoring).mean()) for k, v in variants.items()}


def print_loto(scores: dict[str, dict[str, float]]) -> None:
    print("\nLeave-one-table-out check: LightGBM (conservative) vs slow histogram boosting, mean CV score on the OTHER tables")
    print(f"{'left out':28s} {'lightgbm':>9s} {'hgb_slow':>9s}  decision without this table")
    for left in scores:
        others = [t for t in scores if t != left]
        lg = float(np.mean([scores[t]["lightgbm"] for t in others]))
        hs = float(np.mean([scores[t]["hgb_slow"] for t in others]))
        print(f"{left:28s} {lg:9.4f} {hs:9.4f}  {'LightGBM' if lg > hs else 'hgb_slow'}")


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    print(f"\n{'table':28s} {'model':22s} {'AUC/R2':>8s} {'Brier':>7s} {'seconds':>8s}  note")
    for r in results:
        brier = f"{r.brier:7.4f}" if r.brier is not None else "      -"
        print(f"{r.table:28s} {r.model:22s} {r.score:8.4f} {brier} {r.seconds:8.1f}  {r.note}")


def print_summary(results: list[Result]) -> None:
    print(f"\n{'table':28s} {'auto':>8s} {'best default':>13s} {'which':22s} {'auto - best':>11s}")
    gaps, autos, bests = [], [], []
    for name in dict.fromkeys(r.table for r in results):
        rows = [r for r in results if r.table == name]
        auto = next(r for r in rows if r.model == "auto")
        best = max((r for r in rows if r.model != "auto"), key=lambda r: r.score)
        gaps.append(auto.score - best.score)
        autos.append(auto.score)
        bests.append(best.score)
        print(f"{name:28s} {auto.score:8.4f} {best.score:13.4f} {best.model:22s} {auto.score - best.score:+11.4f}")
    print(f"{'mean':28s} {np.mean(autos):8.4f} {np.mean(bests):13.4f} {'':22s} {np.mean(gaps):+11.4f}")
    wins = sum(g >= -1e-4 for g in gaps)
    print(f"auto at least as good as the better default (within 1e-4) on {wins} of {len(gaps)} tables")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", help="comma-separated table names (default: all)")
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--loto", action="store_true", help="also run the leave-one-table-out check")
    ap.add_argument("--repeats", type=int, default=5, help="splits for tables under 2,000 rows (default 5)")
    args = ap.parse_args(argv)
    chosen = [t for t in TABLES if not args.tables or t.name.split(" ")[0] in args.tables.split(",") or t.name in args.tables.split(",")]
    results: list[Result] = []
    loto: dict[str, dict[str, float]] = {}
    warnings.simplefilter("ignore")
    with threadpool_limits(1):
        for table in chosen:
            frame = table.load()
            runs: dict[str, list[Result]] = {}
            for seed in range(args.repeats if len(frame) < 2000 else 1):
                train, test = split(table, frame, seed)
                auto, classes, pos = run_auto(table, train, test, args.cv_folds)
                for r in [auto, *run_defaults(table, train, test, classes, pos)]:
                    runs.setdefault(r.model, []).append(r)
                print(f"{table.name} split {seed}: auto {auto.score:.4f} ({auto.seconds:.1f} s, {auto.note}); defaults "
                      + ", ".join(f"{m} {v[-1].score:.4f}" for m, v in runs.items() if m != "auto"), flush=True)
                if args.loto and seed == 0:
                    loto[table.name] = loto_variants(table, train, args.cv_folds)
            results += [average(v) for v in runs.values()]
    print_table(results)
    print_summary(results)
    if loto:
        print_loto(loto)
    return 0


if __name__ == "__main__":
    sys.exit(main())
