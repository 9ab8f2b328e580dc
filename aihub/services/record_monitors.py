"""Record monitors: a risk score for every row of a table (orders, payments, claims), and the analyst loop.

A record monitor fits :class:`aihub.anomaly.records.RecordScorer` on its
dataset's newest version and scores every row: a 0-to-1 risk, a band (low,
medium, high, critical) and the reasons in plain words. The flagged rows (band
medium or above, and at least the riskiest :data:`TOP_SHARE` of the rows; at
most :data:`MAX_STORED`) and every row an analyst decided on are stored and
listed, riskiest first. Analysts **confirm** or
**dismiss** flagged rows (:func:`decide`); the next scoring
(:func:`score_record_monitor`) trains the scorer's supervised model on those
decisions, so confirmations raise the precision of the top of the list (the
same loop as false-positive feedback on monitors).

Every public function takes the calling :class:`~aihub.auth.Principal` first
and checks its permission: ``read`` to look, ``create`` to add one, ``detect``
to score, ``feedback`` to confirm or dismiss, ``update`` to delete.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from aihub import queue
from aihub.anomaly.records import BANDS, RecordParams, RecordScorer, labels_from_column, parse_labels
from aihub.auth import Principal, acting_principal, require
from aihub.db import record_store, store
from aihub.db.record_store import RecordMonitorRecord, RecordScoreRecord
from aihub.db.session import tenant_session
from aihub.errors import AihubError, PermissionDenied, ValidationError
from aihub.jsonsafe import plain
from aihub.services.usage import record as record_usage
from aihub.userconfig import parse

log = logging.getLogger(__name__)

#: Most flagged rows stored per scoring (riskiest first); decided rows are always kept.
MAX_STORED = 2000
#: Share of the rows listed at least (the riskiest), also when a supervised model makes fewer rows reach a band.
TOP_SHARE = 0.05
DECISIONS: tuple[str, ...] = ("confirmed", "dismissed")
MAX_NOTE = 2000
_ROLES = ("id_col", "entity_col", "time_col", "group_col", "label_col", "context_col")
#: ``score(scorer, frame) -> scored`` used when a caller passes none (:func:`use_scorer`); None: ``scorer.score``.
_scorer: Callable[[RecordScorer, pd.DataFrame], pd.DataFrame] | None = None


def use_scorer(score: Callable[[RecordScorer, pd.DataFrame], pd.DataFrame] | None) -> None:
    """Score every record monitor with ``score(scorer, frame)`` unless the caller passes one (None: in-process).

    :func:`aihub.runtime.wiring.wire` sets the runtime's, which sends large tables to Dask when a cluster is
    configured (:func:`aihub.runtime.cluster_jobs.score_records_routed`) and scores the rest here.
    """
    global _scorer
    _scorer = score


def _check_params(raw: Any, columns: Iterable[str]) -> RecordParams:
    """Validate settings and that every column they name is in the dataset (``field`` = ``params.<role>``)."""
    if raw is None:
        raw = {}
    try:
        p = parse(RecordParams, raw, what="Record monitor settings")
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"params.{exc.field}" if exc.field else "params",
                              details=exc.details) from None
    have = list(columns)
    for role in _ROLES:
        col = getattr(p, role)
        if col is not None and col not in have:
            raise ValidationError(f"Column '{col}' ({role}) is not in the dataset; its columns are {have}.",
                                  field=f"params.{role}", details={"value": col, "allowed": have})
    for i, col in enumerate(p.exclude):
        if col not in have:
            raise ValidationError(f"Column '{col}' (exclude) is not in the dataset; its columns are {have}.",
                                  field=f"params.exclude[{i}]")
    return p


def create_record_monitor(principal: Principal, raw: Mapping[str, Any], *, dataset_id: int | None = None,
                          score: bool = True) -> RecordMonitorRecord:
    """Create a record monitor on a dataset and (by default) score it now.

    Parameters
    ----------
    raw : dict
        ``{"name": "Order risk", "dataset_id": 3, "params": {"id_col": "Row ID", "entity_col":
        "Customer ID", "time_col": "Order Date", "group_col": "Order ID", "exclude": ["Postal Code"]}}``
        (settings of :class:`aihub.anomaly.records.RecordParams`).
    dataset_id : int, optional
        Overrides ``raw["dataset_id"]``.
    score : bool, default True
        Score the newest version right away (needs ``detect`` too).

    Raises
    ------
    ValidationError
        ``field`` = ``name``, ``dataset_id`` or ``params.<setting>``.
    Conflict
        A record monitor of that name exists.
    NotFound
        The dataset is not in the caller's organization.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    if not isinstance(raw, Mapping):
        raise ValidationError("The record monitor must be an object with name, dataset_id and params.", field="config")
    unknown = sorted(set(raw) - {"name", "dataset_id", "params"})
    if unknown:
        raise ValidationError(f"Unknown key(s) {unknown}; allowed: name, dataset_id, params.", field=unknown[0])
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 150:
        raise ValidationError("Give the record monitor a name (1 to 150 characters).", field="name")
    ds = dataset_id if dataset_id is not None else raw.get("dataset_id")
    if not isinstance(ds, int) or isinstance(ds, bool):
        raise ValidationError("Choose the dataset whose rows are scored.", field="dataset_id")
    with tenant_session(principal.tenant_id) as s:
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, ds))
        params = _check_params(raw.get("params"), [c["name"] for c in version.column_schema])
        if params.label_col:  # refuse a bad outcome value before anything is stored
            _known_labels(store.load_dataset_frame(s, version.id), params, {})
        rec = record_store.create(s, tenant_id=principal.tenant_id, name=name.strip(), dataset_id=ds,
                                  params=params.model_dump(mode="json", exclude_defaults=True),
                                  user_id=principal.user_id)
    return score_record_monitor(principal, rec.id) if score else rec


