"""Hyperparameters each algorithm accepts: ranges for validation and for the form's widgets.

:class:`HyperparameterSpec` describes one hyperparameter (type, range or
choices, default, label, help). :func:`hyperparameter_specs` lists them per
task and algorithm so the UI draws one widget per parameter and
:class:`aihub.ml.config.TrainingConfig` validates against the same ranges.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from aihub.errors import ValidationError

TASKS: tuple[str, ...] = ("classification", "regression", "clustering")

#: Algorithms per task; ``auto`` cross-validates a fixed set of candidates and keeps the best.
ALGORITHMS: dict[str, tuple[str, ...]] = {
    "classification": ("auto", "logistic_regression", "random_forest", "gradient_boosting", "lightgbm"),
    "regression": ("auto", "linear_regression", "ridge", "random_forest", "gradient_boosting", "lightgbm"),
    "clustering": ("auto", "kmeans"),
}


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


def _lgbm_specs(task: str) -> tuple[HyperparameterSpec, ...]:
    """LightGBM (Ke et al. 2017) in its scikit-learn interface; defaults are the library's own."""
    specs = [
        HyperparameterSpec("learning_rate", "float", 0.1, 0.001, 1.0, log_scale=True, label="Learning rate"),
        HyperparameterSpec("n_estimators", "int", 100, 10, 5000, label="Boosting rounds"),
        HyperparameterSpec("num_leaves", "int", 31, 2, 1024, label="Leaves per tree"),
        HyperparameterSpec("min_child_samples", "int", 20, 1, 10000, label="Minimum rows per leaf"),
        HyperparameterSpec(
            "subsample", "float", 1.0, 0.1, 1.0, label="Row share per tree", help="Below 1, each tree sees a random share of the rows."
        ),
        HyperparameterSpec(
            "colsample_bytree", "float", 1.0, 0.1, 1.0, label="Column share per tree", help="Below 1, each tree sees a random share of the inputs."
        ),
        HyperparameterSpec("reg_lambda", "float", 0.0, 0.0, 100.0, label="L2 regularisation"),
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
        ("classification", "lightgbm"): _lgbm_specs("classification"),
        ("regression", "auto"): (),
        ("regression", "linear_regression"): (),
        ("regression", "ridge"): (
            HyperparameterSpec("alpha", "float", 1.0, 0.0, 1e6, label="Regularisation strength alpha", help="Larger values shrink effects."),
        ),
        ("regression", "random_forest"): _rf_specs("regression"),
        ("regression", "gradient_boosting"): _gb_specs("regression"),
        ("regression", "lightgbm"): _lgbm_specs("regression"),
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
