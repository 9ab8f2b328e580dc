"""Batch results written back per partition (Dask workers): exactly once per partition, all or nothing per job.

A batch scored on a cluster is recorded ``running`` first. A partition's rows go in with one transaction that
takes a transaction-level advisory lock on ``(batch, partition)``, a share lock on the batch's row, and checks
that the batch is still running and that the partition's first row is not stored already: a partition that a
worker committed just before it died, and that Dask then ran again elsewhere, is not stored twice, and a
partition that finishes after its job failed stores nothing. A failed job deletes every row it stored and
records the batch failed with its reason (:func:`aihub.db.prediction_store.fail_batch`, which first waits for
partitions committing), so no half-written batch stays. Every statement runs in the caller's tenant session
(row-level security).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db import prediction_store as ps
from aihub.db.models import PredictionBatch, PredictionResult

#: Advisory-lock class of partition claims (first key of ``pg_advisory_xact_lock(int, int)``).
_LOCK_CLASS = 0x5A5C


def claim_partition(s: Session, batch_id: int, first_row: int) -> bool:
    """Lock ``(batch, partition)`` for this transaction; False when its rows are stored already or the batch
    no longer takes rows (its job failed, or it is not in the session's tenant).

    The share lock on the batch's row makes a concurrent :func:`aihub.db.prediction_store.fail_batch` wait for
    this transaction (and then delete what it stored), or this one wait for the failure (and then refuse).

    Parameters
    ----------
    batch_id : int
        The batch the partition belongs to (``prediction_batches.id``).
    first_row : int
        1-based row number of the partition's first row within the batch.
    """
    status = s.execute(sa.select(PredictionBatch.status).where(PredictionBatch.id == batch_id)
                       .with_for_update(read=True)).scalar()
    if status != "running":
        return False
    key = (int(batch_id) * 1_000_003 + int(first_row)) % 2_147_483_647
    s.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_CLASS, key)))
    done = s.execute(sa.select(PredictionResult.id).where(
        PredictionResult.batch_id == batch_id, PredictionResult.row_number == first_row).limit(1)).first()
    return done is None


def batch_row_count(s: Session, batch_id: int) -> int:
    """Rows stored for a batch."""
    return int(s.execute(sa.select(sa.func.count()).select_from(PredictionResult)
                         .where(PredictionResult.batch_id == batch_id)).scalar_one())


def fail_unfinished_batches(s: Session, job_id: int, reason: str) -> int:
    """Fail (rows deleted, reason kept) every batch of ``job_id`` still ``running``: an attempt whose worker
    process stopped. Returns the batches failed."""
    ids = s.execute(sa.select(PredictionBatch.id).where(PredictionBatch.job_id == job_id,
                                                        PredictionBatch.status == "running")
                    .with_for_update()).scalars().all()
    for batch_id in ids:
        ps.fail_batch(s, batch_id, reason)
    return len(ids)


def role_bypasses_rls(engine: sa.Engine) -> bool:
    """Whether ``engine`` connects as a superuser or a ``BYPASSRLS`` role (the owner), for which RLS does not apply."""
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")).scalar())