def list_record_monitors(principal: Principal) -> list[RecordMonitorRecord]:
    """The organization's record monitors, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return record_store.list_all(s)


def get_record_monitor(principal: Principal, monitor_id: int) -> RecordMonitorRecord:
    """One record monitor. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return record_store.get(s, monitor_id)


def _known_labels(frame: pd.DataFrame, params: RecordParams, decided: Mapping[str, str]) -> pd.Series:
    """The table's own label column (if named) with the analysts' decisions on top (a decision wins)."""
    try:
        from_column = (labels_from_column(frame, params.label_col, params.id_col) if params.label_col
                       else pd.Series(dtype=int))
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"params.{exc.field}", details=exc.details) from None
    from_decisions = parse_labels(pd.Series(decided, dtype=object), None) if decided else pd.Series(dtype=int)
    both = pd.concat([from_column, from_decisions])
    return both[~both.index.duplicated(keep="last")]


def score_record_monitor(principal: Principal, monitor_id: int, *,
                         score: Callable[[RecordScorer, pd.DataFrame], pd.DataFrame] | None = None
                         ) -> RecordMonitorRecord:
    """Fit on the dataset's newest version, learn from the decisions so far, and store the flagged rows.

    ``score(scorer, frame)`` scores the rows (default: the one set by :func:`use_scorer`, else
    ``scorer.score(frame)``); the runtime's scores partitions on Dask
    (:func:`aihub.runtime.cluster_jobs.score_record_monitor_on_cluster`).

    Returns
    -------
    RecordMonitorRecord
        With ``rows_scored``, ``notes`` (e.g. why no supervised model was
        trained yet) and the counts of flagged, confirmed and dismissed rows.

    Raises
    ------
    ValidationError
        The dataset was deleted, has too few rows, or lost a column the settings name.
    PermissionDenied
        Without ``detect``.
    """
    require(principal, "detect")
    record_usage(principal, "detect", "record_score")
    with tenant_session(principal.tenant_id) as s:
        rec = record_store.get(s, monitor_id)
        if rec.dataset_id is None:
            raise ValidationError(f"The dataset of record monitor '{rec.name}' was deleted.", field="dataset_id")
        version_id = store.latest_dataset_version_id(s, rec.dataset_id)
        frame = store.load_dataset_frame(s, version_id)
        decided = record_store.labels(s, monitor_id)
    params = _check_params(rec.params, frame.columns)
    scorer = RecordScorer(params).fit(frame)
    notes: list[str] = []
    labels = _known_labels(frame, params, decided)
    if len(labels):
        try:
            scorer.learn(frame, labels)
        except ValidationError as exc:  # decisions on rows the newest version no longer has
            notes.append(str(exc))
    notes += list(scorer.notes_)
    score = score or _scorer
    scored = scorer.score(frame) if score is None else score(scorer, frame)
    is_decided = scored["id"].isin(list(decided))
    n_top = min(MAX_STORED, max(int(scored["band"].isin(BANDS[1:]).sum()), math.ceil(TOP_SHARE * len(scored))))
    flagged = scored[~is_decided].sort_values("score", ascending=False, kind="stable").head(n_top)
    kept = pd.concat([flagged, scored[is_decided]])
    rows = [{"row_key": str(r.id), "score": float(r.score), "unsupervised": float(r.unsupervised),
             "supervised": None if pd.isna(r.supervised) else float(r.supervised), "band": str(r.band),
             "reasons": list(r.reasons), "row": plain(frame.loc[idx].to_dict())}
            for idx, r in zip(kept.index, kept.itertuples(index=False))]
    with tenant_session(principal.tenant_id) as s:
        record_store.get(s, monitor_id, lock=True)
        record_store.replace_scores(s, tenant_id=principal.tenant_id, monitor_id=monitor_id, rows=rows,
                                    version_id=version_id, rows_scored=len(frame), notes=notes)
        return record_store.get(s, monitor_id)


