"""Training configuration: the one place where user choices are validated (pydantic v2).

A :class:`TrainingConfig` is built from a guided form or from JSON such as::

    {"model_name": "churn_2024", "model_type": "churn_prediction",
     "target": "Churn", "algorithm": "random_forest",
     "hyperparameters": {"n_estimators": 100, "max_depth": 10, "min_samples_split": 2},
     "feature_engineering": {"normalize": true, "handle_missing": "mean"},
     "validation_split": 0.2, "test_split": 0.1}

:meth:`TrainingConfig.from_dict` validates it with pydantic (the models derive
from :class:`aihub.userconfig.UserConfig`: unknown keys refused, strings
stripped) and raises one :class:`aihub.errors.ValidationError` whose ``field``
is the dotted key at fault (``"hyperparameters.max_depth"``) and whose message
names the allowed values and the bad one, e.g.
``"hyperparameters.max_depth must be an integer from 1 to 100 or null; got 0"``;
``details["errors"]`` lists every problem pydantic found
(:func:`aihub.userconfig.error_from_pydantic`).

Every limit is declared once, on the fields below, and read by the form, the
service and the command line. Hyperparameter ranges live in
:mod:`aihub.ml.hyperparams`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from aihub.errors import ValidationError
from aihub.ml.hyperparams import (  # noqa: F401  (re-exported: the service imports them from here)
    ALGORITHMS,
    TASKS,
    HyperparameterSpec,
    _fmt,
    _json_repr,
    all_hyperparameter_specs,
    hyperparameter_specs,
)
from aihub.userconfig import UserConfig, error_from_pydantic

#: Business model type -> machine-learning task.
MODEL_TYPES: dict[str, str] = {
    "churn_prediction": "classification",
    "lead_scoring": "classification",
    "fraud_detection": "classification",
    "customer_lifetime_value": "regression",
    "demand": "regression",
    "price": "regression",
    "customer_segmentation": "clustering",
}

#: Metric that ``auto`` maximises (or minimises for RMSE) per task.
SELECTION_METRIC: dict[str, str] = {"classification": "roc_auc", "regression": "rmse", "clustering": "silhouette"}

HANDLE_MISSING: tuple[str, ...] = ("mean", "median", "most_frequent", "drop")

DATA_PREP_KINDS: tuple[str, ...] = ("rfm", "clv")

#: Metrics a binary model's decision threshold can be chosen for (on out-of-sample predictions).
DECISION_METRICS: tuple[str, ...] = ("f1", "balanced_accuracy", "accuracy")

#: Column treatments a user may force in ``feature_engineering.column_kinds``.
COLUMN_KINDS: tuple[str, ...] = ("numeric", "categorical", "date", "text", "exclude")

#: Keys of :data:`aihub.ml.templates.TEMPLATES` (here so the CLI can list them cheaply).
TEMPLATE_NAMES: tuple[str, ...] = ("churn", "lead_scoring", "rfm_segmentation", "customer_lifetime_value")


# ---------------------------------------------------------------------------
# Field types with the product's wording
# ---------------------------------------------------------------------------


def _bad(requirement: str) -> PydanticCustomError:
    return PydanticCustomError("aihub_config", "{requirement}", {"requirement": requirement})


def _number(low: float, high: float):
    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and low <= value <= high
        if not ok:
            raise _bad(f"must be a number from {_fmt(low)} to {_fmt(high)}")
        return float(value)

    return Annotated[float, BeforeValidator(check)]


def _integer(low: int, high: int):
    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
            raise _bad(f"must be an integer from {low} to {high}")
        return int(value)

    return Annotated[int, BeforeValidator(check)]


def _choice(values: tuple, *, nullable: bool = False, suffix: str = ""):
    def check(value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or value not in values:
            raise _bad("must be one of " + ", ".join(values) + (" or null" if nullable else "") + suffix)
        return value

    return Annotated[Any, BeforeValidator(check)]


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad("must be true or false")
    return value


def _column_list(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise _bad("must be a list of column names")
    dupes = sorted({v for v in value if list(value).count(v) > 1})
    if dupes:
        raise _bad("must not repeat a column (" + ", ".join(dupes) + ")")
    return list(value)


def _optional_text(max_len: int):
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not (1 <= len(value.strip()) <= max_len) or re.search(r"[\x00-\x1f\x7f]", value):
            raise _bad(f"must be 1 to {max_len} printable characters or null")
        return value.strip()

    return Annotated[Any, BeforeValidator(check)]


Flag = Annotated[bool, BeforeValidator(_flag)]
Columns = Annotated[list[str], BeforeValidator(_column_list)]


def _fail(field_name: str, requirement: str, got: Any, details: dict[str, Any] | None = None) -> None:
    """Raise the product's :class:`ValidationError` for a cross-field rule."""
    raise ValidationError(f"{field_name} {requirement}; got {_shown(got)}", field=field_name, details=dict(details or {}))


