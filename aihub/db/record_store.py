"""SQL of record (per-row) risk monitors: the monitor, its stored scores and the analysts' decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from aihub.db.models import Dataset, RecordMonitor, RecordScore, User
from aihub.errors import Conflict, NotFound


@dataclass(frozen=True)
class RecordMonitorRecord:
    """A record monitor: its dataset, settings (:class:`aihub.anomaly.records.RecordParams`) and last scoring."""

    id: int
    name: str
    dataset_id: int | None
    dataset_name: str | None
    params: dict[str, Any]
    dataset_version_id: int | None
    rows_scored: int
    notes: list[str]
    created_at: datetime
    scored_at: datetime | None
    flagged: int = 0
    confirmed: int = 0
    dismissed: int = 0


@dataclass(frozen=True)
class RecordScoreRecord:
    """A stored row score: risk, band, reasons in words, the row's values and the analyst's decision."""

    id: int
    row_key: str
    score: float
    unsupervised: float
    supervised: float | None
    band: str
    reasons: list[str]
    row: dict[str, Any]
    label: str | None
    labelled_by: str | None
    labelled_at: datetime | None
    note: str | None


def _monitor_query() -> sa.Select:
    stats = (sa.select(RecordScore.record_monitor_id,
                       sa.func.count().filter(RecordScore.band != "low").label("flagged"),
                       sa.func.count().filter(RecordScore.label == "confirmed").label("confirmed"),
                       sa.func.count().filter(RecordScore.label == "dismissed").label("dismissed"))
             .group_by(RecordScore.record_monitor_id).subquery())
    return (sa.select(RecordMonitor, Dataset.name, sa.func.coalesce(stats.c.flagged, 0),
                      sa.func.coalesce(stats.c.confirmed, 0), sa.func.coalesce(stats.c.dismissed, 0))
            .outerjoin(Dataset, Dataset.id == RecordMonitor.dataset_id)
            .outerjoin(stats, stats.c.record_monitor_id == RecordMonitor.id))


def _record(row: Any) -> RecordMonitorRecord:
    m, dsname, flagged, conf, dism = row
    return RecordMonitorRecord(m.id, m.name, m.dataset_id, dsname, dict(m.params or {}), m.dataset_version_id,
                               m.rows_scored, list(m.notes or []), m.created_at, m.scored_at, int(flagged),
                               int(conf), int(dism))


def create(s: Session, *, tenant_id: int, name: str, dataset_id: int, params: dict[str, Any],
           user_id: int | None) -> RecordMonitorRecord:
    """Insert a record monitor. Raises Conflict when the tenant has one of that name."""
    if s.scalar(sa.select(RecordMonitor.id).where(RecordMonitor.name == name)):
        raise Conflict(f"A record monitor named '{name}' already exists; choose another name.", field="name")
    m = RecordMonitor(tenant_id=tenant_id, name=name, dataset_id=dataset_id, params=params, created_by=user_id)
    s.add(m)
    s.flush()
    return get(s, m.id)


def get(s: Session, monitor_id: int, *, lock: bool = False) -> RecordMonitorRecord:
    """One record monitor. Raises NotFound outside the tenant."""
    if lock:
        s.execute(sa.select(RecordMonitor.id).where(RecordMonitor.id == monitor_id).with_for_update())
    row = s.execute(_monitor_query().where(RecordMonitor.id == monitor_id)).first()
    if row is None:
        raise NotFound(f"No record monitor {monitor_id} in your organization.")
    return _record(row)


def list_all(s: Session) -> list[RecordMonitorRecord]:
    """The tenant's record monitors, newest first."""
    rows = s.execute(_monitor_query().order_by(RecordMonitor.created_at.desc(), RecordMonitor.id.desc())).all()
    return [_record(r) for r in rows]


def delete(s: Session, monitor_id: int) -> None:
    """Delete a record monitor with its scores and decisions."""
    s.execute(sa.delete(RecordMonitor).where(RecordMonitor.id == monitor_id))


