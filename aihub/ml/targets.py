"""The target column: what kind it is, whether it can be learned, and which class is "positive".

Everything the product decides about a target happens here, once, for the
form, the service, the command line and training alike:

* :func:`normalize_labels` turns any target column into clean labels: 0/1,
  -1/1 and 0.0/1.0 numbers become integers, ``"0"``/``"1"`` text becomes the
  numbers it spells, booleans stay booleans, other text is stripped.
  Estimators never see these labels: training encodes them as class codes
  0..K-1 (:func:`encode_labels`), which every scikit-learn and LightGBM
  estimator accepts whatever the labels' type.
* :func:`target_kind_choices` tells whether a numeric target with few distinct
  values could mean classes or amounts, so the form can ask the user; the
  explicit ``task`` of the configuration settles it.
* :func:`default_positive_class` picks the class whose probability a binary
  model reports: a conventional positive label (:data:`POSITIVE_LABELS`), else
  the minority class.
* :func:`analyze_target` refuses a target the product cannot use (all missing,
  constant, an id, too few rows per class, too many classes, not numeric for
  regression) with a :class:`~aihub.errors.ValidationError` naming the column
  and the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from aihub.errors import ValidationError
from aihub.ml.preprocess import looks_like_id, parse_numeric, to_category_strings

#: Labels that name the event of interest, compared case-insensitively after
#: stripping spaces, underscores and hyphens. Reasoning, by family:
#:
#: * generic affirmatives and flags (``1``, ``true``, ``yes``, ``y``, ``t``,
#:   ``positive``): a 0/1 or yes/no target flags the event the table was built
#:   to study (``Churn = Yes``, ``target = 1``); ``1`` also covers -1/1 and
#:   0.0/1.0 targets, which are normalised to integers first;
#: * leaving (``churn``, ``churned``, ``left``, ``exited``, ``attrited``,
#:   ``cancelled``): retention data count the customers who go;
#: * credit and fraud risk (``bad``, ``default``, ``defaulted``,
#:   ``delinquent``, ``chargedoff``, ``fraud``, ``fraudulent``): credit data
#:   score the risk of the bad outcome (the German credit data's ``bad``,
#:   Lending Club's ``Charged Off``), so ``bad`` is positive although it is
#:   the unwanted outcome;
#: * conversion (``converted``, ``won``, ``purchased``, ``subscribed``,
#:   ``clicked``, ``responded``): marketing models score the response;
#: * detection (``spam``, ``malignant``, ``disease``, ``abnormal``,
#:   ``anomaly``, ``failure``, ``failed``, ``defective``): the rare finding.
#:
#: Words that are positive in one field and negative in another (``lost``: a
#: lost customer or a lost deal; ``approved``) are deliberately absent, so the
#: minority-class rule decides there.
POSITIVE_LABELS: frozenset[str] = frozenset(
    {
        "1", "true", "yes", "y", "t", "positive", "pos",
        "churn", "churned", "left", "exited", "attrited", "attritedcustomer", "cancelled", "canceled",
        "bad", "default", "defaulted", "delinquent", "chargedoff", "fraud", "fraudulent",
        "converted", "won", "purchased", "subscribed", "clicked", "responded",
        "spam", "malignant", "disease", "abnormal", "anomaly", "failure", "failed", "defective",
    }
)  # fmt: skip

#: Labels that name the ordinary outcome; when only the other class is unknown, it is the positive one.
NEGATIVE_LABELS: frozenset[str] = frozenset(
    {
        "0", "-1", "false", "no", "n", "f", "negative", "neg", "good", "stayed", "retained", "existingcustomer",
        "active", "normal", "benign", "legit", "legitimate", "ham", "paid", "fullypaid", "none", "ok",
    }
)  # fmt: skip

#: Fewest rows a class needs: one for the stratified test split and enough for
#: two-fold stratified cross-validation on the rest.
MIN_ROWS_PER_CLASS = 5
#: Most classes a classification target may have (more usually means an amount or an id).
MAX_CLASSES = 50
#: A numeric target with 3 up to this many distinct values may be classes or amounts.
FEW_VALUES = 20


def _norm(label: Any) -> str:
    if isinstance(label, (bool, np.bool_)):
        return str(bool(label)).lower()
    if isinstance(label, (int, float, np.integer, np.floating)):
        return str(label)
    return "".join(ch for ch in str(label).strip().lower() if ch not in " _-")


def sort_key(label: Any) -> tuple:
    """Order labels: numbers and booleans by value first, then text alphabetically."""
    return (0, label, "") if isinstance(label, (int, float, bool, np.integer, np.floating)) else (1, 0, str(label))


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------


def normalize_labels(values: pd.Series) -> np.ndarray:
    """Clean class labels of a target column.

    Parameters
    ----------
    values : pandas.Series of shape (n_rows,)
        Without blanks (drop them first).

    Returns
    -------
    ndarray of object, shape (n_rows,)
        Booleans stay ``bool``; whole numbers (also ``"1"``, ``1.0``,
        ``-1``) become ``int``; other numbers ``float``; other text is
        stripped ``str``.
    """
    if ptypes.is_bool_dtype(values.dtype):
        return np.asarray([bool(v) for v in values], dtype=object)
    if ptypes.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
        return _numbers(values.to_numpy(dtype=float))
    text = to_category_strings(values)
    nums, bad = parse_numeric(text)
    if len(text) and not bad.any() and nums.notna().all():
        return _numbers(nums.to_numpy(dtype=float))
    return text.to_numpy(dtype=object)


def _numbers(vals: np.ndarray) -> np.ndarray:
    if np.all(np.mod(vals, 1) == 0):
        return np.asarray([int(v) for v in vals], dtype=object)
    return np.asarray([float(v) for v in vals], dtype=object)


def encode_labels(labels: np.ndarray, classes: list) -> np.ndarray:
    """Class codes 0..K-1 (positions in ``classes``) of normalised labels.

    Raises
    ------
    ValidationError
        A label is not among ``classes`` (``field="target"``).
    """
    index = {_key(c): i for i, c in enumerate(classes)}
    try:
        return np.asarray([index[_key(v)] for v in labels], dtype=np.int64)
    except KeyError as exc:
        raise ValidationError(
            f"target value {exc.args[0][1]!r} was not seen in training; classes: {', '.join(map(str, classes))}", field="target"
        ) from None


def _key(label: Any) -> tuple:
    return (type(label).__name__ == "bool", label)


def match_class(classes: list, requested: Any) -> Any:
    """The class ``requested`` names, by value or by its text (``"1"`` matches ``1``, ``"YES"`` matches ``"Yes"``).

    Raises
    ------
    ValidationError
        ``requested`` is not a class (``field="positive_class"``, ``details["allowed"]``).
    """
    for c in classes:
        if c == requested and type(c) is type(requested):
            return c
    for c in classes:
        if str(c).strip().lower() == str(requested).strip().lower():
            return c
    raise ValidationError(
        f"positive_class must be one of the target's classes ({', '.join(map(str, classes))}); got {requested!r}",
        field="positive_class",
        details={"allowed": [str(c) for c in classes]},
    )


def default_positive_class(classes: list, counts: list[int] | None = None) -> tuple[Any, str]:
    """The class a binary model reports the probability of, and why.

    Rule: the one class spelled as a conventional positive label
    (:data:`POSITIVE_LABELS`); else, when exactly one class is a conventional
    negative label (:data:`NEGATIVE_LABELS`), the other one; else the minority
    class (the rarer outcome is the one worth scoring); on a tie, the last
    class in sorted order.

    Parameters
    ----------
    classes : list
        The two class labels.
    counts : list of int, optional
        Rows per class, same order.

    Returns
    -------
    label : Any
    reason : {"conventional", "minority", "last"}
    """
    if len(classes) != 2:
        return None, "multiclass"
    pos = [c for c in classes if _norm(c) in POSITIVE_LABELS]
    if len(pos) == 1:
        return pos[0], "conventional"
    neg = [c for c in classes if _norm(c) in NEGATIVE_LABELS]
    if len(neg) == 1 and not pos:
        return next(c for c in classes if c is not neg[0]), "conventional"
    if counts is not None and counts[0] != counts[1]:
        return classes[int(np.argmin(counts))], "minority"
    return max(classes, key=sort_key), "last"


def resolve_positive_class(classes: list, requested: Any = None, counts: list[int] | None = None) -> Any:
    """``requested`` matched to a class (see :func:`match_class`), else the default (binary) or None."""
    if requested is not None:
        return match_class(classes, requested)
    return default_positive_class(classes, counts)[0]


def score_name(target: str | None, positive_class: Any, label: str | None = None) -> str:
    """Readable name of a binary model's score: the user's ``label``, else ``"P(<positive class>)"``.

    Generic positive labels (1, yes, true) say nothing on their own, so the
    target's name is used instead: ``P(Churn)`` for ``Churn = Yes``,
    ``P(bad)`` for ``class = bad``.
    """
    if label:
        return label
    if positive_class is None:
        return f"Probability of the predicted {target}"
    if _norm(positive_class) in {"1", "true", "yes", "y", "t", "positive", "pos"} and target:
        return f"P({target})"
    return f"P({positive_class})"


# ---------------------------------------------------------------------------
# Kind of target
# ---------------------------------------------------------------------------


def target_kind_choices(values: pd.Series) -> dict[str, Any]:
    """Whether a target could be classes or amounts, for the form to ask.

    Parameters
    ----------
    values : pandas.Series
        The target column.

    Returns
    -------
    dict
        ``ask`` (bool: the user should choose), ``choices`` (tasks that
        apply, default first), ``default`` (task used when nobody answers),
        ``n_distinct`` and ``question`` (a sentence for the form, or None).
        Text and boolean targets and numbers with two values are classes;
        numbers with 3 to :data:`FEW_VALUES` distinct values may be either
        (default amounts: a rating of 4 is closer to 5 than to 1); other
        numbers are amounts.
    """
    clean = values[~_blank(values)]
    n = int(clean.nunique())
    name = str(values.name) if values.name is not None else "the target"
    if ptypes.is_bool_dtype(values.dtype) or not _is_numeric_target(clean):
        return {"ask": False, "choices": ["classification"], "default": "classification", "n_distinct": n, "question": None}
    if n <= 2:
        return {"ask": False, "choices": ["classification"], "default": "classification", "n_distinct": n, "question": None}
    if n <= FEW_VALUES:
        vals = sorted(set(normalize_labels(clean).tolist()), key=sort_key)
        question = (
            f"{name} holds {n} distinct numbers, from {vals[0]} to {vals[-1]}. Are they classes (categories to choose "
            "between) or amounts (a quantity to predict, where 4 is closer to 5 than to 1)?"
        )
        return {"ask": True, "choices": ["regression", "classification"], "default": "regression", "n_distinct": n, "question": question}
    return {"ask": False, "choices": ["regression"], "default": "regression", "n_distinct": n, "question": None}


def _is_numeric_target(clean: pd.Series) -> bool:
    if ptypes.is_numeric_dtype(clean.dtype) and not isinstance(clean.dtype, pd.CategoricalDtype):
        return True
    nums, bad = parse_numeric(clean)
    return len(clean) > 0 and not bad.any() and bool(nums.notna().all())


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().isin(["", "nan", "NaN", "None"])


# ---------------------------------------------------------------------------
# Usable or not
# ---------------------------------------------------------------------------


@dataclass
class TargetInfo:
    """What training needs to know about the target.

    Attributes
    ----------
    column : str
    task : {"classification", "regression"}
    classes : list or None
        Normalised labels in sorted order (class code = position).
    counts : list of int or None
        Rows per class.
    positive_class : Any
        Binary only.
    positive_reason : str or None
        ``"configured"``, ``"conventional"``, ``"minority"`` or ``"last"``.
    choices : dict
        :func:`target_kind_choices` of the column.
    n_missing : int
        Rows without a target value (left out of training).
    """

    column: str
    task: str
    classes: list | None = None
    counts: list[int] | None = None
    positive_class: Any = None
    positive_reason: str | None = None
    choices: dict[str, Any] = field(default_factory=dict)
    n_missing: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refuse(column: str, reason: str, **details: Any) -> ValidationError:
    return ValidationError(f"target column {column!r} cannot be used: {reason}", field="target", details={"column": column, **details})


def analyze_target(values: pd.Series, task: str, positive_class: Any = None) -> TargetInfo:
    """Check a target column and describe it.

    Parameters
    ----------
    values : pandas.Series of shape (n_rows,)
        The target column (blanks allowed: they are counted and left out).
    task : {"classification", "regression"}
    positive_class : optional
        Configured positive class (binary classification).

    Returns
    -------
    TargetInfo

    Raises
    ------
    ValidationError
        ``field="target"``, naming the column and the reason: every value
        missing; a single value; an id (a different text value on every row,
        or an id-like name with unique values); a class with fewer than
        :data:`MIN_ROWS_PER_CLASS` rows; more than :data:`MAX_CLASSES`
        classes; non-numeric values for regression; or ``positive_class``
        not among the classes (``field="positive_class"``).
    """
    column = str(values.name)
    blank = _blank(values)
    clean = values[~blank]
    if clean.empty:
        raise _refuse(column, "every value is missing")
    choices = target_kind_choices(values)
    if clean.astype(str).str.strip().nunique() < 2:
        what = "class" if task == "classification" else "value"
        raise _refuse(column, f"it holds a single {what} ({str(clean.iloc[0]).strip()!r}); a model needs at least two outcomes")
    if task == "regression":
        return _regression_target(column, clean, choices, int(blank.sum()))
    return _classification_target(column, clean, choices, int(blank.sum()), positive_class)


def _regression_target(column: str, clean: pd.Series, choices: dict, n_missing: int) -> TargetInfo:
    nums, bad = parse_numeric(clean)
    if bad.any() or nums.isna().any():
        rows = [int(i) + 1 for i in np.flatnonzero((bad | nums.isna()).to_numpy())[:5]]
        raise ValidationError(
            f"target {column!r} must be numeric for regression; rows {', '.join(map(str, rows))} are not numbers "
            "(choose classification for categories)",
            field="target",
            details={"rows": rows, "column": column},
        )
    is_id, share = looks_like_id(clean, column)
    if is_id and share == 1.0 and not _float_values(nums):
        raise _refuse(column, "it looks like an identifier (a different whole number on every row, id-like name)", unique_share=share)
    return TargetInfo(column=column, task="regression", choices=choices, n_missing=n_missing)


def _float_values(nums: pd.Series) -> bool:
    return bool(np.any(np.mod(nums.to_numpy(dtype=float), 1) != 0))


def _classification_target(column: str, clean: pd.Series, choices: dict, n_missing: int, positive_class: Any) -> TargetInfo:
    labels = normalize_labels(clean)
    keys = pd.Series([(type(v).__name__, v) for v in labels])
    counts_by = keys.value_counts()
    n_rows = len(labels)
    if len(counts_by) == n_rows and n_rows >= 20 and not _is_numeric_target(clean):
        raise _refuse(column, "every row has its own value, so it looks like an identifier, not an outcome", unique_share=1.0)
    classes = sorted({v for v in labels.tolist()}, key=sort_key)
    if len(classes) > MAX_CLASSES:
        hint = "; for amounts choose regression" if _is_numeric_target(clean) else ""
        raise _refuse(column, f"it has {len(classes)} distinct values, more than the {MAX_CLASSES} classes a model can learn{hint}")
    counts = [int(counts_by[(type(c).__name__, c)]) for c in classes]
    rare = [f"{c!s} ({k} rows)" for c, k in zip(classes, counts) if k < MIN_ROWS_PER_CLASS]
    if rare:
        raise _refuse(
            column,
            f"classes with fewer than {MIN_ROWS_PER_CLASS} rows cannot be learned or tested: {', '.join(rare)}; "
            "add rows, merge those classes or leave their rows out",
            rare=[str(c) for c, k in zip(classes, counts) if k < MIN_ROWS_PER_CLASS],
        )
    pos, reason = None, None
    if positive_class is not None:
        pos, reason = match_class(classes, positive_class), "configured"
        if len(classes) != 2:
            raise ValidationError(
                f"positive_class applies to two-class targets; {column!r} has {len(classes)} classes", field="positive_class"
            )
    elif len(classes) == 2:
        pos, reason = default_positive_class(classes, counts)
    return TargetInfo(
        column=column, task="classification", classes=classes, counts=counts, positive_class=pos,
        positive_reason=reason, choices=choices, n_missing=n_missing,
    )  # fmt: skip
