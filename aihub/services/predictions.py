"""Serving predictive models: one row with its reasons, two rows compared, the form, statistics.

The champion (``active_version_id``) serves; an optional challenger takes
``challenger_share`` of the traffic, drawn at random per request. Each
stored prediction records ``served_by`` and its version.

A prediction answered from the cache is **one** transaction: the read, then
its history row and usage event written in it (the history row is a product
feature, and the outcome of a prediction is recorded by its id, so it is
never deferred or dropped). A fresh single prediction is one read transaction (permission, routing, the
artifact when this process does not hold the model yet, and the stored
output of an identical earlier input) and one write transaction (the
prediction, the usage event and :data:`aihub.events.PREDICTION_MADE`, which
workflows match inside that same transaction through
:func:`aihub.events.publish_in`, inserting the runs it starts; a matching run
is handed to a runner after the commit). An input already predicted by the
same version is answered from the stored output (``cache_hit``), explanation
included. Binary scores are named after the positive class (``"P(bad)"``,
or the user's own label), never after the template.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from aihub import events, ml
from aihub.auth import Principal, require, require_in
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import AihubError, ConnectorError, NotFound, ValidationError
from aihub.jsonsafe import plain
from aihub.ml.external import ExternalModel
from aihub.paging import Page, check_limit, decode_cursor, page_of
from aihub.services import model_cache, usage
from aihub.services.model_config import library_failure, require_ml, sentence

log = logging.getLogger(__name__)
_rng = random.Random()
_ROW = re.compile(r"^row \d+:\s*")


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
        Name of the score or output: ``"P(bad)"``, the user's label, or
        ``"Predicted demand"``.
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
    positive_class : Any
        Binary classification: the class ``probability`` is about.
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
    positive_class: Any = None


@dataclass(frozen=True)
class PredictionForm:
    """What the single-prediction form needs, read from the champion's stored schema.

    Attributes
    ----------
    model_id, version_id, version : int
    task, label : str
        ``label`` names the score (``"P(bad)"``).
    features : list of dict
        :class:`aihub.ml.FeatureSpec` dicts: ``name``, ``kind``
        (numeric/categorical/date/text), ``min``, ``max``, ``median``,
        ``integer``, ``categories``, ``example``.
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


# ---------------------------------------------------------------- helpers
def route(info: ps.ServingInfo) -> tuple[str, int, int]:
    """``(served_by, version id, version number)`` for one request."""
    require_ml(info)
    if info.active_version_id is None:
        raise NotFound(f"Model '{info.name}' has no deployed version yet; deploy one on the Models page first.")
    if info.challenger_version_id is not None and info.challenger_share > 0 and _rng.random() < info.challenger_share:
        return "challenger", info.challenger_version_id, info.challenger_version
    return "champion", info.active_version_id, info.active_version


def clean_values(model: ml.TrainedModel, values: dict[str, Any]) -> dict[str, Any]:
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
            out[spec.name] = plain(v) if not isinstance(v, str) else v
    return out


