"""Predictive model configuration: form choices, templates, the target's kind and positive class, checks.

The guided form on the Models screen lays out widgets and calls this module:
:func:`form_options` (choices and ranges), :func:`template_config` (a
template filled for a dataset), :func:`target_profile` (classes or amounts?
which class is positive, and why), :func:`feature_plan` (what each column
becomes), :func:`build_config` (widget values -> configuration dict, pure)
and :func:`check_config`. Validation itself is :class:`aihub.ml.TrainingConfig`
(pydantic); this module adds what only the data can tell (the columns exist,
the target is usable) and words every refusal for the analyst.

Model kind ``"ml"``: ``models.config`` holds ``{"training": TrainingConfig
dict, "accuracy_tolerance": float}``.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

import pandas as pd

from aihub import ml
from aihub.auth import Principal, require
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import AihubError, ValidationError
from aihub.jsonsafe import plain
from aihub.ml.config import ALGORITHMS, HANDLE_MISSING, MODEL_TYPES, TASKS
from aihub.ml.preprocess import detect_column_kind
from aihub.ml.targets import score_name
from aihub.ml.templates import TEMPLATES, find_column

ML_KIND = "ml"
#: ``model_versions.artifact_format`` of predictive models (:mod:`aihub.ml.artifacts`, format version 1).
ARTIFACT_FORMAT = "aihub-model-v1"
#: Default allowed drop of live accuracy below test accuracy (0.05 = 5 points) before a version is flagged.
DEFAULT_TOLERANCE = 0.05
#: Business model type -> template whose target hints find its outcome column.
_TYPE_TEMPLATE = {"churn_prediction": "churn", "lead_scoring": "lead_scoring"}

#: Held-out test metrics shown per task, in order (the screens read these; never copy them).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("roc_auc", "brier", "accuracy", "precision", "recall", "f1", "average_precision"),
    "regression": ("mae", "rmse", "r2", "interval_coverage"),
    "clustering": ("silhouette",),
}
#: Plain names of the metrics, with a one-line help for the analyst.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "accuracy": ("Accuracy", "Share of test rows whose class was predicted right."),
    "precision": ("Precision", "Of the rows flagged positive, the share that were."),
    "recall": ("Recall", "Of the positive rows, the share the model flagged."),
    "f1": ("F1", "Balance of precision and recall (0 to 1)."),
    "roc_auc": ("ROC AUC", "How well the score ranks positives above negatives: 0.5 is chance, 1 is perfect."),
    "brier": ("Brier score", "Mean squared error of the probabilities: 0 is perfect, lower is better."),
    "average_precision": ("Average precision", "Area under the precision-recall curve (0 to 1)."),
    "mae": ("MAE", "Mean absolute error, in the target's units."),
    "rmse": ("RMSE", "Root mean squared error, in the target's units; large misses weigh more."),
    "r2": ("R²", "Share of the target's variation explained: 0 is no better than the average, 1 is perfect."),
    "interval_coverage": ("Interval coverage", "Share of test rows inside the prediction interval."),
    "silhouette": ("Silhouette", "How separate the segments are: -1 to 1, higher is better."),
}
#: Answers to "classes or amounts?" as the form words them.
TASK_WORDS = {"classification": "Classes (categories to choose between)",
              "regression": "Amounts (a quantity to predict)"}
#: Why a positive class was picked, in the form's words.
POSITIVE_REASONS = {
    "conventional": "its name marks the outcome of interest",
    "minority": "it is the rarer outcome",
    "last": "the two outcomes are equally common",
    "configured": "you chose it",
}


# ----------------------------------------------------------------- helpers
def sentence(text: str) -> str:
    """``text`` as a sentence for the analyst: capital first letter, closing full stop.

    A message that starts with a configuration key (``hyperparameters.max_depth``)
    keeps the key's spelling: "The setting hyperparameters.max_depth must be ...".
    """
    text = str(text).strip()
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if re.fullmatch(r"[a-z][a-z0-9]*([._][a-z0-9]+)+", first):  # a configuration key keeps its spelling
        text = "The setting " + text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def worded(exc: ValidationError) -> ValidationError:
    """The same error with its message as a sentence (core messages start lower-case)."""
    return ValidationError(sentence(str(exc)), field=exc.field, details=exc.details)


def library_failure(logger: logging.Logger, what: str, advice: str, context: str) -> AihubError:
    """An unexpected library error as the analyst reads it; call inside ``except``: the traceback goes to the log.

    Parameters
    ----------
    logger : logging.Logger
    what : str
        What could not be done, as a sentence start ("Training could not finish").
    advice : str
        What to try instead (one sentence).
    context : str
        Where it happened, for the log only ("training job 12 (model 3)").

    Returns
    -------
    AihubError
        ``code="library_failure"``; the message quotes a reference id that the
        log line carries, ``details`` hold the reference and the exception's type.
    """
    exc = sys.exc_info()[1]
    ref = uuid.uuid4().hex[:8]
    logger.exception("%s failed [ref %s]", context, ref)
    return AihubError(f"{what}: the modelling library stopped on this data. {advice} (Reference {ref} in the "
                      "server log.)", code="library_failure",
                      details={"reference": ref, "error": type(exc).__name__ if exc else None})


def metric_label(key: str) -> str:
    """Plain name of a metric (``"roc_auc"`` -> ``"ROC AUC"``)."""
    return METRIC_LABELS.get(key, (key.replace("_", " "), ""))[0]


def require_ml(model: store.ModelRecord | ps.ServingInfo) -> None:
    """Raise unless ``model`` is a predictive model."""
    if model.kind != ML_KIND:
        raise ValidationError(f"'{model.name}' is a {model.kind} model; this needs a predictive model "
                              "(churn, lead scoring, value or segmentation).", field="model_id")


def dataset_frame(principal: Principal, dataset_id: Any) -> tuple[int, pd.DataFrame]:
    """``(dataset version id, frame)`` of a dataset's newest version (one read transaction)."""
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int):
        raise ValidationError("Choose a dataset to train on.", field="dataset_id")
    with tenant_session(principal.tenant_id) as s:
        version_id = store.latest_dataset_version_id(s, dataset_id)
        return version_id, store.load_dataset_frame(s, version_id)


