"""Predictive models: create, train as a job, and read versions back.

A trained version stores its held-out test metrics (plus ``validation``,
``cv_results``, ``segments`` and ``global_importance``) in ``metrics``; in
``params`` the task, the target's kind, classes, positive class (and why it
was chosen), the score's name, the decision threshold, calibration, row
counts and the final hyperparameters; the feature schema (with what was done
to each column) and the exact configuration in ``feature_schema`` and
``config``; and the fitted pipeline as a signed artifact
(:func:`aihub.ml.dump_artifact`, see :mod:`aihub.services.model_cache`).

A failed training job is recorded with a reason in the analyst's words; an
unexpected library error goes to the log with a reference id that the
message quotes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from aihub import ml
from aihub.auth import Principal, require
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import AihubError, ValidationError
from aihub.jsonsafe import plain
from aihub.services import jobs, registry, usage
from aihub.services.model_cache import artifact_key
from aihub.services.model_config import (
    ARTIFACT_FORMAT,
    DEFAULT_TOLERANCE,
    ML_KIND,
    TASK_METRICS,
    dataset_frame,
    library_failure,
    require_ml,
    sentence,
    validated,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionDetails:
    """A version's record with its feature schema and training configuration."""

    record: store.ModelVersionRecord
    feature_schema: list[dict[str, Any]]
    config: dict[str, Any]

    @property
    def task(self) -> str | None:
        return self.record.params.get("task")


# ---------------------------------------------------------------- training
def create_model(principal: Principal, raw: dict[str, Any], dataset_id: int, *, run: bool = True
                 ) -> tuple[store.ModelRecord, store.JobRecord]:
    """Create a predictive model from a configuration and queue its first training. Needs ``create``.

    Parameters
    ----------
    raw : dict
        :class:`aihub.ml.TrainingConfig` fields (the JSON shape of the form,
        see :func:`aihub.services.model_config.build_config`). A churn or
        lead-scoring config without ``target`` gets the dataset's outcome
        column found by name.
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
        Naming the bad field and its allowed values, or the target column and
        why it cannot be used (constant, all missing, an id...).
    Conflict
        If the tenant has a model of that name (unless it is this form's
        earlier attempt: same dataset, no version, no job under way; then
        that model is trained again with the new configuration).
    """
    require(principal, "create")
    _, frame = dataset_frame(principal, dataset_id)
    cfg = validated(raw, frame)
    config = {"training": cfg.to_dict(), "accuracy_tolerance": DEFAULT_TOLERANCE}
    with tenant_session(principal.tenant_id) as s:
        retry = _failed_namesake(s, cfg.model_name, dataset_id)
        if retry is not None:  # the form's retry after a failed first training: same model, new configuration
            ps.update_model_config(s, retry.id, {**retry.config, **config})
            model = store.get_model(s, retry.id)
        else:
            model = store.create_model(s, tenant_id=principal.tenant_id, name=cfg.model_name, kind=ML_KIND,
                                       dataset_id=dataset_id, user_id=principal.user_id, config=config)
    return model, train(principal, model.id, run=run)


def _failed_namesake(s, name: str, dataset_id: int) -> store.ModelRecord | None:
    """A predictive model of this name on this dataset that has no version and no job under way."""
    model = next((m for m in store.list_models(s, ML_KIND) if m.name == name), None)
    if model is None or model.dataset_id != dataset_id or model.versions:
        return None
    if any(not j.done for j in store.list_jobs(s, model.id, 5)):
        return None
    return model


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
    require_ml(model)
    if model.dataset_id is None:
        raise ValidationError(f"The dataset of model '{model.name}' was deleted; create a new model on another "
                              "dataset.", field="dataset_id")
    if config is None:
        cfg = model.config["training"]
        with tenant_session(principal.tenant_id) as s:
            dataset_version_id = store.latest_dataset_version_id(s, model.dataset_id)
    else:
        dataset_version_id, frame = dataset_frame(principal, model.dataset_id)
        cfg = validated({**config, "model_name": model.name}, frame).to_dict()
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


def target_kind(m: ml.TrainedModel) -> str:
    """``"binary"``, ``"multiclass"``, ``"amounts"`` or ``"segments"``: what the target was read as."""
    if m.task == "classification":
        return "binary" if len(m.classes or []) == 2 else "multiclass"
    return "amounts" if m.task == "regression" else "segments"