def _input_hash(clean: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def prediction_text(task: str, output: dict[str, Any]) -> str:
    """The stored ``prediction`` column: the class, ``repr`` of the value, or the segment."""
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
    out.update(task=model.task, label=model.output_label, positive_class=model.positive_class,
               explained=bool(explained and model.task != "clustering" and res.get("explained", True)))
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
    return plain(out)


def insert(s, principal: Principal, model_id: int, columns: dict[str, list], batch_id: int | None = None
           ) -> list[tuple[int, int | None]]:
    """Store predictions given as columns (:data:`aihub.db.prediction_store.RESULT_ARRAYS`) in one statement."""
    return ps.insert_results(s, tenant_id=principal.tenant_id, model_id=model_id, batch_id=batch_id,
                             requested_by=principal.user_id, columns=columns)


def _outcome(pid: int, model_id: int, vid: int, number: int, served_by: str, model: ml.TrainedModel,
             output: dict[str, Any], cache_hit: bool, latency_ms: float) -> PredictionOutcome:
    prediction = output.get("segment") if model.task == "clustering" else output.get("prediction")
    return PredictionOutcome(
        id=pid, model_id=model_id, version_id=vid, version=number, served_by=served_by, task=model.task,
        label=model.output_label, prediction=prediction, probability=output.get("probability"),
        confidence=output.get("confidence"), lower=output.get("lower"), upper=output.get("upper"),
        explanation=output.get("explanation"), contributions=list(output.get("contributions") or []),
        output=output, cache_hit=cache_hit, latency_ms=latency_ms, positive_class=model.positive_class,
    )


# ---------------------------------------------------------------- serving
def predict_one(principal: Principal, model_id: int, values: dict[str, Any], *, explain: bool = True
                ) -> PredictionOutcome:
    """Predict one row given as ``{feature: value}``, with its reasons. Needs ``predict``.

    The champion or (for its share of traffic) the challenger serves. An
    identical input already predicted by the same version comes from the
    stored output (``cache_hit``). Every request is stored, failed ones too
    (they count in the error rate). One read and one write transaction; a cached answer one transaction.

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
    t0 = time.perf_counter()
    tenant = principal.tenant_id
    with tenant_session(tenant) as s:  # the read transaction (and, for a cached answer, its only one)
        require_in(s, principal, "predict")
        info = ps.serving_info(s, model_id)
        served_by, vid, number = route(info)
        model = model_cache.load_in(s, tenant, vid)
        clean = clean_values(model, values)
        digest = _input_hash(clean)
        explained = explain and model.task != "clustering"
        cached = model_cache.cached_output(tenant, vid, digest, explained=explained)
        if cached is None:  # not in memory or Redis: the stored predictions are the durable cache
            cached = ps.find_cached(s, vid, digest, explained=explained)
            if cached is not None:
                model_cache.remember_output(tenant, vid, digest, cached)
        row = {"model_version_id": vid, "served_by": served_by, "row_number": None,
               "input": json.dumps(clean, default=str), "input_hash": digest}
        if cached is not None:  # answered from the cache: its history row and usage in this same transaction
            ms = (time.perf_counter() - t0) * 1000
            pid = _record(s, principal, model_id, row, model.task, cached, True, ms)
    if cached is not None:
        return _outcome(pid, model_id, vid, number, served_by, model, cached, True, ms)
    error: AihubError | None = None
    try:
        res = ml.predict_one(model, clean, explain=explain)
        output = _output_dict(model, res, explain, _range_notes(model, clean))
    except ValidationError as exc:
        error, output = ValidationError(sentence(_ROW.sub("", str(exc))), field=exc.field,
                                        details=exc.details), {}
    except ConnectorError as exc:  # an external endpoint failed: its reason is the stored error
        error, output = exc, {}
    except Exception:  # noqa: BLE001 - a library error: the trace to the log, a reference to the analyst
        error, output = library_failure(log, "This prediction could not be made", "Check the values, or "
                                        "deploy another version.", f"prediction of model {model_id}"), {}
    ms = (time.perf_counter() - t0) * 1000
    after_commit = None
    with tenant_session(tenant) as s:  # the one write transaction: result, usage and the event
        pid = _record(s, principal, model_id, row, model.task, output, False, ms, error)
        if error is None:
            after_commit = events.publish_in(s, tenant, events.PREDICTION_MADE, {
                "id": pid, "prediction_id": pid, "model_id": model_id, "model_version_id": vid,
                "prediction": output.get("prediction"), "probability": output.get("probability")})
    if error is not None:
        raise error
    model_cache.remember_output(tenant, vid, digest, output)
    after_commit()
    return _outcome(pid, model_id, vid, number, served_by, model, output, False, ms)


def _record(s, principal: Principal, model_id: int, row: dict[str, Any], task: str, output: dict[str, Any],
            hit: bool, ms: float, error: AihubError | None = None) -> int:
    """Store one single prediction (its history row) and count its use, in the open session; returns its id."""
    full = dict(row, output=json.dumps(output), prediction=prediction_text(task, output) if output else "",
                probability=output.get("probability"), confidence=output.get("confidence"), latency_ms=ms,
                cache_hit=hit, error=None if error is None else str(error), warning=output.get("warning") or None)
    (pid, _), = insert(s, principal, model_id, {c: [full.get(c)] for c in ps.RESULT_ARRAYS})
    usage.record_in(s, principal, "predict", "single")
    return pid


def compare_predictions(principal: Principal, model_id: int, values_a: dict[str, Any], values_b: dict[str, Any]
                        ) -> ml.Comparison:
    """Which feature changes move the champion's prediction from row A to row B, and by how much. Needs ``predict``.

    Returns
    -------
    aihub.ml.Comparison
        ``output_a``, ``output_b``, ``table`` (feature, value_a, value_b,
        changed, effect; effects add up to the difference) and ``text``.
    """
    with tenant_session(principal.tenant_id) as s:
        require_in(s, principal, "predict")
        info = ps.serving_info(s, model_id)
        require_ml(info)
        if info.active_version_id is None:
            raise NotFound(f"Model '{info.name}' has no deployed version yet; deploy one on the Models page first.")
        model = model_cache.load_in(s, principal.tenant_id, info.active_version_id)
    if isinstance(model, ExternalModel):
        raise ValidationError("Comparing two customers is not available while an external endpoint is the champion "
                              "(its exact attribution would need many calls); predict each one with its reasons.",
                              field="model_id")
    return ml.compare_predictions(model, clean_values(model, values_a), clean_values(model, values_b))


def prediction_form(principal: Principal, model_id: int) -> PredictionForm:
    """The champion's feature schema for the single-prediction form (no model loading). Needs ``read``."""
    with tenant_session(principal.tenant_id) as s:
        require_in(s, principal, "read")
        info = ps.serving_info(s, model_id)
        require_ml(info)
        if info.active_version_id is None:
            raise NotFound(f"Model '{info.name}' has no deployed version yet; deploy one on the Models page first.")
        schema, _ = ps.version_extras(s, info.active_version_id)
        params = ps.version_params(s, [info.active_version_id])[info.active_version_id]
    return PredictionForm(model_id, info.active_version_id, info.active_version, params.get("task", ""),
                          params.get("score_name") or params.get("label", "Prediction"), schema,
                          params.get("classes"), params.get("positive_class"))


def list_predictions(principal: Principal, model_id: int, *, batch_id: int | None = None, single_only: bool = False,
                     limit: int = 50) -> list[ps.PredictionRecord]:
    """Latest stored predictions of a model, newest first (a batch's in row order). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.list_predictions(s, model_id, batch_id=batch_id, single_only=single_only, limit=limit)


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


def serving_stats(principal: Principal, model_id: int) -> ps.ServingStats:
    """Count, error rate, cache hit rate and latency p50/p95/p99 of a model (SQL aggregates). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        store.get_model(s, model_id)
        return ps.serving_stats(s, model_id)
