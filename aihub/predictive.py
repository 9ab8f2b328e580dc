"""Deprecated home of the predictive-model services; they live in :mod:`aihub.services` now.

* :mod:`aihub.services.model_config`: form choices, templates, target profile, config builders and checks;
* :mod:`aihub.services.model_training`: create, train (the job handler), versions;
* :mod:`aihub.services.model_cache`: verified models in memory;
* :mod:`aihub.services.predictions`: single predictions, comparisons, the form, serving statistics;
* :mod:`aihub.services.batch_predictions`: files predicted and stored in bulk;
* :mod:`aihub.services.outcomes`: outcomes and live accuracy.

This module re-exports their public names for callers not moved yet.
"""

<<<<<<< HEAD
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub import events, exports, ingest, jobs, ml, registry, usage
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import ArtifactError, NotFound, ValidationError
from aihub.ml.config import ALGORITHMS, HANDLE_MISSING, MODEL_TYPES, TASKS
from aihub.ml.model import jsonable
from aihub.ml.templates import TEMPLATES, find_column
from aihub.paging import Page, check_limit, decode_cursor, page_of

ML_KIND = "ml"
#: ``model_versions.artifact_format`` of predictive models (:mod:`aihub.ml.artifacts`, format version 1).
ARTIFACT_FORMAT = "aihub-model-v1"
#: Default allowed drop of live accuracy below test accuracy (0.05 = 5 points) before a version is flagged.
DEFAULT_TOLERANCE = 0.05
#: Outcomes a version needs before its live accuracy can be flagged.
MIN_FEEDBACK = 10
#: Failed rows kept with a batch (all are counted).
MAX_BATCH_ERRORS = 1000
#: Loaded models kept in memory per process.
MODEL_CACHE_SIZE = 8
#: Business model type -> template whose target hints find its outcome column.
_TYPE_TEMPLATE = {"churn_prediction": "churn", "lead_scoring": "lead_scoring"}

_rng = random.Random()
_cache: OrderedDict[tuple[int, int], ml.TrainedModel] = OrderedDict()
_cache_lock = threading.Lock()


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class PredictionOutcome:
    """One served prediction.

    Attributes
    ----------
    id : int
        ``prediction_results`` id (use it to record the outcome).
    model_id, version_id : int
    version : int
        Version number.
    served_by : {"champion", "challenger"}
    task : str
    label : str
        Business name of the output ("Churn risk").
    prediction : Any
        Class label, value (target units) or segment name.
    probability : float or None
        Binary classification: probability (0 to 1) of the positive class.
    confidence : float or None
        Classification: probability of the predicted class (0 to 1).
    lower, upper : float or None
        Regression: prediction interval (target units).
    explanation : str or None
        Plain-language summary of the SHAP contributions.
    contributions : list of dict
        ``{"feature", "value", "contribution"}``, largest first.
    output : dict
        Everything stored as the prediction's output.
    cache_hit : bool
    latency_ms : float
        Time spent in aihub for this request.
    """

    id: int
    model_id: int
    version_id: int
    version: int
    served_by: str
    task: str
    label: str
    prediction: Any
    probability: float | None
    confidence: float | None
    lower: float | None
    upper: float | None
    explanation: str | None
    contributions: list[dict[str, Any]]
    output: dict[str, Any]
    cache_hit: bool
    latency_ms: float


@dataclass(frozen=True)
class BatchOutcome:
    """Result of :func:`predict_batch`.

    Attributes
    ----------
    batch : BatchRecord
        Counts, failed rows and seconds as stored.
    results : pandas.DataFrame
        One row per input row (per customer for orders input), in input
        order: ``prediction_id``, ``row``, the input columns, the outputs
        (``prediction``, ``probability``, ``confidence``, ... see
        :func:`aihub.ml.predict`), ``served_by``, ``version``, ``error`` and
        ``warning``.
    errors : list of dict
        ``{"row", "line", "message"}`` of every row that failed validation;
        ``line`` is the line of the file (header = 1), None for orders input.
    """

    batch: ps.BatchRecord
    results: pd.DataFrame
    errors: list[dict[str, Any]]

    def csv(self) -> bytes:
        """The results as CSV bytes (UTF-8)."""
        return exports.to_csv_bytes(self.results)


@dataclass(frozen=True)
class FeedbackOutcome:
    """Result of :func:`record_outcomes`.

    Attributes
    ----------
    updated : int
        Predictions whose outcome was recorded.
    errors : list of dict
        ``{"row", "line", "message"}`` of rows that were not recorded.
    """

    updated: int
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class VersionAccuracy:
    """Test metrics of a version next to what its recorded outcomes show.

    Attributes
    ----------
    version_id, version : int
    role : {"champion", "challenger", ""}
    task : str
    test_accuracy, live_accuracy : float or None
        Classification (0 to 1).
    test_mae, live_mae : float or None
        Regression (target units).
    live_n : int
        Outcomes recorded for this version's predictions.
    tolerance : float
    flagged : bool
        Live accuracy fell more than ``tolerance`` below test accuracy
        (regression: live MAE rose more than ``tolerance`` x test MAE), with at
        least :data:`MIN_FEEDBACK` outcomes.
    message : str
        One sentence for the analyst.
    """

    version_id: int
    version: int
    role: str
    task: str
    test_accuracy: float | None
    live_accuracy: float | None
    test_mae: float | None
    live_mae: float | None
    live_n: int
    tolerance: float
    flagged: bool
    message: str


@dataclass(frozen=True)
class PredictionForm:
    """What the single-prediction form needs, read from the champion's stored schema.

    Attributes
    ----------
    model_id, version_id, version : int
    task, label : str
    features : list of dict
        :class:`aihub.ml.FeatureSpec` dicts: ``name``, ``kind``
        (numeric/categorical), ``min``, ``max``, ``median``, ``integer``,
        ``categories``, ``example``.
    classes : list or None
    positive_class : Any
    """

    model_id: int
    version_id: int
    version: int
    task: str
    label: str
    features: list[dict[str, Any]]
    classes: list | None
    positive_class: Any


@dataclass(frozen=True)
class VersionDetails:
    """A version's record with its feature schema and training configuration."""

    record: store.ModelVersionRecord
    feature_schema: list[dict[str, Any]]
    config: dict[str, Any]

    @property
    def task(self) -> str | None:
        return self.record.params.get("task")


# ----------------------------------------------------------------- helpers
def _artifact_key() -> bytes:
    return load_settings().artifact_key()