def columns_phrase(columns: list[str], limit: int = 30) -> str:
    """``"a, b, c and 12 more"``."""
    shown = ", ".join(columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def tolerance(config: dict[str, Any]) -> float:
    """A model's accuracy tolerance from its stored configuration."""
    t = config.get("accuracy_tolerance", DEFAULT_TOLERANCE)
    return float(t) if isinstance(t, int | float) else DEFAULT_TOLERANCE


def _complete(raw: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """Fill what the data tells: the outcome column of a churn or lead-scoring config without ``target``."""
    raw = dict(raw)
    tpl = _TYPE_TEMPLATE.get(raw.get("model_type"))
    if tpl and not raw.get("target"):
        found = find_column(frame, TEMPLATES[tpl].target_hints)
        if found is not None:
            raw["target"] = found
    return raw


def _check_columns(cfg: ml.TrainingConfig, frame: pd.DataFrame) -> None:
    cols = [str(c) for c in frame.columns]
    allowed = columns_phrase(cols)

    def need(name: str | None, fld: str) -> None:
        if name is not None and name not in cols:
            raise ValidationError(f"{fld}: column '{name}' is not in the dataset; choose one of: {allowed}.",
                                  field=fld, details={"allowed": cols})

    if cfg.data_prep is not None:
        for key in ("customer_column", "date_column", "amount_column", "order_column"):
            need(cfg.data_prep.get(key), f"data_prep.{key}")
        return
    need(cfg.target, "target")
    for c in cfg.features or []:
        need(c, "features")
    for c in cfg.excluded_columns:
        need(c, "excluded_columns")
    for c in cfg.feature_engineering.log_transform:
        need(c, "feature_engineering.log_transform")


def validated(raw: dict[str, Any], frame: pd.DataFrame) -> ml.TrainingConfig:
    """A configuration checked against the data: fields, columns and a usable target.

    Raises
    ------
    ValidationError
        In the analyst's words, ``field`` the dotted key at fault.
    """
    if not isinstance(raw, dict):
        raise ValidationError("The configuration must be a JSON object (see the example on the form).",
                              field="config")
    try:
        cfg = ml.TrainingConfig.from_dict(_complete(raw, frame))
        _check_columns(cfg, frame)
        if cfg.data_prep is None and cfg.task in ("classification", "regression"):
            ml.analyze_target(frame[cfg.target], cfg.task, cfg.positive_class)
    except ValidationError as exc:
        raise worded(exc) from None
    return cfg


# ------------------------------------------------------------- form support
def form_options(principal: Principal) -> dict[str, Any]:
    """Choices of the guided form: templates, model types, tasks, algorithms and hyperparameter ranges.

    Needs ``read``.

    Returns
    -------
    dict
        ``templates`` (list of template dicts), ``model_types`` ({type: task}),
        ``tasks``, ``algorithms`` ({task: [algorithm]}), ``hyperparameters``
        ({task: {algorithm: [spec dict]}}, see :class:`aihub.ml.HyperparameterSpec`),
        ``handle_missing``, ``task_metrics`` and ``metric_labels``
        ({metric: (name, help)}).
    """
    require(principal, "read")
    return {
        "templates": ml.list_templates(),
        "model_types": dict(MODEL_TYPES),
        "tasks": list(TASKS),
        "algorithms": {t: list(a) for t, a in ALGORITHMS.items()},
        "hyperparameters": ml.all_hyperparameter_specs(),
        "handle_missing": list(HANDLE_MISSING),
        "task_metrics": {t: list(m) for t, m in TASK_METRICS.items()},
        "metric_labels": dict(METRIC_LABELS),
    }


def template_config(principal: Principal, template: str, dataset_id: int | None = None, **overrides: Any
                    ) -> dict[str, Any]:
    """A template's configuration, filled for a dataset when one is given. Needs ``create``.

    Parameters
    ----------
    template : str
        Key of :data:`aihub.ml.TEMPLATES` (churn, lead_scoring, rfm_segmentation,
        customer_lifetime_value).
    dataset_id : int, optional
        Finds the target (churn, lead scoring) or the orders columns (RFM, CLV).
    **overrides
        Fields that win (``target="Exited"``...).

    Returns
    -------
    dict
        ``TrainingConfig`` dict (JSON-ready).

    Raises
    ------
    ValidationError
        Unknown template, or a needed column not found (``field`` names it).
    """
    require(principal, "create")
    try:
        if dataset_id is None:
            return {**ml.template_defaults(template), **overrides}
        _, frame = dataset_frame(principal, dataset_id)
        return ml.suggest_config(template, frame, **overrides).to_dict()
    except ValidationError as exc:
        raise worded(exc) from None


def target_profile(principal: Principal, dataset_id: int, target: str, task: str | None = None) -> dict[str, Any]:
    """What the form shows about a target: classes or amounts, its classes and the default positive class.

    Needs ``read``.

    Parameters
    ----------
    target : str
        Column of the dataset's newest version.
    task : {"classification", "regression"}, optional
        The user's answer to "classes or amounts?"; default the column's
        natural reading (:func:`aihub.ml.target_kind_choices`).

    Returns
    -------
    dict
        ``ask`` (bool), ``question`` (str or None), ``choices`` (tasks, default
        first), ``default_task``, ``task``, ``classes`` (list or None),
        ``counts``, ``positive_class`` (default, binary only),
        ``positive_reason`` (words), ``score_names`` (binary: ``{class: "P(...)"}``,
        the score's default name per choice of positive class), ``n_missing``
        and ``problem`` (None, or the sentence saying why the target cannot be
        used for ``task``).

    Raises
    ------
    ValidationError
        The column is not in the dataset.
    """
    require(principal, "read")
    _, frame = dataset_frame(principal, dataset_id)
    if target not in frame.columns:
        raise ValidationError(f"Column '{target}' is not in the dataset; choose one of: "
                              f"{columns_phrase(list(map(str, frame.columns)))}.", field="target")
    choices = ml.target_kind_choices(frame[target])
    chosen = task if task in choices["choices"] else choices["default"]
    out: dict[str, Any] = {"ask": bool(choices["ask"]), "question": choices["question"],
                           "choices": list(choices["choices"]), "default_task": choices["default"], "task": chosen,
                           "classes": None, "counts": None, "positive_class": None, "positive_reason": None,
                           "n_missing": 0, "problem": None, "score_names": {}}
    try:
        info = ml.analyze_target(frame[target], chosen)
    except ValidationError as exc:
        out["problem"] = sentence(str(exc))
        return out
    out.update(classes=info.classes, counts=info.counts, positive_class=info.positive_class,
               positive_reason=POSITIVE_REASONS.get(info.positive_reason or ""), n_missing=info.n_missing)
    if len(info.classes or []) == 2:
        out["score_names"] = {str(c): score_name(target, c) for c in info.classes}
    return plain(out)


def feature_plan(principal: Principal, dataset_id: int, columns: list[str]) -> list[dict[str, str]]:
    """How each chosen input column will be used: number, category, date or free text. Needs ``read``.

    Returns
    -------
    list of dict
        ``{"column", "kind", "becomes"}``; dates become calendar and age
        features, free text TF-IDF and sentiment features, currency text numbers.
    """
    require(principal, "read")
    _, frame = dataset_frame(principal, dataset_id)
    becomes = {"numeric": "a number", "categorical": "categories", "date": "calendar and age features",
               "text": "word (TF-IDF) and sentiment features", "empty": "nothing (every value is blank)",
               "constant": "nothing (a single value)"}
    plan = []
    for c in columns:
        if c in frame.columns:
            kind = detect_column_kind(frame[c])
            plan.append({"column": c, "kind": kind, "becomes": becomes.get(kind, kind)})
    return plan


def feature_warnings(principal: Principal, dataset_id: int, target: str | None, *,
                     features: list[str] | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """Leakage warnings for the feature step: id-like columns and near-copies of the target. Needs ``read``.

    Returns
    -------
    list of dict
        ``{"column", "kind" ("id_like" | "target_leak"), "message", "score"}``.
    """
    require(principal, "read")
    _, frame = dataset_frame(principal, dataset_id)
    if target is not None and target not in frame.columns:
        raise ValidationError(f"Column '{target}' is not in the dataset.", field="target")
    if task == "clustering":
        target = None
    return [w.to_dict() for w in ml.leakage_warnings(frame, target, columns=features, task=task)]


def check_config(principal: Principal, raw: dict[str, Any], dataset_id: int) -> dict[str, Any]:
    """Validate a configuration (form or JSON) against a dataset. Needs ``create``.

    Returns
    -------
    dict
        The validated configuration with defaults filled in.

    Raises
    ------
    ValidationError
        For the first bad field: ``field`` is its dotted name and the message
        states the allowed values or columns.
    """
    require(principal, "create")
    _, frame = dataset_frame(principal, dataset_id)
    return validated(raw, frame).to_dict()


# ------------------------------------------------------------ form -> config
def build_config(base: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """The training configuration a guided form's widget values describe (pure; validated at training).

    Parameters
    ----------
    base : dict
        The template's configuration the form started from
        (:func:`template_config`); keys the form does not show (score bands,
        excluded columns, ...) are kept.
    form : dict
        Widget values: ``model_name``, ``task`` ("classification" |
        "regression" | "clustering", the answer to "classes or amounts?"),
        ``model_type`` (None for a general model), ``target``, ``features``,
        ``data_prep`` (orders templates), ``positive_class``, ``score_label``,
        ``handle_missing``, ``normalize``, ``max_categories``, ``algorithm``,
        ``hyperparameters``, ``validation_split``, ``test_split``,
        ``random_seed``.

    Returns
    -------
    dict
        :class:`aihub.ml.TrainingConfig` input. ``model_type`` is kept only
        when it implies the chosen task (a churn template on a 1-to-5 rating
        answered "amounts" becomes a general regression); ``positive_class``
        and ``score_label`` only for classification.
    """
    task = form.get("task")
    model_type = form.get("model_type")
    if model_type is not None and MODEL_TYPES.get(model_type) != task:
        model_type = None
    config = {k: v for k, v in base.items()
              if k not in ("task", "model_type", "features", "target", "data_prep", "positive_class",
                           "score_label", "hyperparameters")}
    config.update(model_name=form.get("model_name"), algorithm=form.get("algorithm", "auto"),
                  hyperparameters={k: v for k, v in (form.get("hyperparameters") or {}).items()},
                  validation_split=float(form.get("validation_split", 0.1)),
                  test_split=float(form.get("test_split", 0.2)), random_seed=int(form.get("random_seed", 0)))
    if model_type is not None:
        config["model_type"] = model_type
    else:
        config["task"] = task
    config["feature_engineering"] = {**(base.get("feature_engineering") or {}),
                                     "normalize": bool(form.get("normalize", True)),
                                     "handle_missing": form.get("handle_missing", "median"),
                                     "max_categories": int(form.get("max_categories", 30))}
    if form.get("data_prep") is not None:
        config["data_prep"] = dict(form["data_prep"])
    elif task == "clustering":
        config["features"] = form.get("features")
    else:
        config.update(target=form.get("target"), features=form.get("features"))
    if task == "classification":
        if form.get("positive_class") is not None:
            config["positive_class"] = form["positive_class"]
        label = (form.get("score_label") or "").strip()
        if label:
            config["score_label"] = label
    else:
        for key in ("decision_metric", "decision_threshold"):
            config.pop(key, None)
    return config