def _shown(got: Any) -> str:
    text = _json_repr(got) if not isinstance(got, (list, dict)) else repr(got)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


class FeatureEngineering(UserConfig):
    """Preprocessing options.

    Parameters
    ----------
    normalize : bool, default True
        Standardise numeric columns (zero mean, unit variance).
    handle_missing : {"mean", "median", "most_frequent", "drop"}, default "median"
        Fill blanks in numeric columns with the training mean/median/mode, or
        drop training rows with any blank (prediction rows with blanks are then
        reported as errors). Category columns get their own ``"(missing)"``
        category unless ``"most_frequent"`` is chosen.
    max_categories : int, default 30
        2 to 1000. Category columns with more distinct values are
        target-encoded for classification and regression (smoothed average
        outcome per category, cross-fitted; scikit-learn ``TargetEncoder``)
        instead of one-hot encoded; for clustering the rarest categories
        beyond this many are pooled into one "infrequent" column.
    log_transform : list of str, default []
        Numeric columns to transform with ``sign(x) * log1p(|x|)`` before
        scaling (for skewed money amounts and counts).
    exclude_id_columns : bool, default True
        When ``features`` is not given, leave out columns that look like
        identifiers (see :func:`aihub.ml.preprocess.leakage_warnings`).
    exclude_leaky_columns : bool, default True
        When ``features`` is not given, leave out columns that are near-copies
        of the target. Columns named in ``features`` are never dropped, only
        warned about.
    text_max_terms : int, default 500
        10 to 5000: vocabulary cap of each free-text column's TF-IDF features
        (the most frequent words and word pairs seen in at least 2 rows).
    column_kinds : dict, default {}
        ``{column: kind}`` forcing how a column is used, ``kind`` one of
        ``numeric, categorical, date, text, exclude``; other columns are
        detected (:func:`aihub.ml.features.detect_column_kind`).
    """

    normalize: Flag = True
    handle_missing: _choice(HANDLE_MISSING) = "median"
    max_categories: _integer(2, 1000) = 30
    log_transform: Columns = Field(default_factory=list)
    exclude_id_columns: Flag = True
    exclude_leaky_columns: Flag = True
    text_max_terms: _integer(10, 5000) = 500
    column_kinds: dict[str, _choice(COLUMN_KINDS)] = Field(default_factory=dict)


class _ScoreBands(UserConfig):
    hot: _number(0.0, 100.0) = 70.0
    warm: _number(0.0, 100.0) = 40.0

    @model_validator(mode="after")
    def _ordered(self) -> _ScoreBands:
        if not self.warm < self.hot:
            _fail("score_bands.warm", f"must be below score_bands.hot ({self.hot:g})", self.warm)
        return self


class _OrdersPrep(UserConfig):
    customer_column: Annotated[str, Field(min_length=1)]
    date_column: Annotated[str, Field(min_length=1)]
    amount_column: Annotated[str, Field(min_length=1)]
    order_column: Annotated[str, Field(min_length=1)] | None = None
    dayfirst: Flag | None = None


class _RfmPrep(_OrdersPrep):
    kind: Literal["rfm"]
    as_of: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