def list_scores(principal: Principal, monitor_id: int, *, bands: Iterable[str] | None = None,
                decision: str | None = None, limit: int = 200, offset: int = 0) -> list[RecordScoreRecord]:
    """Stored rows, riskiest first. Needs ``read``.

    Parameters
    ----------
    bands : iterable of {"medium", "high", "critical", "low"}, optional
    decision : {"undecided", "confirmed", "dismissed"}, optional
    """
    require(principal, "read")
    bands = list(bands or [])
    for i, b in enumerate(bands):
        if b not in BANDS:
            raise ValidationError(f"Unknown band {b!r}; choose from {', '.join(BANDS)}.", field=f"bands[{i}]")
    if decision not in (None, "undecided", *DECISIONS):
        raise ValidationError(f"Unknown decision {decision!r}; choose undecided, confirmed or dismissed.",
                              field="decision")
    limit = max(1, min(int(limit), 2000))
    with tenant_session(principal.tenant_id) as s:
        record_store.get(s, monitor_id)
        return record_store.list_scores(s, monitor_id, bands=bands, undecided=decision == "undecided",
                                        labels_=[decision] if decision in DECISIONS else None, limit=limit,
                                        offset=max(0, int(offset)))


def decide(principal: Principal, monitor_id: int, row_keys: Iterable[str], decision: str | None, *,
           note: str = "") -> int:
    """Confirm or dismiss stored rows (None clears the decision). Needs ``feedback``.

    The decisions train the supervised model at the next :func:`score_record_monitor`.

    Returns
    -------
    int
        Rows changed.

    Raises
    ------
    ValidationError
        Unknown decision, no rows, a note too long, or a row that is not listed.
    """
    require(principal, "feedback")
    if decision not in (None, *DECISIONS):
        raise ValidationError(f"Unknown decision {decision!r}; choose confirmed or dismissed.", field="decision")
    keys = sorted({str(k) for k in row_keys})
    if not keys:
        raise ValidationError("Select at least one row.", field="row_keys")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ValidationError(f"The note must be text of at most {MAX_NOTE:,} characters.", field="note")
    with tenant_session(principal.tenant_id) as s:
        record_store.get(s, monitor_id, lock=True)
        found = record_store.set_labels(s, monitor_id, keys, decision, user_id=principal.user_id,
                                        note=note.strip() or None)
        missing = sorted(set(keys) - set(found))
        if missing:
            raise ValidationError(f"Row(s) {missing[:5]} are not listed by this record monitor; score it again "
                                  "or choose listed rows.", field="row_keys")
        return len(found)


def score_scheduled(tenant_id: int, monitor_id: int) -> int:
    """Worker entry point: score a record monitor again as the user who created it (after a sync of its data).

    Returns
    -------
    int
        Rows scored (0 when the creator is no longer active: the note on the monitor says so).

    Raises
    ------
    AihubError
        Scoring failed (the note on the monitor says why; the scores of the last run stay).
    """
    with tenant_session(tenant_id) as s:
        owner = record_store.owner(s, monitor_id)
    try:
        return score_record_monitor(acting_principal(tenant_id, owner), monitor_id).rows_scored
    except PermissionDenied as exc:
        log.warning("record monitor %s in tenant %s not scored after a sync: %s", monitor_id, tenant_id, exc)
        with tenant_session(tenant_id) as s:
            record_store.set_notes(s, monitor_id, [f"Not scored after the last sync: {exc}"])
        return 0
    except AihubError as exc:  # e.g. the Dask cluster lost a worker too often: the last scores stay, the note says why
        log.warning("record monitor %s in tenant %s failed to score: %s", monitor_id, tenant_id, exc)
        with tenant_session(tenant_id) as s:
            record_store.set_notes(s, monitor_id, [f"Not scored after the last sync: {exc}"])
        raise


def on_source_synced(tenant_id: int, event: str, payload: Mapping[str, Any]) -> None:
    """Subscriber of ``source_synced``: queue a new scoring of each record monitor of the synced dataset."""
    version_id = payload.get("dataset_version_id")
    if not isinstance(version_id, int):
        return
    with tenant_session(tenant_id) as s:
        dataset_id = store.get_dataset_version(s, version_id).dataset_id
        ids = record_store.ids_of_dataset(s, dataset_id)
    for monitor_id in ids:
        queue.defer("aihub.score_record_monitor", lock=f"aihub-record-monitor-{monitor_id}", tenant_id=tenant_id,
                    monitor_id=monitor_id, inline_if_refused=True)


def delete_record_monitor(principal: Principal, monitor_id: int) -> None:
    """Delete a record monitor with its scores and decisions. Needs ``update``."""
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        record_store.get(s, monitor_id)
        record_store.delete(s, monitor_id)