def _require_ml(model: store.ModelRecord | ps.ServingInfo) -> None:
    if model.kind != ML_KIND:
        raise ValidationError(f"'{model.name}' is a {model.kind} model; this needs a predictive model "
                              "(churn, lead scoring, value or segmentation).", field="model_id")


def _dataset_frame(principal: Principal, dataset_id: Any) -> tuple[int, pd.DataFrame]:
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int):
        raise ValidationError("Choose a dataset to train on.", field="dataset_id")
    with tenant_session(principal.tenant_id) as s:
        version_id = store.latest_dataset_version_id(s, dataset_id)
        return version_id, store.load_dataset_frame(s, version_id)


def _columns_phrase(columns: list[str], limit: int = 30) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


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
    allowed = _columns_phrase(cols)

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


def _validated(raw: dict[str, Any], frame: pd.DataFrame) -> ml.TrainingConfig:
    if not isinstance(raw, dict):
        raise ValidationError("The configuration must be a JSON object (see the example on the form).",
                              field="config")
    cfg = ml.TrainingConfig.from_dict(_complete(raw, frame))
    _check_columns(cfg, frame)
    return cfg


def _tolerance(config: dict[str, Any]) -> float:
    t = config.get("accuracy_tolerance", DEFAULT_TOLERANCE)
    return float(t) if isinstance(t, int | float) else DEFAULT_TOLERANCE


