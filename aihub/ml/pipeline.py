"""The preprocessing pipeline every model shares, and the map from its output columns back to inputs.

Plain scikit-learn (``ColumnTransformer`` with ``SimpleImputer``,
``StandardScaler``, ``OneHotEncoder(handle_unknown=...)``, ``TargetEncoder``,
``TfidfVectorizer``) preceded by :class:`aihub.ml.preprocess.FrameCoercer`,
which selects the feature columns and parses numbers, dates and text. See the
scikit-learn user guide, "Column Transformer with Mixed Types".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from aihub.ml.features import DateFeatures, TextTerms
from aihub.ml.preprocess import MISSING_CATEGORY, FrameCoercer
from aihub.ml.schema import ColumnPlan
from aihub.ml.text import LEXICON_FEATURES, LexiconFeatures


def coercer(plan: ColumnPlan) -> FrameCoercer:
    """The first pipeline step for ``plan`` (unfitted)."""
    return FrameCoercer(plan.numeric, plan.categorical, plan.log, plan.dates, plan.texts, dict(plan.date_formats))


def _target_encoder(task: str, seed: int, n_classes: int | None):
    """``TargetEncoder`` with seeded, shuffled cross-fitting folds (reproducible models).

    The target type is set from the task (class codes 0..K-1 or amounts), not
    guessed from the values: an integer amount such as a count would
    otherwise be read as hundreds of classes.
    """
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.preprocessing import TargetEncoder

    if task == "classification":
        kind = "binary" if (n_classes or 2) <= 2 else "multiclass"
        return TargetEncoder(target_type=kind, cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed))
    return TargetEncoder(target_type="continuous", cv=KFold(n_splits=5, shuffle=True, random_state=seed))


def _numeric_steps(fe: Any, indicator: bool = False) -> list:
    """Impute (with a 0/1 "was blank" column per column that had blanks in training, when ``indicator``) and scale.

    The missing-indicator columns let every model use the fact that a value
    was blank, which imputation alone hides (the "impute + indicator"
    approach; Perez-Lebel et al. 2022, "Benchmarking missing-values approaches
    for predictive models on health databases", GigaScience).
    """
    strategy = fe.handle_missing if fe.handle_missing in ("mean", "median", "most_frequent") else "median"
    steps: list = [("impute", SimpleImputer(strategy=strategy, add_indicator=indicator))]
    if fe.normalize:
        steps.append(("scale", StandardScaler()))
    return steps


def _category_imputer(fe: Any) -> SimpleImputer:
    if fe.handle_missing == "most_frequent":
        return SimpleImputer(strategy="most_frequent")
    return SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)


def build_preprocessor(plan: ColumnPlan, fe: Any, *, seed: int = 0, task: str = "classification", n_classes: int | None = None) -> ColumnTransformer:
    """Impute, scale, encode categories, expand dates and vectorise text.

    Parameters
    ----------
    plan : ColumnPlan
        Column names after :class:`~aihub.ml.preprocess.FrameCoercer`.
    fe : FeatureEngineering
        ``handle_missing`` picks the numeric imputer (``drop`` falls back to
        the median, as a guard only: rows with blanks are rejected before);
        ``normalize`` adds a ``StandardScaler``; ``max_categories`` caps
        one-hot columns per feature; ``text_max_terms`` caps each text
        column's vocabulary.
    seed : int
        Shuffling seed of the target encoder's cross-fitting.
    task : {"classification", "regression", "clustering"}
    n_classes : int, optional
        Classification: number of classes (binary or multiclass target encoding).

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Dense float output, blocks in this order: numeric columns (then a
        "was blank" indicator per numeric column with blanks in training,
        except for clustering); one-hot
        blocks (``cat``); target-encoded columns (``te``: one per feature,
        one per class and feature for multiclass targets,
        Micci-Barreca 2001); date features (``date``, see
        :class:`~aihub.ml.features.DateFeatures`); per text column its TF-IDF
        terms (``text<i>``) and VADER scores (``lex<i>``).
    """
    te_cols = [c for c in plan.categorical if c in set(plan.target_encoded)]
    oh_cols = [c for c in plan.categorical if c not in set(te_cols)]
    transformers = []
    if plan.numeric:
        transformers.append(("num", Pipeline(_numeric_steps(fe, indicator=task != "clustering")), list(plan.numeric)))
    if oh_cols:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=fe.max_categories, sparse_output=False, dtype=np.float64)
        transformers.append(("cat", Pipeline([("impute", _category_imputer(fe)), ("onehot", onehot)]), oh_cols))
    if te_cols:
        te_steps: list = [("impute", _category_imputer(fe)), ("target", _target_encoder(task, seed, n_classes))]
        if fe.normalize:
            te_steps.append(("scale", StandardScaler()))
        transformers.append(("te", Pipeline(te_steps), te_cols))
    if plan.dates:
        steps = [("calendar", DateFeatures(list(plan.dates)))] + _numeric_steps(fe)
        transformers.append(("date", Pipeline(steps), list(plan.dates)))
    for i, col in enumerate(plan.texts):
        transformers.append((f"text{i}", TextTerms(max_terms=getattr(fe, "text_max_terms", 500)), col))
        lex: list = [("lexicon", LexiconFeatures())] + ([("scale", StandardScaler())] if fe.normalize else [])
        transformers.append((f"lex{i}", Pipeline(lex), col))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def _onehot_names(enc: OneHotEncoder, cols: list[str]) -> tuple[list[str], list[str]]:
    origins, names = [], []
    infrequent = getattr(enc, "infrequent_categories_", None) or [None] * len(cols)
    for i, col in enumerate(cols):
        infreq_set = set(infrequent[i]) if infrequent[i] is not None else set()
        for cat in enc.categories_[i]:
            if cat in infreq_set:
                continue
            origins.append(col)
            names.append(f"{col} = {cat}")
        if infreq_set:
            origins.append(col)
            names.append(f"{col} = (other)")
    return origins, names


def transformed_feature_origins(preprocessor: ColumnTransformer, numeric: list[str], categorical: list[str] = (), classes: list | None = None) -> tuple[list[str], list[str]]:
    """Map every output column of a fitted preprocessor to its input feature.

    Parameters
    ----------
    preprocessor : fitted ColumnTransformer from :func:`build_preprocessor`
    numeric, categorical : list of str
        Kept for callers of the two-kind pipeline; the blocks are read from
        the fitted preprocessor itself.
    classes : list, optional
        Class labels (multiclass target encoding names one column per class).

    Returns
    -------
    origins : list of str, length n_transformed
        Original feature of each transformed column (one-hot, date and text
        columns of the same feature repeat its name); SHAP values are summed
        over them.
    names : list of str, length n_transformed
        Readable names: ``"Contract = Month-to-month"``, ``"Contract = (other)"``,
        ``"State (target-encoded)"``, ``"Signup month"``,
        ``"review: 'great'"``, ``"review sentiment compound"``.
    """
    origins: list[str] = []
    names: list[str] = []
    named = preprocessor.named_transformers_
    for name, _, cols in preprocessor.transformers_:
        if name == "remainder":
            continue
        trans = named[name]
        if name == "num":
            origins += list(cols)
            names += list(cols)
            indicator = getattr(trans.named_steps["impute"], "indicator_", None)
            if indicator is not None:
                blank = [cols[int(i)] for i in indicator.features_]
                origins += blank
                names += [f"{c} is blank" for c in blank]
        elif name == "cat":
            o, n = _onehot_names(trans.named_steps["onehot"], list(cols))
            origins += o
            names += n
        elif name == "te":
            te = trans.named_steps["target"]
            per = len(te.classes_) if getattr(te, "target_type_", "") == "multiclass" else 1
            for col in cols:
                for k in range(per):
                    label = "" if per == 1 else ", " + str(classes[int(te.classes_[k])] if classes else te.classes_[k])
                    origins.append(col)
                    names.append(f"{col} (target-encoded{label})")
        elif name == "date":
            calendar = trans.named_steps["calendar"]
            out = list(calendar.get_feature_names_out())
            for col in cols:
                k = 6 if calendar.with_hour_[col] else 5
                origins += [col] * k
                names += out[:k]
                out = out[k:]
        elif name.startswith("text"):
            terms = list(trans.get_feature_names_out())
            origins += [cols] * len(terms)
            names += [f"{cols}: {t!r}" for t in terms]
        elif name.startswith("lex"):
            origins += [cols] * len(LEXICON_FEATURES)
            names += [f"{cols} {f}" for f in LEXICON_FEATURES]
    return origins, names