class _ClvPrep(_OrdersPrep):
    kind: Literal["clv"]
    horizon_days: _integer(7, 3650) = 365


_PREP_MODELS = {"rfm": _RfmPrep, "clv": _ClvPrep}


def _positive_label(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if not isinstance(value, (str, int, bool)) or (isinstance(value, str) and not value.strip()):
        raise _bad("must be a class label (text, integer or true/false) or null")
    return value.strip() if isinstance(value, str) else value


# ---------------------------------------------------------------------------
# The configuration
# ---------------------------------------------------------------------------


class TrainingConfig(UserConfig):
    """Everything needed to train one model version. Build it with :meth:`from_dict`.

    Parameters
    ----------
    model_name : str
        1 to 100 printable characters.
    task : {"classification", "regression", "clustering"}
        Derived from ``model_type`` when that is given. For a numeric target
        with few distinct values, this is the user's answer to "classes or
        amounts?" (see :func:`aihub.ml.targets.target_kind_choices`).
    model_type : str, optional
        Business type, one of ``MODEL_TYPES`` (``churn_prediction`` ...).
    algorithm : str, default "auto"
        One of ``ALGORITHMS[task]``.
    target : str, optional
        Column to predict; required for classification and regression, not
        allowed for clustering.
    features : list of str, optional
        Input columns. ``None`` means every column except the target,
        ``excluded_columns`` and columns auto-excluded as ids or leaks.
    excluded_columns : list of str
        Columns never used as inputs.
    hyperparameters : dict
        Keys of :func:`hyperparameter_specs`; missing keys get defaults.
    feature_engineering : FeatureEngineering
    validation_split : float, default 0.1
        Fraction (0 to 0.5) held out from fitting, used for validation
        metrics, the decision threshold, probability calibration and
        regression prediction intervals; the final model is then refit on
        training + validation rows.
    test_split : float, default 0.2
        Fraction (0.05 to 0.5) held out for the reported test metrics.
        ``validation_split + test_split`` must be at most 0.7.
    cv_folds : int, default 5
        Folds (2 to 10) for ``auto``'s cross-validation.
    random_seed : int, default 0
        0 to 2**32 - 1; fixes splits and estimators.
    positive_class : str, int, bool or None
        Binary classification: the outcome whose probability is reported
        (``"bad"``, ``1``, ``true``). Default: a conventional positive label,
        else the minority class (:func:`aihub.ml.targets.default_positive_class`).
    score_label : str, optional
        The user's own name for the score (1 to 60 characters, e.g. "Default
        risk"); default ``"P(<positive class>)"``.
    decision_metric : {"f1", "balanced_accuracy", "accuracy"}, default "f1"
        Binary classification: the threshold that turns the probability into
        the predicted class is chosen to maximise this metric on the
        validation predictions (recorded with the model).
    decision_threshold : float, optional
        0.01 to 0.99: a fixed threshold instead of the chosen one.
    score_bands : dict, default {"hot": 70, "warm": 40}
        Lead score (0 to 100) thresholds: ``score >= hot`` is hot,
        ``>= warm`` warm, else cold.
    interval_level : float, default 0.9
        Nominal coverage (0.5 to 0.99) of regression prediction intervals.
    data_prep : dict, optional
        ``{"kind": "rfm" | "clv", "customer_column", "date_column",
        "amount_column", "order_column" (optional), "dayfirst" (optional bool),
        "as_of" (rfm, optional ISO date), "horizon_days" (clv, default 365)}``:
        turn an orders table into one row per customer before training (see
        :mod:`aihub.ml.rfm`).
    n_jobs : int, default 1
        CPU threads (1 to 64) for fitting, predicting and explaining.
    explain_background_size : int, default 100
        Rows (10 to 1000) kept in the model as the SHAP background sample.
    """

    model_name: Annotated[str, BeforeValidator(lambda v: _model_name(v))] = "model"
    task: _choice(TASKS, nullable=True) = None
    model_type: _choice(tuple(MODEL_TYPES), nullable=True) = None
    algorithm: str = "auto"
    target: Any = None
    features: Columns | None = None
    excluded_columns: Columns = Field(default_factory=list)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    feature_engineering: FeatureEngineering = Field(default_factory=FeatureEngineering)
    validation_split: _number(0.0, 0.5) = 0.1
    test_split: _number(0.05, 0.5) = 0.2
    cv_folds: _integer(2, 10) = 5
    random_seed: _integer(0, 2**32 - 1) = 0
    positive_class: Annotated[Any, BeforeValidator(_positive_label)] = None
    score_label: _optional_text(60) = None
    decision_metric: _choice(DECISION_METRICS) = "f1"
    decision_threshold: _number(0.01, 0.99) | None = None
    score_bands: dict[str, float] = Field(default_factory=lambda: {"hot": 70.0, "warm": 40.0})
    interval_level: _number(0.5, 0.99) = 0.9
    data_prep: dict[str, Any] | None = None
    n_jobs: _integer(1, 64) = 1
    explain_background_size: _integer(10, 1000) = 100

    # -- field rules ----------------------------------------------------------

    @field_validator("score_bands", mode="before")
    @classmethod
    def _bands(cls, value: Any) -> dict[str, float]:
        if not isinstance(value, dict) or set(value) != {"hot", "warm"}:
            raise _bad('must be {"hot": number, "warm": number}')
        return _ScoreBands.model_validate(value).model_dump()

    @field_validator("data_prep", mode="before")
    @classmethod
    def _prep(cls, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _bad("must be a JSON object or null")
        kind = value.get("kind")
        if kind not in _PREP_MODELS:
            _fail("data_prep.kind", "must be one of " + ", ".join(DATA_PREP_KINDS), kind)
        allowed = list(_PREP_MODELS[kind].model_fields)
        for key in value:
            if key not in allowed:
                _fail(f"data_prep.{key}", f"is not an option of {kind}; allowed: " + ", ".join(allowed), value[key])
        try:
            return _PREP_MODELS[kind].model_validate(value).model_dump()
        except pydantic.ValidationError as exc:
            raise _from_pydantic(exc, prefix="data_prep.") from None

    # -- cross-field rules ----------------------------------------------------

    @model_validator(mode="after")
    def _consistent(self) -> TrainingConfig:
        self.task = _resolve_task(self.task, self.model_type)
        if self.algorithm not in ALGORITHMS[self.task]:
            _fail("algorithm", f"must be one of {', '.join(ALGORITHMS[self.task])} for {self.task}", self.algorithm)
        self._check_target()
        self._check_columns()
        self.hyperparameters = _validate_hyperparameters(self.task, self.algorithm, self.hyperparameters)
        if self.validation_split + self.test_split > 0.7 + 1e-12:
            _fail(
                "validation_split",
                f"plus test_split ({self.test_split:g}) must be at most 0.7 so enough rows remain for training",
                self.validation_split,
            )
        if self.positive_class is not None and self.task != "classification":
            _fail("positive_class", "is only used for classification; leave it null", self.positive_class)
        return self

    def _check_target(self) -> None:
        prep = self.data_prep
        if prep is not None:
            need = "clustering" if prep["kind"] == "rfm" else "regression"
            if self.task != need:
                _fail("data_prep.kind", f"{prep['kind']!r} needs task {need}", prep["kind"])
        if self.task == "clustering":
            if self.target is not None:
                _fail("target", "must be null for clustering (segmentation has no target column)", self.target)
            return
        if prep is not None and prep["kind"] == "clv":
            if self.target not in (None, "future_value"):
                _fail("target", 'must be "future_value" (or null) with data_prep kind "clv"', self.target)
            self.target = "future_value"
        if not isinstance(self.target, str) or not self.target.strip():
            _fail("target", f"must name the column to predict (required for {self.task})", self.target)
        self.target = self.target.strip()

    def _check_columns(self) -> None:
        if self.features is not None:
            if not self.features:
                _fail("features", "must list at least one column, or be null for all columns", self.features)
            if self.target is not None and self.target in self.features:
                _fail("features", f"must not include the target column {self.target!r}", self.features)
            if self.data_prep is None:
                for col in self.feature_engineering.log_transform:
                    if col not in self.features:
                        _fail("feature_engineering.log_transform", f"lists {col!r}, which is not among features", self.feature_engineering.log_transform)

    # -- construction -------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> TrainingConfig:
        """Validate ``data`` and return a config with defaults filled in.

        Parameters
        ----------
        data : dict or TrainingConfig
            JSON-like mapping; unknown keys are rejected.

        Returns
        -------
        TrainingConfig

        Raises
        ------
        ValidationError
            For the first invalid field; ``error.field`` is its dotted name,
            the message states the allowed values or range and the bad value,
            and ``details["errors"]`` lists every problem found.
        """
        if isinstance(data, TrainingConfig):
            data = data.to_dict()
        if not isinstance(data, dict):
            _fail("config", "must be a JSON object", data)
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            raise _from_pydantic(exc) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict that :meth:`from_dict` accepts back unchanged."""
        return self.model_dump(mode="python")

    def validated(self) -> TrainingConfig:
        """Return a validated copy (use after editing fields by hand)."""
        return TrainingConfig.from_dict(self.to_dict())

    def replace(self, **changes: Any) -> TrainingConfig:
        """Return a validated copy with ``changes`` applied (dict-level keys)."""
        d = self.to_dict()
        d.update(changes)
        if "algorithm" in changes and "hyperparameters" not in changes:
            d["hyperparameters"] = {}
        return TrainingConfig.from_dict(d)


def _model_name(value: Any) -> str:
    if not isinstance(value, str) or not (1 <= len(value.strip()) <= 100) or re.search(r"[\x00-\x1f\x7f]", value):
        raise _bad("must be 1 to 100 printable characters")
    return value.strip()


def _resolve_task(task: str | None, model_type: str | None) -> str:
    if model_type is not None:
        implied = MODEL_TYPES[model_type]
        if task is not None and task != implied:
            _fail("task", f"must be {implied} for model_type {model_type} (or left out)", task)
        return implied
    if task is None:
        _fail("task", "must be one of " + ", ".join(TASKS) + " (or give model_type)", task)
    return task


def _validate_hyperparameters(task: str, algorithm: str, given: Any) -> dict[str, Any]:
    if not isinstance(given, dict):
        _fail("hyperparameters", "must be a JSON object", given)
    specs = {s.name: s for s in hyperparameter_specs(task, algorithm)}
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in specs:
            allowed = ", ".join(specs) if specs else "none"
            _fail(f"hyperparameters.{key}", f"is not a hyperparameter of {algorithm} ({task}); allowed: {allowed}", value)
        out[key] = specs[key].validate(value, f"hyperparameters.{key}")
    for name, spec in specs.items():
        out.setdefault(name, spec.default)
    return out


_SECTIONS = {"": TrainingConfig, "feature_engineering.": FeatureEngineering, "score_bands.": _ScoreBands}


def _from_pydantic(exc: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    """pydantic's errors -> the product's message for the first one, all of them in ``details``."""
    summary = error_from_pydantic(exc, "Training configuration")
    err = exc.errors(include_url=False)[0]
    path = prefix + ".".join(str(p) for p in err.get("loc", ())) or "config"
    got = err.get("input")
    if err.get("type") == "extra_forbidden":
        section = path.rpartition(".")[0] + "." if "." in path else ""
        model = _SECTIONS.get(section)
        what = "a configuration field" if section == "" else f"a {section.rstrip('.')} option"
        allowed = ", ".join(model.model_fields) if model is not None else "see the documentation"
        requirement = f"is not {what}; allowed: {allowed}"
    elif err.get("type") == "aihub_config":
        requirement = err["ctx"]["requirement"]
    else:
        requirement = err.get("msg", "is not valid")
    errors = [dict(e, field=prefix + e["field"]) for e in summary.details["errors"]]
    return ValidationError(f"{path} {requirement}; got {_shown(got)}", field=path, details={"errors": errors})
