"""Training configuration: the one place where user choices are validated.

A :class:`TrainingConfig` is built from a guided form or from JSON such as::

    {"model_name": "churn_2024", "model_type": "churn_prediction",
     "target": "Churn", "algorithm": "random_forest",
     "hyperparameters": {"n_estimators": 100, "max_depth": 10, "min_samples_split": 2},
     "feature_engineering": {"normalize": true, "handle_missing": "mean"},
     "validation_split": 0.2, "test_split": 0.1}

:meth:`TrainingConfig.from_dict` checks every field and raises
:class:`aihub.errors.ValidationError` whose ``field`` is the dotted key at fault
(``"hyperparameters.max_depth"``) and whose message names the allowed values,
e.g. ``"hyperparameters.max_depth must be an integer from 1 to 100 or null; got 0"``.

The allowed hyperparameters of each algorithm are exposed as
:class:`HyperparameterSpec` objects (:func:`hyperparameter_specs`) so the UI can
draw one widget per parameter without duplicating ranges.

Following scikit-learn's conventions, constructors only store values; the
checking happens in :meth:`TrainingConfig.from_dict` (and therefore in
:meth:`TrainingConfig.validated`, which round-trips through it).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from aihub.errors import ValidationError

# ---------------------------------------------------------------------------
# Tasks, business model types and algorithms
# ---------------------------------------------------------------------------

TASKS: tuple[str, ...] = ("classification", "regression", "clustering")

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

#: Algorithms per task; ``auto`` cross-validates the others and keeps the best.
ALGORITHMS: dict[str, tuple[str, ...]] = {
    "classification": ("auto", "logistic_regression", "random_forest", "gradient_boosting"),
    "regression": ("auto", "linear_regression", "ridge", "random_forest", "gradient_boosting"),
    "clustering": ("auto", "kmeans"),
}

#: Metric that ``auto`` maximises (or minimises for RMSE) per task.
SELECTION_METRIC: dict[str, str] = {"classification": "roc_auc", "regression": "rmse", "clustering": "silhouette"}

HANDLE_MISSING: tuple[str, ...] = ("mean", "median", "most_frequent", "drop")

DATA_PREP_KINDS: tuple[str, ...] = ("rfm", "clv")

#: Keys of :data:`aihub.ml.templates.TEMPLATES` (here so the CLI can list them cheaply).
TEMPLATE_NAMES: tuple[str, ...] = ("churn", "lead_scoring", "rfm_segmentation", "customer_lifetime_value")


# ---------------------------------------------------------------------------
# Hyperparameter specifications
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HyperparameterSpec:
    """Allowed values of one hyperparameter, for validation and for UI widgets.

    Parameters
    ----------
    name : str
        Key in ``TrainingConfig.hyperparameters``.
    type : {"int", "float", "choice"}
        Widget kind: integer or float slider/number input, or a select box.
    default : Any
        Value used when the key is absent.
    low, high : float, optional
        Inclusive bounds for ``int`` and ``float``.
    nullable : bool, default False
        Whether ``None`` (JSON ``null``) is allowed; it means "no limit" for
        depth-like parameters.
    choices : tuple, optional
        Allowed values for ``choice``.
    log_scale : bool, default False
        Hint that a log-scaled slider suits the range (``C``, ``learning_rate``).
    label, help : str
        Short widget label and one-sentence explanation for analysts.
    """

    name: str
    type: str
    default: Any
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    choices: tuple | None = None
    log_scale: bool = False
    label: str = ""
    help: str = ""

    def describe(self) -> str:
        """Return the allowed set as a phrase, e.g. ``"an integer from 1 to 100 or null"``."""
        if self.type == "int":
            text = f"an integer from {_fmt(self.low)} to {_fmt(self.high)}"
        elif self.type == "float":
            text = f"a number from {_fmt(self.low)} to {_fmt(self.high)}"
        else:
            text = "one of " + ", ".join(_json_repr(c) for c in (self.choices or ()))
        if self.nullable and self.type != "choice":
            text += " or null"
        return text

    def validate(self, value: Any, field_name: str) -> Any:
        """Return ``value`` normalised to the spec's type.

        Raises
        ------
        ValidationError
            If the value is outside the allowed set; ``field`` is ``field_name``.
        """
        if value is None:
            if self.nullable or (self.choices is not None and None in self.choices):
                return None
            _fail(field_name, f"must be {self.describe()}", value, self._details())
        if self.type == "choice":
            for choice in self.choices or ():
                if value == choice and type(value) is type(choice):
                    return choice
            _fail(field_name, f"must be {self.describe()}", value, self._details())
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(field_name, f"must be {self.describe()}", value, self._details())
        if isinstance(value, float) and not math.isfinite(value):
            _fail(field_name, f"must be {self.describe()}", value, self._details())
        if self.type == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    _fail(field_name, f"must be {self.describe()}", value, self._details())
                value = int(value)
        else:
            value = float(value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            _fail(field_name, f"must be {self.describe()}", value, self._details())
        return value

    def _details(self) -> dict[str, Any]:
        return {"allowed": self.to_dict()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``choices`` as a list)."""
        d = dataclasses.asdict(self)
        if d["choices"] is not None:
            d["choices"] = list(d["choices"])
        return d


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def _json_repr(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def _fail(field_name: str, requirement: str, got: Any, details: dict[str, Any] | None = None) -> None:
    shown = _json_repr(got) if not isinstance(got, (list, dict)) else repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise ValidationError(f"{field_name} {requirement}; got {shown}", field=field_name, details=dict(details or {}))


_CLASS_WEIGHT = HyperparameterSpec(
    "class_weight",
    "choice",
    None,
    choices=(None, "balanced"),
    label="Class weighting",
    help='"balanced" up-weights the rarer outcome (churners, fraud) so the model does not ignore it; '
    "probabilities then run higher than the true rate.",
)


def _rf_specs(task: str) -> tuple[HyperparameterSpec, ...]:
    specs = [
        HyperparameterSpec("n_estimators", "int", 100, 10, 1000, label="Number of trees", help="More trees are steadier but slower."),
        HyperparameterSpec(
            "max_depth", "int", None, 1, 100, nullable=True, label="Maximum tree depth", help="Empty means grow until leaves are small."
        ),
        HyperparameterSpec("min_samples_split", "int", 2, 2, 1000, label="Minimum rows to split"),
        HyperparameterSpec(
            "min_samples_leaf",
            "int",
            5,
            1,
            1000,
            label="Minimum rows per leaf",
            help="Larger values give smoother predictions, smaller models and faster explanations.",
        ),
        HyperparameterSpec(
            "max_features",
            "choice",
            "sqrt" if task == "classification" else "all",
            choices=("sqrt", "log2", "all"),
            label="Features tried per split",
        ),
    ]
    if task == "classification":
        specs.append(_CLASS_WEIGHT)
    return tuple(specs)


def _gb_specs(task: str) -> tuple[HyperparameterSpec, ...]:
    specs = [
        HyperparameterSpec("learning_rate", "float", 0.1, 0.001, 1.0, log_scale=True, label="Learning rate"),
        HyperparameterSpec("max_iter", "int", 100, 10, 2000, label="Boosting rounds"),
        HyperparameterSpec("max_depth", "int", None, 1, 100, nullable=True, label="Maximum tree depth"),
        HyperparameterSpec("max_leaf_nodes", "int", 31, 2, 1024, label="Leaves per tree"),
        HyperparameterSpec("min_samples_leaf", "int", 20, 1, 10000, label="Minimum rows per leaf"),
        HyperparameterSpec("l2_regularization", "float", 0.0, 0.0, 100.0, label="L2 regularisation"),
        HyperparameterSpec(
            "early_stopping",
            "choice",
            "auto",
            choices=("auto", True, False),
            label="Early stopping",
            help='Stop adding trees when a 10% internal validation stops improving ("auto": only above 10,000 rows).',
        ),
    ]
    if task == "classification":
        specs.append(_CLASS_WEIGHT)
    return tuple(specs)


def _build_specs() -> dict[tuple[str, str], tuple[HyperparameterSpec, ...]]:
    specs: dict[tuple[str, str], tuple[HyperparameterSpec, ...]] = {
        ("classification", "auto"): (_CLASS_WEIGHT,),
        ("classification", "logistic_regression"): (
            HyperparameterSpec(
                "C", "float", 1.0, 1e-4, 1e4, log_scale=True, label="Inverse regularisation C", help="Smaller values give simpler models."
            ),
            HyperparameterSpec("max_iter", "int", 1000, 50, 10000, label="Solver iterations"),
            _CLASS_WEIGHT,
        ),
        ("classification", "random_forest"): _rf_specs("classification"),
        ("classification", "gradient_boosting"): _gb_specs("classification"),
        ("regression", "auto"): (),
        ("regression", "linear_regression"): (),
        ("regression", "ridge"): (
            HyperparameterSpec("alpha", "float", 1.0, 0.0, 1e6, label="Regularisation strength alpha", help="Larger values shrink effects."),
        ),
        ("regression", "random_forest"): _rf_specs("regression"),
        ("regression", "gradient_boosting"): _gb_specs("regression"),
        ("clustering", "auto"): (
            HyperparameterSpec(
                "max_clusters", "int", 8, 2, 20, label="Most segments to try", help="auto tries 2 up to this many segments."
            ),
        ),
        ("clustering", "kmeans"): (
            HyperparameterSpec("n_clusters", "int", 5, 2, 50, label="Number of segments"),
            HyperparameterSpec("n_init", "int", 10, 1, 100, label="Restarts"),
            HyperparameterSpec("max_iter", "int", 300, 10, 10000, label="Iterations per restart"),
        ),
    }
    return specs


_SPECS = _build_specs()


def hyperparameter_specs(task: str, algorithm: str) -> tuple[HyperparameterSpec, ...]:
    """Return the hyperparameters ``algorithm`` accepts for ``task``.

    Parameters
    ----------
    task : {"classification", "regression", "clustering"}
    algorithm : str
        One of ``ALGORITHMS[task]``.

    Returns
    -------
    tuple of HyperparameterSpec
        Possibly empty (``linear_regression`` has none).

    Raises
    ------
    ValidationError
        If the task or algorithm is unknown (``field`` is ``"task"`` or ``"algorithm"``).
    """
    if task not in TASKS:
        _fail("task", "must be one of " + ", ".join(TASKS), task)
    if algorithm not in ALGORITHMS[task]:
        _fail("algorithm", f"must be one of {', '.join(ALGORITHMS[task])} for {task}", algorithm)
    return _SPECS[(task, algorithm)]


def all_hyperparameter_specs() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every spec as JSON: ``{task: {algorithm: [spec dict, ...]}}`` for the UI."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (task, algo), specs in _SPECS.items():
        out.setdefault(task, {})[algo] = [s.to_dict() for s in specs]
    return out


# ---------------------------------------------------------------------------
# Config dataclasses
# ---------------------------------------------------------------------------


@dataclass
class FeatureEngineering:
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
    """

    normalize: bool = True
    handle_missing: str = "median"
    max_categories: int = 30
    log_transform: list[str] = field(default_factory=list)
    exclude_id_columns: bool = True
    exclude_leaky_columns: bool = True


@dataclass
class TrainingConfig:
    """Everything needed to train one model version. Build it with :meth:`from_dict`.

    Parameters
    ----------
    model_name : str
        1 to 100 printable characters.
    task : {"classification", "regression", "clustering"}
        Derived from ``model_type`` when that is given.
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
        metrics and regression prediction intervals; the final model is then
        refit on training + validation rows.
    test_split : float, default 0.2
        Fraction (0.05 to 0.5) held out for the reported test metrics.
        ``validation_split + test_split`` must be at most 0.7.
    cv_folds : int, default 5
        Folds (2 to 10) for ``auto``'s cross-validation.
    random_seed : int, default 0
        0 to 2**32 - 1; fixes splits and estimators.
    positive_class : str, int, bool or None
        Outcome whose probability is reported for binary classification;
        default: the class spelled yes/true/1 (case-insensitive), else the
        last class in sorted order.
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

    model_name: str = "model"
    task: str = "classification"
    model_type: str | None = None
    algorithm: str = "auto"
    target: str | None = None
    features: list[str] | None = None
    excluded_columns: list[str] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    feature_engineering: FeatureEngineering = field(default_factory=FeatureEngineering)
    validation_split: float = 0.1
    test_split: float = 0.2
    cv_folds: int = 5
    random_seed: int = 0
    positive_class: Any = None
    score_bands: dict[str, float] = field(default_factory=lambda: {"hot": 70.0, "warm": 40.0})
    interval_level: float = 0.9
    data_prep: dict[str, Any] | None = None
    n_jobs: int = 1
    explain_background_size: int = 100

    # -- construction -------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingConfig":
        """Validate ``data`` and return a config with defaults filled in.

        Parameters
        ----------
        data : dict
            JSON-like mapping; unknown keys are rejected.

        Returns
        -------
        TrainingConfig

        Raises
        ------
        ValidationError
            For the first invalid field; ``error.field`` is its dotted name
            and the message states the allowed values or range.
        """
        if isinstance(data, TrainingConfig):
            data = data.to_dict()
        if not isinstance(data, dict):
            _fail("config", "must be a JSON object", data)
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in allowed:
                _fail(str(key), "is not a configuration field; allowed: " + ", ".join(allowed), data[key])
        d = dict(data)

        model_name = d.get("model_name", "model")
        if not isinstance(model_name, str) or not (1 <= len(model_name.strip()) <= 100) or re.search(r"[\x00-\x1f\x7f]", model_name):
            _fail("model_name", "must be 1 to 100 printable characters", model_name)
        model_name = model_name.strip()

        model_type = d.get("model_type")
        task = d.get("task")
        if model_type is not None:
            if model_type not in MODEL_TYPES:
                _fail("model_type", "must be one of " + ", ".join(MODEL_TYPES) + " or null", model_type)
            implied = MODEL_TYPES[model_type]
            if task is not None and task != implied:
                _fail("task", f"must be {implied} for model_type {model_type} (or left out)", task)
            task = implied
        if task is None:
            _fail("task", "must be one of " + ", ".join(TASKS) + " (or give model_type)", task)
        if task not in TASKS:
            _fail("task", "must be one of " + ", ".join(TASKS), task)

        algorithm = d.get("algorithm", "auto")
        if algorithm not in ALGORITHMS[task]:
            _fail("algorithm", f"must be one of {', '.join(ALGORITHMS[task])} for {task}", algorithm)

        target = d.get("target")
        data_prep = _validate_data_prep(d.get("data_prep"), task)
        if task == "clustering":
            if target is not None:
                _fail("target", "must be null for clustering (segmentation has no target column)", target)
        else:
            if data_prep is not None and data_prep["kind"] == "clv":
                if target not in (None, "future_value"):
                    _fail("target", 'must be "future_value" (or null) with data_prep kind "clv"', target)
                target = "future_value"
            if not isinstance(target, str) or not target:
                _fail("target", f"must name the column to predict (required for {task})", target)

        features = d.get("features")
        if features is not None:
            features = _str_list(features, "features")
            if not features:
                _fail("features", "must list at least one column, or be null for all columns", features)
            if target is not None and target in features:
                _fail("features", f"must not include the target column {target!r}", features)
        excluded = _str_list(d.get("excluded_columns", []), "excluded_columns")

        specs = {s.name: s for s in hyperparameter_specs(task, algorithm)}
        hp_in = d.get("hyperparameters") or {}
        if not isinstance(hp_in, dict):
            _fail("hyperparameters", "must be a JSON object", hp_in)
        hyper: dict[str, Any] = {}
        for key, value in hp_in.items():
            if key not in specs:
                allowed_hp = ", ".join(specs) if specs else "none"
                _fail(f"hyperparameters.{key}", f"is not a hyperparameter of {algorithm} ({task}); allowed: {allowed_hp}", value)
            hyper[key] = specs[key].validate(value, f"hyperparameters.{key}")
        for name, spec in specs.items():
            hyper.setdefault(name, spec.default)

        fe = _validate_feature_engineering(d.get("feature_engineering"))

        validation_split = _number(d.get("validation_split", 0.1), "validation_split", 0.0, 0.5)
        test_split = _number(d.get("test_split", 0.2), "test_split", 0.05, 0.5)
        if validation_split + test_split > 0.7 + 1e-12:
            _fail(
                "validation_split",
                f"plus test_split ({test_split:g}) must be at most 0.7 so enough rows remain for training",
                validation_split,
            )
        cv_folds = _integer(d.get("cv_folds", 5), "cv_folds", 2, 10)
        seed = _integer(d.get("random_seed", 0), "random_seed", 0, 2**32 - 1)

        positive_class = d.get("positive_class")
        if positive_class is not None:
            if task != "classification":
                _fail("positive_class", "is only used for classification; leave it null", positive_class)
            if not isinstance(positive_class, (str, int, bool)) or (isinstance(positive_class, str) and not positive_class):
                _fail("positive_class", "must be a class label (text, integer or true/false) or null", positive_class)

        bands_in = d.get("score_bands", {"hot": 70, "warm": 40})
        if not isinstance(bands_in, dict) or set(bands_in) != {"hot", "warm"}:
            _fail("score_bands", 'must be {"hot": number, "warm": number}', bands_in)
        hot = _number(bands_in["hot"], "score_bands.hot", 0.0, 100.0)
        warm = _number(bands_in["warm"], "score_bands.warm", 0.0, 100.0)
        if not warm < hot:
            _fail("score_bands.warm", f"must be below score_bands.hot ({hot:g})", warm)

        interval_level = _number(d.get("interval_level", 0.9), "interval_level", 0.5, 0.99)
        n_jobs = _integer(d.get("n_jobs", 1), "n_jobs", 1, 64)
        bg = _integer(d.get("explain_background_size", 100), "explain_background_size", 10, 1000)

        for col in fe.log_transform:
            if features is not None and col not in features and (data_prep is None):
                _fail("feature_engineering.log_transform", f"lists {col!r}, which is not among features", fe.log_transform)

        return cls(
            model_name=model_name,
            task=task,
            model_type=model_type,
            algorithm=algorithm,
            target=target if task != "clustering" else None,
            features=features,
            excluded_columns=excluded,
            hyperparameters=hyper,
            feature_engineering=fe,
            validation_split=validation_split,
            test_split=test_split,
            cv_folds=cv_folds,
            random_seed=seed,
            positive_class=positive_class,
            score_bands={"hot": hot, "warm": warm},
            interval_level=interval_level,
            data_prep=data_prep,
            n_jobs=n_jobs,
            explain_background_size=bg,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict that :meth:`from_dict` accepts back unchanged."""
        d = dataclasses.asdict(self)
        return d

    def validated(self) -> "TrainingConfig":
        """Return a validated copy (use after editing fields by hand)."""
        return TrainingConfig.from_dict(self.to_dict())

    def replace(self, **changes: Any) -> "TrainingConfig":
        """Return a validated copy with ``changes`` applied (dict-level keys)."""
        d = self.to_dict()
        d.update(changes)
        if "algorithm" in changes and "hyperparameters" not in changes:
            d["hyperparameters"] = {}
        return TrainingConfig.from_dict(d)


def _str_list(value: Any, field_name: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        _fail(field_name, "must be a list of column names", value)
    if len(set(value)) != len(value):
        dupes = sorted({v for v in value if list(value).count(v) > 1})
        _fail(field_name, "must not repeat a column (" + ", ".join(dupes) + ")", value)
    return list(value)


def _number(value: Any, field_name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not (low <= value <= high):
        _fail(field_name, f"must be a number from {_fmt(low)} to {_fmt(high)}", value)
    return float(value)


def _integer(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        _fail(field_name, f"must be an integer from {low} to {high}", value)
    return int(value)


def _bool(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        _fail(field_name, "must be true or false", value)
    return value


def _validate_feature_engineering(value: Any) -> FeatureEngineering:
    if value is None:
        return FeatureEngineering()
    if isinstance(value, FeatureEngineering):
        value = dataclasses.asdict(value)
    if not isinstance(value, dict):
        _fail("feature_engineering", "must be a JSON object", value)
    allowed = [f.name for f in dataclasses.fields(FeatureEngineering)]
    for key in value:
        if key not in allowed:
            _fail(f"feature_engineering.{key}", "is not a feature_engineering option; allowed: " + ", ".join(allowed), value[key])
    hm = value.get("handle_missing", "median")
    if hm not in HANDLE_MISSING:
        _fail("feature_engineering.handle_missing", "must be one of " + ", ".join(HANDLE_MISSING), hm)
    return FeatureEngineering(
        normalize=_bool(value.get("normalize", True), "feature_engineering.normalize"),
        handle_missing=hm,
        max_categories=_integer(value.get("max_categories", 30), "feature_engineering.max_categories", 2, 1000),
        log_transform=_str_list(value.get("log_transform", []), "feature_engineering.log_transform"),
        exclude_id_columns=_bool(value.get("exclude_id_columns", True), "feature_engineering.exclude_id_columns"),
        exclude_leaky_columns=_bool(value.get("exclude_leaky_columns", True), "feature_engineering.exclude_leaky_columns"),
    )


_DATA_PREP_KEYS = {
    "rfm": ("kind", "customer_column", "date_column", "amount_column", "order_column", "dayfirst", "as_of"),
    "clv": ("kind", "customer_column", "date_column", "amount_column", "order_column", "dayfirst", "horizon_days"),
}


def _validate_data_prep(value: Any, task: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        _fail("data_prep", "must be a JSON object or null", value)
    kind = value.get("kind")
    if kind not in DATA_PREP_KINDS:
        _fail("data_prep.kind", "must be one of " + ", ".join(DATA_PREP_KINDS), kind)
    need_task = "clustering" if kind == "rfm" else "regression"
    if task != need_task:
        _fail("data_prep.kind", f"{kind!r} needs task {need_task}", kind)
    for key in value:
        if key not in _DATA_PREP_KEYS[kind]:
            _fail(f"data_prep.{key}", f"is not an option of {kind}; allowed: " + ", ".join(_DATA_PREP_KEYS[kind]), value[key])
    out: dict[str, Any] = {"kind": kind}
    for key in ("customer_column", "date_column", "amount_column"):
        v = value.get(key)
        if not isinstance(v, str) or not v:
            _fail(f"data_prep.{key}", "must name a column of the orders table", v)
        out[key] = v
    oc = value.get("order_column")
    if oc is not None and (not isinstance(oc, str) or not oc):
        _fail("data_prep.order_column", "must name a column or be null", oc)
    out["order_column"] = oc
    dayfirst = value.get("dayfirst")
    if dayfirst is not None and not isinstance(dayfirst, bool):
        _fail("data_prep.dayfirst", "must be true, false or null (detect)", dayfirst)
    out["dayfirst"] = dayfirst
    if kind == "rfm":
        as_of = value.get("as_of")
        if as_of is not None and (not isinstance(as_of, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of)):
            _fail("data_prep.as_of", "must be an ISO date YYYY-MM-DD or null (day after the last order)", as_of)
        out["as_of"] = as_of
    else:
        out["horizon_days"] = _integer(value.get("horizon_days", 365), "data_prep.horizon_days", 7, 3650)
    return out