# ------------------------------------------------------------- form support
def form_options(principal: Principal) -> dict[str, Any]:
    """Choices of the guided form: templates, model types, tasks, algorithms and hyperparameter ranges.

    Needs ``read``.

    Returns
    -------
    dict
        ``templates`` (list of template dicts), ``model_types`` ({type: task}),
        ``tasks``, ``algorithms`` ({task: [algorithm]}), ``hyperparameters``
        ({task: {algorithm: [spec dict]}}, see :class:`aihub.ml.HyperparameterSpec`)
        and ``handle_missing``.
    """
    require(principal, "read")
    return {
        "templates": ml.list_templates(),
        "model_types": dict(MODEL_TYPES),
        "tasks": list(TASKS),
        "algorithms": {t: list(a) for t, a in ALGORITHMS.items()},
        "hyperparameters": ml.all_hyperparameter_specs(),
        "handle_missing": list(HANDLE_MISSING),
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
    if dataset_id is None:
        return {**ml.template_defaults(template), **overrides}
    _, frame = _dataset_frame(principal, dataset_id)
    return ml.suggest_config(template, frame, **overrides).to_dict()


def feature_warnings(principal: Principal, dataset_id: int, target: str | None, *,
                     features: list[str] | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """Leakage warnings for the feature step: id-like columns and near-copies of the target. Needs ``read``.

    Returns
    -------
    list of dict
        ``{"column", "kind" ("id_like" | "target_leak"), "message", "score"}``.
    """
    require(principal, "read")
    _, frame = _dataset_frame(principal, dataset_id)
    if target is not None and target not in frame.columns:
        raise ValidationError(f"target: column '{target}' is not in the dataset.", field="target")
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
    _, frame = _dataset_frame(principal, dataset_id)
    return _validated(raw, frame).to_dict()


# ---------------------------------------------------------------- training
def create_model(principal: Principal, raw: dict[str, Any], dataset_id: int, *, run: bool = True
                 ) -> tuple[store.ModelRecord, store.JobRecord]:
    """Create a predictive model from a configuration and queue its first training. Needs ``create``.

    Parameters
    ----------
    raw : dict
        :class:`aihub.ml.TrainingConfig` fields (the JSON shape of the form).
        A churn or lead-scoring config without ``target`` gets the dataset's
        outcome column found by name.
    dataset_id : int
        Trains on its newest version.
    run : bool
        False only queues the job.

    Returns
    -------
    (ModelRecord, JobRecord)

    Raises
    ------
    ValidationError
        Naming the bad field and its allowed values.
    Conflict
        If the tenant has a model of that name.
    """
    require(principal, "create")
    _, frame = _dataset_frame(principal, dataset_id)
    cfg = _validated(raw, frame)
    with tenant_session(principal.tenant_id) as s:
        model = store.create_model(s, tenant_id=principal.tenant_id, name=cfg.model_name, kind=ML_KIND,
                                   dataset_id=dataset_id, user_id=principal.user_id,
                                   config={"training": cfg.to_dict(), "accuracy_tolerance": DEFAULT_TOLERANCE})
    return model, train(principal, model.id, run=run)


def train(principal: Principal, model_id: int, config: dict[str, Any] | None = None, *, run: bool = True
          ) -> store.JobRecord:
    """Queue a new version's training on the dataset's newest version. Needs ``create``.

    Parameters
    ----------
    config : dict, optional
        A changed configuration (e.g. other hyperparameters); it becomes the
        model's configuration. The model name cannot change.

    Raises
    ------
    ValidationError
        If ``config`` is invalid or the model is not a predictive model.
    """
    require(principal, "create")
    usage.record(principal, "train", "train")
    with tenant_session(principal.tenant_id) as s:
        model = store.get_model(s, model_id)
    _require_ml(model)
    if model.dataset_id is None:
        raise ValidationError(f"The dataset of model '{model.name}' was deleted; create a new model on another "
                              "dataset.", field="dataset_id")
    if config is None:
        cfg = model.config["training"]
        with tenant_session(principal.tenant_id) as s:
            dataset_version_id = store.latest_dataset_version_id(s, model.dataset_id)
    else:
        dataset_version_id, frame = _dataset_frame(principal, model.dataset_id)
        cfg = _validated({**config, "model_name": model.name}, frame).to_dict()
        with tenant_session(principal.tenant_id) as s:
            ps.update_model_config(s, model_id, {**model.config, "training": cfg})
    return registry.start_job(principal, model_id, ML_KIND, {"config": cfg, "dataset_version_id": dataset_version_id},
                              run=run)


class _Relay:
    """Hands train_model's progress and cancel polls to the job, at most every ``every`` seconds."""

    def __init__(self, control: jobs.JobControl, lo: float, hi: float, every: float = 0.5) -> None:
        self.control, self.lo, self.hi, self.every = control, lo, hi, every
        self._last_progress = self._last_check = 0.0

    def progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.every:
            self._last_progress = self._last_check = now
            self.control.progress(self.lo + (self.hi - self.lo) * fraction, message)  # raises JobCancelled

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self._last_check < self.every:
            return False
        self._last_check = now
        return self.control.should_cancel()


def _version_fields(m: ml.TrainedModel) -> tuple[dict[str, Any], dict[str, Any]]:
    metrics = dict(m.metrics)
    metrics.update(validation=m.validation_metrics, cv_results=m.cv_results, segments=m.segments,
                   global_importance=m.global_importance)
    params = {
        "hyperparameters": m.estimator_params, "task": m.task, "model_type": m.config.model_type,
        "target": m.target, "classes": m.classes, "positive_class": m.positive_class, "n_rows": m.n_rows,
        "excluded_columns": m.excluded_columns, "warnings": m.warnings, "interval": m.interval,
        "label": m.output_label,
    }
    return jsonable(metrics), jsonable(params)


@jobs.register(ML_KIND)
def _train_ml(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: train, evaluate, sign; the returned step stores the version in one transaction."""
    dataset_version_id = job.payload["dataset_version_id"]
    control.progress(0.02, "Loading the dataset")
    with tenant_session(control.tenant_id) as s:
        frame = store.load_dataset_frame(s, dataset_version_id)
    relay = _Relay(control, 0.05, 0.88)
    try:
        trained = ml.train_model(job.payload["config"], frame, progress=relay.progress,
                                 should_cancel=relay.should_cancel)
    except ml.Cancelled as exc:
        raise jobs.JobCancelled("Cancelled by a user before it finished; nothing was saved.") from exc
    control.progress(0.92, "Signing and saving the model")
    blob = ml.dump_artifact(trained, _artifact_key())
    metrics, params = _version_fields(trained)
    schema = [f.to_dict() for f in trained.feature_schema]
    config = trained.config.to_dict()

    def persist(s) -> int:
        version = store.add_model_version(
            s, tenant_id=control.tenant_id, model_id=job.model_id, algorithm=trained.algorithm, params=params,
            metrics=metrics, training_data_hash=trained.data_hash, library_versions=trained.versions,
            artifact_format=ARTIFACT_FORMAT, artifact=blob, training_seconds=trained.training_seconds,
            dataset_version_id=dataset_version_id, user_id=job.payload.get("user_id"),
        )
        ps.set_version_extras(s, version.id, feature_schema=jsonable(schema), config=jsonable(config))
        return version.id

    return persist


# ------------------------------------------------------------- versions
def version_details(principal: Principal, version_id: int) -> VersionDetails:
    """A version with its feature schema and configuration. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        record = store.get_model_version(s, version_id)
        schema, config = ps.version_extras(s, version_id)
    return VersionDetails(record, schema, config)


_COMPARE = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision"),
    "regression": ("mae", "rmse", "r2", "interval_coverage"),
    "clustering": ("silhouette",),
}


def compare_versions(principal: Principal, model_id: int, version_ids: list[int] | None = None) -> pd.DataFrame:
    """Held-out test metrics of a model's versions side by side. Needs ``read``.

    Returns
    -------
    pandas.DataFrame
        One row per version (newest first): ``version``, ``role``
        (champion/challenger/""), ``algorithm``, the task's metrics
        (classification: accuracy, precision, recall, f1, roc_auc,
        average_precision; regression: mae, rmse, r2, interval_coverage;
        clustering: silhouette, segments), ``test_rows``, ``train_seconds``,
        ``trained``.
    """
    require(principal, "read")
    versions = registry.list_versions(principal, model_id)
    if version_ids is not None:
        versions = [v for v in versions if v.id in set(version_ids)]
    rows = []
    for v in versions:
        task = v.params.get("task", "")
        row = {"version": v.version, "role": "champion" if v.is_active else "challenger" if v.is_challenger else "",
               "algorithm": v.algorithm}
        for key in _COMPARE.get(task, ()):
            row[key] = v.metrics.get(key)
        if task == "clustering":
            row["segments"] = len(v.metrics.get("cluster_sizes") or {})
        row.update(test_rows=v.metrics.get("n_rows"), train_seconds=round(v.training_seconds, 2),
                   trained=v.created_at)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- serving
def _load_model(tenant_id: int, version_id: int) -> ml.TrainedModel:
    """The verified model of a version, from the in-process cache or the database."""
    key = (tenant_id, version_id)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
    with tenant_session(tenant_id) as s:
        fmt, blob = store.get_artifact(s, version_id)
        number = store.get_model_version(s, version_id).version
    if fmt != ARTIFACT_FORMAT:
        raise ValidationError(f"Version {number} is not a predictive model (its artifact is {fmt}).",
                              field="model_id")
    try:
        model = ml.load_artifact(blob, _artifact_key())
    except ArtifactError as exc:
        raise ArtifactError(
            f"Version {number} of this model was refused and not loaded: {exc}. The stored model may have been "
            "tampered with, or the artifact key (AIHUB_ARTIFACT_KEY or artifact.key in the data folder) changed "
            "since it was trained. Restore the key, or retrain and deploy a new version.",
            details={"version_id": version_id, **exc.details},
        ) from exc
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def _forget_models() -> None:
    """Empty the in-process model cache (tests; a restarted process starts empty anyway)."""
    with _cache_lock:
        _cache.clear()


def _route(info: ps.ServingInfo) -> tuple[str, int, int]:
    """``(served_by, version id, version number)`` for one request."""
    _require_ml(info)
    if info.active_version_id is None:
        raise NotFound(f"Model '{info.name}' has no deployed version yet; deploy one on the Models page first.")
    if info.challenger_version_id is not None and info.challenger_share > 0 and _rng.random() < info.challenger_share:
        return "challenger", info.challenger_version_id, info.challenger_version
    return "champion", info.active_version_id, info.active_version


def _clean_values(model: ml.TrainedModel, values: dict[str, Any]) -> dict[str, Any]:
    """The model's features from ``values``, blanks as None and numeric text as numbers (for hashing)."""
    if not isinstance(values, dict):
        raise ValidationError("The input must map feature names to values.", field="values")
    out: dict[str, Any] = {}
    for spec in model.feature_schema:
        v = values.get(spec.name)
        if isinstance(v, str):
            v = v.strip()
        if v is None or v == "" or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out[spec.name] = None
        elif spec.kind == "numeric" and not isinstance(v, bool):
            try:
                f = float(v)
                out[spec.name] = f if math.isfinite(f) else None
            except (TypeError, ValueError):
                out[spec.name] = v  # validation names it
        else:
            out[spec.name] = jsonable(v) if not isinstance(v, str) else v
    return out


def _input_hash(clean: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def _prediction_text(task: str, output: dict[str, Any]) -> str:
    if task == "clustering":
        return str(output.get("segment") or "")
    p = output.get("prediction")
    if p is None:
        return ""
    return repr(float(p)) if task == "regression" else str(p)


def _range_notes(model: ml.TrainedModel, clean: dict[str, Any]) -> list[str]:
    """Numeric inputs outside the range seen in training (the prediction then extrapolates)."""
    notes = []
    for spec in model.feature_schema:
        v = clean.get(spec.name)
        if spec.kind != "numeric" or not isinstance(v, float) or spec.min is None or spec.max is None:
            continue
        if v < spec.min or v > spec.max:
            notes.append(f"{spec.name} = {v:,.6g} is outside the range seen in training ({spec.min:,.6g} to "
                         f"{spec.max:,.6g}); the prediction extrapolates")
    return notes


def _output_dict(model: ml.TrainedModel, res: dict[str, Any], explained: bool, notes: list[str] = ()
                 ) -> dict[str, Any]:
    out = {k: v for k, v in res.items() if k not in ("row", "error")}
    if notes:
        out["warning"] = "; ".join([*([out["warning"]] if out.get("warning") else []), *notes])
    out.update(task=model.task, label=model.output_label, explained=bool(explained and model.task != "clustering"))
    contributions = out.get("contributions")
    if contributions:
        total = float(sum(c["contribution"] for c in contributions))
        if out.get("output_space") == "log-odds" and out.get("probability") is not None:
            p = min(max(float(out["probability"]), 1e-12), 1 - 1e-12)
            value = math.log(p / (1 - p))
        elif out.get("output_space") == "probability" and out.get("probability") is not None:
            value = float(out["probability"])
        elif model.task == "regression":
            value = float(out["prediction"])
        else:
            value = None
        if value is not None:
            out["output_value"] = value
            out["base_value"] = value - total
    return jsonable(out)


def _insert(s, principal: Principal, model_id: int, columns: dict[str, list], batch_id: int | None = None
            ) -> list[tuple[int, int | None]]:
    return ps.insert_results(s, tenant_id=principal.tenant_id, model_id=model_id, batch_id=batch_id,
                             requested_by=principal.user_id, columns=columns)


def _store(s, principal: Principal, model_id: int, rows: list[dict[str, Any]]) -> list[tuple[int, int | None]]:
    return _insert(s, principal, model_id, {c: [r.get(c) for r in rows] for c in ps.RESULT_ARRAYS})


def _outcome(pid: int, model_id: int, vid: int, number: int, served_by: str, model: ml.TrainedModel,
             output: dict[str, Any], cache_hit: bool, latency_ms: float) -> PredictionOutcome:
    prediction = output.get("segment") if model.task == "clustering" else output.get("prediction")
    return PredictionOutcome(
        id=pid, model_id=model_id, version_id=vid, version=number, served_by=served_by, task=model.task,
        label=model.output_label, prediction=prediction, probability=output.get("probability"),
        confidence=output.get("confidence"), lower=output.get("lower"), upper=output.get("upper"),
        explanation=output.get("explanation"), contributions=list(output.get("contributions") or []),
        output=output, cache_hit=cache_hit, latency_ms=latency_ms,
    )


def predict_one(principal: Principal, model_id: int, values: dict[str, Any], *, explain: bool = True
                ) -> PredictionOutcome:
    """Predict one row given as ``{feature: value}``, with its reasons. Needs ``predict``.

    The champion or (for its share of traffic) the challenger serves. An
    identical input already predicted by the same version comes from the
    stored output (``cache_hit``). Every request is stored, failed ones too
    (they count in the error rate).

    Parameters
    ----------
    values : dict
        Feature values; missing or blank ones are imputed as in training.
    explain : bool, default True
        Add the SHAP contributions and the plain-language summary
        (classification and regression).

    Returns
    -------
    PredictionOutcome

    Raises
    ------
    ValidationError
        A value does not fit the feature schema (``field`` is the feature).
    NotFound
        The model has no deployed version, or is not in the caller's tenant.
    ArtifactError
        The stored model failed its signature check.
    """
    require(principal, "predict")
    usage.record(principal, "predict", "single")
    t0 = time.perf_counter()
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    served_by, vid, number = _route(info)
    model = _load_model(principal.tenant_id, vid)
    clean = _clean_values(model, values)
    digest = _input_hash(clean)
    row = {"model_version_id": vid, "served_by": served_by, "row_number": None,
           "input": json.dumps(clean, default=str),
           "input_hash": digest}
    with tenant_session(principal.tenant_id) as s:
        cached = ps.find_cached(s, vid, digest, explained=explain and model.task != "clustering")
        if cached is not None:
            ms = (time.perf_counter() - t0) * 1000
            row.update(output=json.dumps(cached), prediction=_prediction_text(model.task, cached),
                       probability=cached.get("probability"), confidence=cached.get("confidence"),
                       latency_ms=ms, cache_hit=True, error=None)
            (pid, _), = _store(s, principal, model_id, [row])
            return _outcome(pid, model_id, vid, number, served_by, model, cached, True, ms)
    try:
        res = ml.predict_one(model, clean, explain=explain)
    except ValidationError as exc:
        row.update(output="{}", prediction="", probability=None, confidence=None,
                   latency_ms=(time.perf_counter() - t0) * 1000, cache_hit=False, error=str(exc))
        with tenant_session(principal.tenant_id) as s:
            _store(s, principal, model_id, [row])
        raise
    output = _output_dict(model, res, explain, _range_notes(model, clean))
    ms = (time.perf_counter() - t0) * 1000
    row.update(output=json.dumps(output), prediction=_prediction_text(model.task, output),
               probability=output.get("probability"), confidence=output.get("confidence"), latency_ms=ms,
               cache_hit=False, error=None)
    with tenant_session(principal.tenant_id) as s:
        (pid, _), = _store(s, principal, model_id, [row])
    _tell_workflows(principal.tenant_id, events.PREDICTION_MADE, {
        "id": pid, "prediction_id": pid, "model_id": model_id, "model_version_id": vid,
        "prediction": output.get("prediction"), "probability": output.get("probability")})
    return _outcome(pid, model_id, vid, number, served_by, model, output, False, ms)


def _tell_workflows(tenant_id: int, event: str, payload: dict[str, Any]) -> None:
    events.publish(tenant_id, event, payload)


def _check_accuracy(principal: Principal, model_id: int) -> None:
    """After outcomes arrive: tell workflows when the serving version's live accuracy dropped past tolerance."""
    for acc in live_accuracy(principal, model_id):
        if acc.flagged and acc.role == "champion":
            baseline = acc.test_accuracy if acc.test_accuracy is not None else acc.test_mae
            live = acc.live_accuracy if acc.live_accuracy is not None else acc.live_mae
            drop = (baseline - live) if acc.test_accuracy is not None else (live - baseline) / baseline
            _tell_workflows(principal.tenant_id, events.ACCURACY_DROPPED, {
                "id": f"{model_id}:{acc.version_id}", "model_id": model_id, "model_version_id": acc.version_id,
                "baseline": baseline, "live": live, "drop": drop, "outcomes": acc.live_n})


def compare_predictions(principal: Principal, model_id: int, values_a: dict[str, Any], values_b: dict[str, Any]
                        ) -> ml.Comparison:
    """Which feature changes move the champion's prediction from row A to row B, and by how much. Needs ``predict``.

    Returns
    -------
    aihub.ml.Comparison
        ``output_a``, ``output_b``, ``table`` (feature, value_a, value_b,
        changed, effect; effects add up to the difference) and ``text``.
    """
    require(principal, "predict")
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    _require_ml(info)
    if info.active_version_id is None:
        raise NotFound(f"Model '{info.name}' has no deployed version yet; deploy one on the Models page first.")
    model = _load_model(principal.tenant_id, info.active_version_id)
    return ml.compare_predictions(model, _clean_values(model, values_a), _clean_values(model, values_b))


def prediction_form(principal: Principal, model_id: int) -> PredictionForm:
    """The champion's feature schema for the single-prediction form (no model loading). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
        _require_ml(info)
        if info.active_version_id is None:
            raise NotFound(f"Model '{info.name}' has no deployed version yet; deploy one on the Models page first.")
        schema, _ = ps.version_extras(s, info.active_version_id)
        params = ps.version_params(s, [info.active_version_id])[info.active_version_id]
    return PredictionForm(model_id, info.active_version_id, info.active_version, params.get("task", ""),
                          params.get("label", "Prediction"), schema, params.get("classes"),
                          params.get("positive_class"))


_ROW_RE = re.compile(r"\brow \d+:")


def predict_batch(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool = False
                  ) -> BatchOutcome:
    """Predict every row of an uploaded file and store each result. Needs ``predict``.

    Rows that fail validation are reported by row number (and file line)
    and stored with their error; the rest are predicted. With a challenger,
    each row is served by it with probability ``challenger_share``
    (models built from an orders table, RFM and customer value, serve a whole
    batch from one version, since their rows become customers). All rows are
    stored with one bulk ``INSERT ... SELECT FROM unnest``.

    Parameters
    ----------
    filename : str
        Its extension picks the reader (CSV, Excel, JSON; see :func:`aihub.ingest.read_upload`).
    data : bytes
    explain : bool, default False
        Add a one-sentence explanation and the top contributions per row
        (slower: SHAP for every row).

    Returns
    -------
    BatchOutcome

    Raises
    ------
    IngestError
        The file cannot be read.
    ValidationError
        The file lacks columns the model needs (all are named).
    """
    require(principal, "predict")
    usage.record(principal, "predict", "batch")
    store_batch = _prepare_batch(principal, model_id, filename, data, explain=explain)
    with tenant_session(principal.tenant_id) as s:
        return store_batch(s)


def _prepare_batch(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool
                   ) -> Callable[[Any], BatchOutcome]:
    """Read and predict a batch file; the returned step stores every row (one bulk insert) in a session."""
    t0 = time.perf_counter()
    parsed = ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes)
    frame = parsed.frame
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    served, vid, number = _route(info)
    champion = _load_model(principal.tenant_id, info.active_version_id)
    lines: list[int] | None = parsed.row_numbers or list(range(2, len(frame) + 2))
    parts: list[tuple[str, int, int, ml.TrainedModel, pd.DataFrame]] = []
    if champion.config.data_prep is not None:
        from aihub.ml.predict import prepare_input

        model = champion if served == "champion" else _load_model(principal.tenant_id, vid)
        frame = prepare_input(model, frame).reset_index(drop=True)
        lines = None
        parts.append((served, vid, number, model, frame))
    else:
        share = info.challenger_share if info.challenger_version_id is not None else 0.0
        to_challenger = np.asarray([_rng.random() < share for _ in range(len(frame))], dtype=bool) \
            if share > 0 else np.zeros(len(frame), dtype=bool)
        parts.append(("champion", info.active_version_id, info.active_version, champion, frame[~to_challenger]))
        if to_challenger.any():
            challenger = _load_model(principal.tenant_id, info.challenger_version_id)
            parts.append(("challenger", info.challenger_version_id, info.challenger_version, challenger,
                          frame[to_challenger]))
    if frame.empty:
        raise ValidationError(f"{filename} has no rows to predict.", field="file")
    outs = []
    for served_by, version_id, version_number, model, sub in parts:
        if len(sub) == 0:
            continue
        out = ml.predict(model, sub, explain=explain)
        out["served_by"], out["model_version_id"], out["version"] = served_by, version_id, version_number
        outs.append(out)
    result = pd.concat(outs).sort_index() if len(outs) > 1 else outs[0]
    result["row"] = np.arange(1, len(result) + 1)
    for col in ("error", "warning"):  # messages number rows within each version's share; renumber them
        has = result[col].notna().to_numpy()
        if has.any():
            result.loc[has, col] = [_ROW_RE.sub(f"row {r}:", m) for r, m in
                                    zip(result.loc[has, "row"], result.loc[has, col])]
    task = champion.task
    meta = ["row", "served_by", "model_version_id", "version", "error", "warning"]
    out_cols = [c for c in result.columns if c not in meta and c != "customer"]
    failed = result["error"].notna().to_numpy()
    errors = [{"row": int(r), "line": (lines[int(r) - 1] if lines else None), "message": m}
              for r, m in zip(result.loc[failed, "row"], result.loc[failed, "error"])]

    inputs = frame.to_json(orient="records", lines=True, date_format="iso").splitlines() if len(frame) else []
    outputs = result[out_cols].to_json(orient="records", lines=True, date_format="iso").splitlines()
    if task == "clustering":
        preds = result["segment"]
    elif task == "regression":
        preds = result["prediction"].map(lambda v: "" if v is None or pd.isna(v) else repr(float(v)))
    else:
        preds = result["prediction"]
    preds = ["" if p is None or (isinstance(p, float) and math.isnan(p)) else str(p) for p in preds]

    def floats(col: str) -> list[float | None]:
        if col not in result.columns:
            return [None] * len(result)
        return [None if pd.isna(v) else float(v) for v in result[col].to_numpy(dtype=float, na_value=np.nan)]

    n = len(result)
    per_row_ms = (time.perf_counter() - t0) * 1000 / n
    columns = {
        "model_version_id": result["model_version_id"].astype(int).tolist(),
        "served_by": result["served_by"].tolist(),
        "row_number": result["row"].astype(int).tolist(),
        "input": inputs,
        "input_hash": [hashlib.sha256(x.encode()).hexdigest() for x in inputs],
        "output": outputs,
        "prediction": preds,
        "probability": floats("probability"),
        "confidence": floats("confidence"),
        "latency_ms": [per_row_ms] * n,
        "cache_hit": [False] * n,
        "error": [None if pd.isna(e) else str(e) for e in result["error"]],
    }

    def store_batch(s) -> BatchOutcome:
        batch_id = ps.add_batch(s, tenant_id=principal.tenant_id, model_id=model_id, filename=filename,
                                rows_total=n, rows_predicted=int(n - failed.sum()), rows_failed=int(failed.sum()),
                                errors=jsonable(errors[:MAX_BATCH_ERRORS]), seconds=0.0, user_id=principal.user_id)
        ids = {r: i for i, r in _insert(s, principal, model_id, columns, batch_id)}
        ps.set_batch_seconds(s, batch_id, time.perf_counter() - t0)
        batch = ps.get_batch(s, batch_id)
        inputs_frame = frame.reset_index(drop=True)
        clash = [c for c in inputs_frame.columns if c in out_cols or c in meta or c == "prediction_id"]
        inputs_frame = inputs_frame.rename(columns={c: f"input_{c}" for c in clash})
        tidy = result.reset_index(drop=True)
        download = pd.concat(
            [pd.DataFrame({"prediction_id": [ids[int(r)] for r in tidy["row"]], "row": tidy["row"]}), inputs_frame,
             tidy[out_cols + ["served_by", "version", "error", "warning"]]],
            axis=1,
        )
        return BatchOutcome(batch, download, errors)

    return store_batch


#: Job kind of a batch prediction submitted to run in the background (the HTTP API's batch route).
BATCH_KIND = "batch_predict"


def submit_batch(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool = False,
                 run: bool = True) -> store.JobRecord:
    """Queue a batch prediction as a job (like training: poll it, cancel it). Needs ``predict``.

    The file is read now, so an unreadable file is refused at once naming
    the file, column and row; the rows are predicted by the job and stored
    in one transaction when it finishes (a cancelled or failed job stores
    none). The finished job's payload holds ``batch_id``, ``rows_total`` and
    ``rows_failed``; the file's bytes are dropped from it then.

    Raises
    ------
    IngestError
        The file cannot be read.
    ValidationError
        The model is not a predictive model.
    NotFound
        No such model in the caller's organization, or it has no deployed version.
    """
    import base64

    require(principal, "predict")
    ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes)
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    _route(info)
    payload = {"filename": filename, "data": base64.b64encode(data).decode(), "explain": bool(explain),
               "user_id": principal.user_id}
    return jobs.submit(principal.tenant_id, model_id, BATCH_KIND, payload, principal.user_id, run=run)


@jobs.register(BATCH_KIND)
def _batch_job(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: predict the file as the user who submitted it; the returned step stores the rows."""
    import base64

    from aihub.auth import acting_principal

    user_id = job.payload.get("user_id")
    principal = acting_principal(control.tenant_id, user_id)
    if user_id is None or principal.user_id != user_id:
        raise NotFound("The user who submitted this batch is no longer active; nothing was predicted.")
    control.progress(0.05, "Predicting the rows")
    require(principal, "predict")
    usage.record(principal, "predict", "batch")
    store_batch = _prepare_batch(principal, job.model_id, job.payload["filename"],
                                 base64.b64decode(job.payload["data"]), explain=bool(job.payload.get("explain")))
    control.progress(0.9, "Storing the predictions")

    def persist(s) -> None:
        out = store_batch(s)
        store.update_job(s, job.id, payload={"filename": job.payload["filename"], "batch_id": out.batch.id,
                                             "rows_total": out.batch.rows_total, "rows_failed": out.batch.rows_failed,
                                             "user_id": user_id})

    return persist


def list_batches(principal: Principal, model_id: int | None = None, limit: int = 20) -> list[ps.BatchRecord]:
    """Latest batch predictions, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.list_batches(s, model_id, limit)


def get_batch(principal: Principal, batch_id: int) -> ps.BatchRecord:
    """One batch prediction's counts and failed rows. Needs ``read``. Raises NotFound outside the tenant."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.get_batch(s, batch_id)


def batch_results(principal: Principal, batch_id: int) -> pd.DataFrame:
    """A stored batch's rows again (for download later): id, row, inputs, outputs, version, error. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        ps.get_batch(s, batch_id)
        rows = ps.batch_rows(s, batch_id)
    if not rows:
        return pd.DataFrame(columns=["prediction_id", "row"])
    inputs = pd.DataFrame([r[4] for r in rows])
    outputs = pd.DataFrame([r[5] for r in rows])
    inputs = inputs.rename(columns={c: f"input_{c}" for c in inputs.columns if c in outputs.columns})
    head = pd.DataFrame({"prediction_id": [r[0] for r in rows], "row": [r[1] for r in rows]})
    tail = pd.DataFrame({"served_by": [r[2] for r in rows], "version": [r[3] for r in rows],
                         "error": [r[6] for r in rows]})
    return pd.concat([head, inputs, outputs, tail], axis=1)


def list_predictions(principal: Principal, model_id: int, *, batch_id: int | None = None, single_only: bool = False,
                     limit: int = 50, before_id: int | None = None) -> list[ps.PredictionRecord]:
    """Latest stored predictions of a model, newest first (a batch's in row order). Needs ``read``.

    ``before_id`` continues a newest-first list after that prediction (cursor pages).
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.list_predictions(s, model_id, batch_id=batch_id, single_only=single_only, limit=limit,
                                   before_id=before_id)


def page_predictions(principal: Principal, model_id: int, *, cursor: str | None = None, limit: int | None = None,
                     single_only: bool = False) -> Page[ps.PredictionRecord]:
    """One cursor page of a model's prediction history, newest first. Needs ``read``.

    Raises
    ------
    NotFound
        If the model is not in the caller's organization.
    ValidationError
        For a bad cursor or a limit outside 1 to 500.
    """
    require(principal, "read")
    before, n = decode_cursor(cursor), check_limit(limit)
    with tenant_session(principal.tenant_id) as s:
        ps.serving_info(s, model_id)
        rows = ps.list_predictions(s, model_id, single_only=single_only, limit=n + 1, before_id=before)
    return page_of(rows, n)


def get_prediction(principal: Principal, prediction_id: int) -> ps.PredictionRecord:
    """One stored prediction. Needs ``read``. Raises NotFound outside the tenant."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.get_prediction(s, prediction_id)


# ---------------------------------------------------------------- feedback
def _canonical_actual(actual: Any, params: dict[str, Any]) -> str:
    """The outcome as the prediction would spell it; ValidationError when it cannot be one."""
    task = params.get("task")
    text = "" if actual is None or (isinstance(actual, float) and math.isnan(actual)) else str(actual).strip()
    if not text:
        raise ValidationError("The actual outcome is blank.", field="actual")
    if task == "clustering":
        raise ValidationError("Segmentation models have no outcome to record.", field="actual")
    if task == "regression":
        try:
            value = float(text.replace(",", ""))
        except ValueError:
            raise ValidationError(f"The actual value must be a number; got {text!r}.", field="actual") from None
        if not math.isfinite(value):
            raise ValidationError(f"The actual value must be a finite number; got {text!r}.", field="actual")
        return repr(value)
    classes = [str(c) for c in (params.get("classes") or [])]
    for c in classes:
        if text == c:
            return c
    for c in classes:
        if text.lower() == c.lower():
            return c
    try:
        num = float(text)
        for c in classes:
            try:
                if float(c) == num:
                    return c
            except ValueError:
                continue
    except ValueError:
        pass
    raise ValidationError(f"The actual outcome must be one of {', '.join(classes)}; got {text!r}.", field="actual",
                          details={"allowed": classes})


def record_outcome(principal: Principal, prediction_id: int, actual: Any) -> ps.PredictionRecord:
    """Record what actually happened for one prediction. Needs ``feedback``.

    Parameters
    ----------
    actual : Any
        A class of the model (case-insensitive; ``1`` matches ``1.0``) or, for
        value models, a number.

    Raises
    ------
    ValidationError
        The outcome is not a class of the model (all are named) or not a number.
    NotFound
        No such prediction in the caller's tenant.
    """
    require(principal, "feedback")
    with tenant_session(principal.tenant_id) as s:
        versions = ps.prediction_versions(s, [prediction_id])
        if prediction_id not in versions:
            raise NotFound(f"No prediction {prediction_id} in your organization.")
        params = ps.version_params(s, [versions[prediction_id]])[versions[prediction_id]]
        ps.record_actual(s, prediction_id, _canonical_actual(actual, params), principal.user_id)
        record = ps.get_prediction(s, prediction_id)
    _check_accuracy(principal, record.model_id)
    return record


_ID_COLUMNS = ("prediction_id", "id", "prediction id")
_ACTUAL_COLUMNS = ("actual", "outcome", "actual_outcome", "actual outcome")


def record_outcomes(principal: Principal, filename: str, data: bytes) -> FeedbackOutcome:
    """Record outcomes from an uploaded file with columns ``prediction_id`` and ``actual``. Needs ``feedback``.

    Rows with an unknown id, a blank outcome or an outcome that is not a
    class of the model are reported by row and file line; the others are
    recorded in one bulk update. A repeated id keeps its last outcome.

    Raises
    ------
    IngestError
        The file cannot be read.
    ValidationError
        The file lacks the id or outcome column.
    """
    require(principal, "feedback")
    parsed = ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes)
    frame = parsed.frame
    by_norm = {str(c).strip().lower(): c for c in frame.columns}
    id_col = next((by_norm[c] for c in _ID_COLUMNS if c in by_norm), None)
    actual_col = next((by_norm[c] for c in _ACTUAL_COLUMNS if c in by_norm), None)
    if id_col is None or actual_col is None:
        raise ValidationError(
            f"{filename} needs the columns prediction_id and actual (found: {_columns_phrase(list(map(str, frame.columns)))}). "
            "Download batch results to get the prediction ids.", field="file")
    lines = parsed.row_numbers or list(range(2, len(frame) + 2))
    errors: list[dict[str, Any]] = []
    wanted: dict[int, tuple[int, str]] = {}
    for i, (raw_id, actual) in enumerate(zip(frame[id_col], frame[actual_col])):
        row = i + 1
        try:
            pid = int(float(str(raw_id).strip()))
        except ValueError:
            errors.append({"row": row, "line": lines[i], "message": f"row {row}: prediction_id {raw_id!r} is not a number"})
            continue
        wanted[pid] = (row, actual)
    return _record_wanted(principal, wanted, lines, errors)


def record_outcome_list(principal: Principal, outcomes: list[tuple[int, Any]]) -> FeedbackOutcome:
    """Record many outcomes given as ``(prediction_id, actual)`` pairs (the API's JSON form). Needs ``feedback``.

    Like :func:`record_outcomes`: pairs with an unknown id or an outcome that
    is not a class of the model are reported by their 1-based position
    (``row``; ``line`` is None) and the others recorded in one bulk update.

    Raises
    ------
    ValidationError
        If no pair is given, or more than 10,000.
    """
    require(principal, "feedback")
    if not outcomes or len(outcomes) > 10_000:
        raise ValidationError("Give 1 to 10,000 outcomes.", field="outcomes")
    wanted = {int(pid): (i + 1, actual) for i, (pid, actual) in enumerate(outcomes)}
    return _record_wanted(principal, wanted, [None] * len(outcomes), [])


def _record_wanted(principal: Principal, wanted: dict[int, tuple[int, Any]], lines: list[int | None],
                   errors: list[dict[str, Any]]) -> FeedbackOutcome:
    """Store ``{prediction id: (row, actual)}`` in one bulk update; rows that cannot be recorded join ``errors``."""
    with tenant_session(principal.tenant_id) as s:
        versions = ps.prediction_versions(s, list(wanted))
        params = ps.version_params(s, sorted(set(versions.values())))
        ids, actuals = [], []
        for pid, (row, actual) in wanted.items():
            if pid not in versions:
                errors.append({"row": row, "line": lines[row - 1],
                               "message": f"row {row}: no prediction {pid} in your organization"})
                continue
            try:
                actuals.append(_canonical_actual(actual, params[versions[pid]]))
                ids.append(pid)
            except ValidationError as exc:
                errors.append({"row": row, "line": lines[row - 1], "message": f"row {row}: {exc}"})
        updated = ps.record_actuals(s, ids, actuals, principal.user_id)
        models = ps.models_of(s, ids)
    for model_id in sorted(models):
        _check_accuracy(principal, model_id)
    errors.sort(key=lambda e: e["row"])
    return FeedbackOutcome(updated, errors)


def live_accuracy(principal: Principal, model_id: int) -> list[VersionAccuracy]:
    """Test accuracy next to the accuracy outcomes show, per version, with drops flagged. Needs ``read``.

    Classification compares accuracy (a drop of more than the model's
    tolerance, default 0.05, is flagged); regression compares MAE (flagged
    when live MAE exceeds test MAE by more than tolerance x test MAE). A
    version needs :data:`MIN_FEEDBACK` outcomes before it is flagged.

    Returns
    -------
    list of VersionAccuracy
        Newest version first.
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        model = store.get_model(s, model_id)
        versions = store.list_model_versions(s, model_id)
        feedback = ps.feedback_stats(s, model_id)
    _require_ml(model)
    tol = _tolerance(model.config)
    out = []
    for v in versions:
        task = v.params.get("task", "")
        fb = feedback.get(v.id)
        n = fb.n if fb else 0
        test_acc, test_mae = v.metrics.get("accuracy"), v.metrics.get("mae")
        live_acc = fb.accuracy if fb and task == "classification" else None
        live_mae = fb.mae if fb and task == "regression" and fb.n_numeric else None
        flagged, message = False, ""
        if task == "clustering":
            message = "Segmentation has no outcome to compare."
        elif n == 0:
            message = "No outcomes recorded yet."
        elif task == "classification" and test_acc is not None and live_acc is not None:
            drop = test_acc - live_acc
            flagged = n >= MIN_FEEDBACK and drop > tol
            message = (f"Live accuracy {live_acc:.2f} on {n} outcome(s) vs test accuracy {test_acc:.2f}"
                       + (f": a drop of {drop:.2f}, beyond the tolerance of {tol:.2f}. Retrain on recent data "
                          "or roll back." if flagged else
                          f" (within the tolerance of {tol:.2f})." if n >= MIN_FEEDBACK else
                          f"; {MIN_FEEDBACK - n} more needed before a drop is flagged."))
        elif task == "regression" and test_mae is not None and live_mae is not None:
            flagged = n >= MIN_FEEDBACK and live_mae > test_mae * (1 + tol)
            message = (f"Live MAE {live_mae:,.2f} on {n} outcome(s) vs test MAE {test_mae:,.2f}"
                       + (f": more than {tol:.0%} worse. Retrain on recent data or roll back." if flagged else "."))
        role = "champion" if v.is_active else "challenger" if v.is_challenger else ""
        out.append(VersionAccuracy(v.id, v.version, role, task, test_acc, live_acc, test_mae, live_mae, n, tol,
                                   flagged, message))
    return out


def set_accuracy_tolerance(principal: Principal, model_id: int, tolerance: float) -> store.ModelRecord:
    """Set how far live accuracy may fall below test accuracy before a version is flagged. Needs ``update``.

    Raises
    ------
    ValidationError
        Unless ``0 < tolerance <= 1``.
    """
    require(principal, "update")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 < tolerance <= 1:
        raise ValidationError(f"The tolerance must be a number above 0 and at most 1 (e.g. 0.05 for 5 points); "
                              f"got {tolerance!r}.", field="accuracy_tolerance")
    with tenant_session(principal.tenant_id) as s:
        model = store.get_model(s, model_id)
        _require_ml(model)
        ps.update_model_config(s, model_id, {**model.config, "accuracy_tolerance": float(tolerance)})
        return store.get_model(s, model_id)


def serving_stats(principal: Principal, model_id: int) -> ps.ServingStats:
    """Count, error rate, cache hit rate and latency p50/p95/p99 of a model (SQL aggregates). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        store.get_model(s, model_id)
        return ps.serving_stats(s, model_id)


def list_models(principal: Principal) -> list[store.ModelRecord]:
    """Predictive models of the caller's tenant, newest first. Needs ``read``."""
    return registry.list_models(principal, ML_KIND)

=======
from aihub.services.batch_predictions import MAX_BATCH_ERRORS, BatchOutcome, batch_results, list_batches, predict_batch
from aihub.services.model_cache import MODEL_CACHE_SIZE
from aihub.services.model_cache import forget as _forget_models
from aihub.services.model_cache import load as _load_model
from aihub.services.model_config import (
    ARTIFACT_FORMAT,
    DEFAULT_TOLERANCE,
    ML_KIND,
    check_config,
    feature_warnings,
    form_options,
    template_config,
)
from aihub.services.model_training import (
    VersionDetails,
    compare_versions,
    create_model,
    list_models,
    train,
    version_details,
)
from aihub.services.outcomes import (
    MIN_FEEDBACK,
    FeedbackOutcome,
    VersionAccuracy,
    live_accuracy,
    record_outcome,
    record_outcomes,
    set_accuracy_tolerance,
)
from aihub.services.predictions import (
    PredictionForm,
    PredictionOutcome,
    compare_predictions,
    get_prediction,
    list_predictions,
    predict_one,
    prediction_form,
    serving_stats,
)

__all__ = [
    "ARTIFACT_FORMAT", "DEFAULT_TOLERANCE", "MAX_BATCH_ERRORS", "MIN_FEEDBACK", "ML_KIND", "MODEL_CACHE_SIZE",
    "BatchOutcome", "FeedbackOutcome", "PredictionForm", "PredictionOutcome", "VersionAccuracy", "VersionDetails",
    "_forget_models", "_load_model", "batch_results", "check_config", "compare_predictions", "compare_versions",
    "create_model", "feature_warnings", "form_options", "get_prediction", "list_batches", "list_models",
    "list_predictions", "live_accuracy", "predict_batch", "predict_one", "prediction_form", "record_outcome",
    "record_outcomes", "serving_stats", "set_accuracy_tolerance", "template_config", "train", "version_details",
]
>>>>>>> main