def version_fields(m: ml.TrainedModel) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metrics, params)`` stored with a version of ``m``."""
    metrics = dict(m.metrics)
    metrics.update(validation=m.validation_metrics, cv_results=m.cv_results, segments=m.segments,
                   global_importance=m.global_importance)
    info = m.target_info or {}
    params = {
        "hyperparameters": m.estimator_params, "task": m.task, "model_type": m.config.model_type,
        "target": m.target, "target_kind": target_kind(m), "target_choices": info.get("choices"),
        "classes": m.classes, "class_counts": info.get("counts"), "positive_class": m.positive_class,
        "positive_reason": info.get("positive_reason"), "score_name": m.score_name,
        "threshold": m.threshold, "calibration": (m.calibration or {}).get("method"),
        "n_rows": m.n_rows, "excluded_columns": m.excluded_columns, "warnings": m.warnings,
        "interval": m.interval, "label": m.output_label,
    }
    return plain(metrics), plain(params)


def _fit(job: store.JobRecord, frame: pd.DataFrame, relay: _Relay) -> ml.TrainedModel:
    """Train; every refusal in the analyst's words, a library failure logged under a reference id."""
    try:
        return ml.train_model(job.payload["config"], frame, progress=relay.progress,
                              should_cancel=relay.should_cancel)
    except ml.Cancelled as exc:
        raise jobs.JobCancelled("Cancelled by a user before it finished; nothing was saved.") from exc
    except AihubError as exc:
        if isinstance(exc, jobs.JobCancelled):
            raise
        raise type(exc)(sentence(str(exc)), field=exc.field, details=exc.details) from exc
    except Exception as exc:  # a library's internal error: the trace to the log, a reference to the analyst
        raise library_failure(log, "Training could not finish", "Try another algorithm, or fewer or other input "
                              "columns; earlier versions are unchanged.",
                              f"training job {job.id} (model {job.model_id})") from exc


@jobs.register(ML_KIND)
def train_ml_job(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: train, evaluate, sign; the returned step stores the version in one transaction."""
    dataset_version_id = job.payload["dataset_version_id"]
    control.progress(0.02, "Loading the dataset")
    with tenant_session(control.tenant_id) as s:
        frame = store.load_dataset_frame(s, dataset_version_id)
    trained = _fit(job, frame, _Relay(control, 0.05, 0.88))
    control.progress(0.92, "Signing and saving the model")
    blob = ml.dump_artifact(trained, artifact_key())
    metrics, params = version_fields(trained)
    schema = [f.to_dict() for f in trained.feature_schema]
    config = trained.config.to_dict()

    def persist(s) -> int:
        version = store.add_model_version(
            s, tenant_id=control.tenant_id, model_id=job.model_id, algorithm=trained.algorithm, params=params,
            metrics=metrics, training_data_hash=trained.data_hash, library_versions=trained.versions,
            artifact_format=ARTIFACT_FORMAT, artifact=blob, training_seconds=trained.training_seconds,
            dataset_version_id=dataset_version_id, user_id=job.payload.get("user_id"),
        )
        ps.set_version_extras(s, version.id, feature_schema=plain(schema), config=plain(config))
        return version.id

    return persist


# ------------------------------------------------------------- versions
def list_models(principal: Principal) -> list[store.ModelRecord]:
    """Predictive models of the caller's tenant, newest first. Needs ``read``."""
    return registry.list_models(principal, ML_KIND)


def version_details(principal: Principal, version_id: int) -> VersionDetails:
    """A version with its feature schema and configuration. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        record = store.get_model_version(s, version_id)
        schema, config = ps.version_extras(s, version_id)
    return VersionDetails(record, schema, config)


def quality_notes(version: store.ModelVersionRecord) -> list[str]:
    """Plain warnings when a version does no better than a naive rule on its test rows.

    Classification: ROC AUC at most 0.55 (chance is 0.5), or accuracy not
    above always predicting the most common class; regression: R² at most 0
    (no better than predicting the average). Empty when none applies.
    """
    m, p = version.metrics, version.params
    notes = []
    if p.get("task") == "classification":
        auc, acc = m.get("roc_auc"), m.get("accuracy")
        counts, classes = p.get("class_counts") or [], p.get("classes") or []
        if auc is not None and auc <= 0.55:
            notes.append(f"The score ranks outcomes barely better than chance on the test rows (ROC AUC {auc:.2f}; "
                         "chance is 0.50). Add inputs that relate to the outcome before relying on it.")
        if acc is not None and counts and sum(counts):
            k = max(range(len(counts)), key=counts.__getitem__)
            share = counts[k] / sum(counts)
            if acc <= share:
                notes.append(f"Accuracy {acc:.0%} is no better than always predicting '{classes[k]}' "
                             f"({share:.0%} of rows).")
    elif p.get("task") == "regression" and m.get("r2") is not None and m["r2"] <= 0:
        notes.append(f"This model did worse than predicting the average for every row on the test rows "
                     f"(R² {m['r2']:.2f}).")
    return notes


def compare_versions(principal: Principal, model_id: int, version_ids: list[int] | None = None) -> pd.DataFrame:
    """Held-out test metrics of a model's versions side by side. Needs ``read``.

    Returns
    -------
    pandas.DataFrame
        One row per version (newest first): ``version``, ``role``
        (champion/challenger/""), ``algorithm``, the task's metrics
        (:data:`aihub.services.model_config.TASK_METRICS`; clustering adds
        ``segments``), ``test_rows``, ``train_seconds``, ``trained``.
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
        for key in TASK_METRICS.get(task, ()):
            row[key] = v.metrics.get(key)
        if task == "clustering":
            row["segments"] = len(v.metrics.get("cluster_sizes") or {})
        row.update(test_rows=v.metrics.get("n_rows"), train_seconds=round(v.training_seconds, 2),
                   trained=v.created_at)
        rows.append(row)
    return pd.DataFrame(rows)
