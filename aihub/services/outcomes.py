"""Outcomes and live accuracy: what actually happened, compared with what each version was tested at.

Record outcomes one at a time or from a file of ``prediction_id,actual``;
each version's live accuracy (classification) or MAE (regression) is shown
next to its test figure and flagged when it falls beyond the model's
tolerance (0.05 by default) with at least :data:`MIN_FEEDBACK` outcomes. A
flagged champion publishes :data:`aihub.events.ACCURACY_DROPPED`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aihub import events, ingest
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import NotFound, ValidationError
from aihub.services.model_config import columns_phrase, require_ml
from aihub.services.model_config import tolerance as model_tolerance

#: Outcomes a version needs before its live accuracy can be flagged.
MIN_FEEDBACK = 10


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
            f"{filename} needs the columns prediction_id and actual (found: {columns_phrase(list(map(str, frame.columns)))}). "
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
    require_ml(model)
    tol = model_tolerance(model.config)
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
        require_ml(model)
        ps.update_model_config(s, model_id, {**model.config, "accuracy_tolerance": float(tolerance)})
        return store.get_model(s, model_id)



def _check_accuracy(principal: Principal, model_id: int) -> None:
    """After outcomes arrive: tell workflows when the serving version's live accuracy dropped past tolerance."""
    for acc in live_accuracy(principal, model_id):
        if acc.flagged and acc.role == "champion":
            baseline = acc.test_accuracy if acc.test_accuracy is not None else acc.test_mae
            live = acc.live_accuracy if acc.live_accuracy is not None else acc.live_mae
            drop = (baseline - live) if acc.test_accuracy is not None else (live - baseline) / baseline
            events.publish(principal.tenant_id, events.ACCURACY_DROPPED, {
                "id": f"{model_id}:{acc.version_id}", "model_id": model_id, "model_version_id": acc.version_id,
                "baseline": baseline, "live": live, "drop": drop, "outcomes": acc.live_n})