def labels(s: Session, monitor_id: int) -> dict[str, str]:
    """``{row_key: "confirmed" | "dismissed"}`` of the analysts' decisions."""
    rows = s.execute(sa.select(RecordScore.row_key, RecordScore.label).where(
        RecordScore.record_monitor_id == monitor_id, RecordScore.label.is_not(None))).all()
    return {k: v for k, v in rows}


def replace_scores(s: Session, *, tenant_id: int, monitor_id: int, rows: list[dict[str, Any]],
                   version_id: int, rows_scored: int, notes: list[str]) -> None:
    """Store a new scoring: upsert ``rows`` (keeping decisions), drop undecided rows no longer flagged.

    Parameters
    ----------
    rows : list of dict
        Keys ``row_key``, ``score``, ``unsupervised``, ``supervised``, ``band``, ``reasons``, ``row``.
    """
    keys = [r["row_key"] for r in rows]
    s.execute(sa.delete(RecordScore).where(RecordScore.record_monitor_id == monitor_id, RecordScore.label.is_(None),
                                           RecordScore.row_key.not_in(keys)))
    for start in range(0, len(rows), 500):
        chunk = [{**r, "tenant_id": tenant_id, "record_monitor_id": monitor_id} for r in rows[start:start + 500]]
        stmt = pg_insert(RecordScore).values(chunk)
        s.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "record_monitor_id", "row_key"],
            set_={c: stmt.excluded[c] for c in ("score", "unsupervised", "supervised", "band", "reasons", "row")}))
    s.execute(sa.update(RecordMonitor).where(RecordMonitor.id == monitor_id).values(
        dataset_version_id=version_id, rows_scored=rows_scored, notes=notes, scored_at=sa.func.now()))


def list_scores(s: Session, monitor_id: int, *, bands: list[str] | None = None, labels_: list[str] | None = None,
                undecided: bool = False, limit: int = 200, offset: int = 0) -> list[RecordScoreRecord]:
    """Stored scores, riskiest first, filtered by band and decision."""
    q = (sa.select(RecordScore, User.username).outerjoin(User, User.id == RecordScore.labelled_by)
         .where(RecordScore.record_monitor_id == monitor_id))
    if bands:
        q = q.where(RecordScore.band.in_(bands))
    if labels_:
        q = q.where(RecordScore.label.in_(labels_))
    if undecided:
        q = q.where(RecordScore.label.is_(None))
    rows = s.execute(q.order_by(RecordScore.score.desc(), RecordScore.id).limit(limit).offset(offset)).all()
    return [RecordScoreRecord(r.id, r.row_key, r.score, r.unsupervised, r.supervised, r.band, list(r.reasons or []),
                              dict(r.row or {}), r.label, who, r.labelled_at, r.note) for r, who in rows]


def set_labels(s: Session, monitor_id: int, row_keys: list[str], label: str | None, *, user_id: int | None,
               note: str | None) -> list[str]:
    """Record a decision on stored rows; returns the row keys that were found."""
    found = list(s.scalars(sa.update(RecordScore).where(
        RecordScore.record_monitor_id == monitor_id, RecordScore.row_key.in_(row_keys)).values(
        label=label, labelled_by=user_id if label else None, labelled_at=sa.func.now() if label else None,
        note=note).returning(RecordScore.row_key)).all())
    return found


def owner(s: Session, monitor_id: int) -> int | None:
    """The user who created a record monitor (its scorings after a sync act for them)."""
    return s.scalar(sa.select(RecordMonitor.created_by).where(RecordMonitor.id == monitor_id))


def ids_of_dataset(s: Session, dataset_id: int) -> list[int]:
    """Record monitors of a dataset."""
    return list(s.scalars(sa.select(RecordMonitor.id).where(RecordMonitor.dataset_id == dataset_id)).all())


def set_notes(s: Session, monitor_id: int, notes: list[str]) -> None:
    """Replace a record monitor's notes (what the last scoring said)."""
    s.execute(sa.update(RecordMonitor).where(RecordMonitor.id == monitor_id).values(notes=notes))
