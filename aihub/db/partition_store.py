"""Batch results written back per partition (Dask workers): exactly once per partition, all or nothing per job.

A partition's rows go in with one transaction that first takes a transaction-level advisory lock on
``(batch, partition)`` and checks whether that partition's first row is stored already: a partition that a
worker committed just before it died, and that Dask then ran again elsewhere, is not stored twice.
A job that fails removes every row it stored (:func:`discard_batch`), so no half-written batch stays.
Every statement runs in the caller's tenant session (row-level security).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.models import PredictionBatch, PredictionResult

#: Advisory-lock class of partition claims (first key of ``pg_advisory_xact_lock(int, int)``).
_LOCK_CLASS = 0x5A5C


def claim_partition(s: Session, batch_id: int, first_row: int) -> bool:
    """Lock ``(batch, partition)`` for this transaction; False when its rows are stored already.

    Parameters
    ----------
    batch_id : int
        The batch the partition belongs to (``prediction_batches.id``).
    first_row : int
        1-based row number of the partition's first row within the batch.
    """
    key = (int(batch_id) * 1_000_003 + int(first_row)) % 2_147_483_647
    s.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_CLASS, key)))
    done = s.execute(sa.select(PredictionResult.id).where(
        PredictionResult.batch_id == batch_id, PredictionResult.row_number == first_row).limit(1)).first()
    return done is None


def batch_row_count(s: Session, batch_id: int) -> int:
    """Rows stored for a batch."""
    return int(s.execute(sa.select(sa.func.count()).select_from(PredictionResult)
                         .where(PredictionResult.batch_id == batch_id)).scalar_one())


def finish_batch(s: Session, batch_id: int, *, rows_predicted: int, rows_failed: int,
                 errors: list[dict[str, Any]], seconds: float) -> None:
    """Record a finished batch's counts, its first failed rows and its end-to-end seconds."""
    s.execute(sa.update(PredictionBatch).where(PredictionBatch.id == batch_id).values(
        rows_predicted=rows_predicted, rows_failed=rows_failed, errors=errors, seconds=seconds))


def discard_batch(s: Session, batch_id: int) -> int:
    """Delete a failed batch and every row it stored, in the caller's transaction; returns the rows deleted."""
    n = s.execute(sa.delete(PredictionResult).where(PredictionResult.batch_id == batch_id)).rowcount
    s.execute(sa.delete(PredictionBatch).where(PredictionBatch.id == batch_id))
    return int(n or 0)


def role_bypasses_rls(engine: sa.Engine) -> bool:
    """Whether ``engine`` connects as a superuser or a ``BYPASSRLS`` role (the owner), for which RLS does not apply."""
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")).scalar())
