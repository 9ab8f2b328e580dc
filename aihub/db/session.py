"""Tenant-bound sessions: the first wall of tenant isolation.

:func:`tenant_session` opens a transaction on the app role's engine and sets
the transaction-local ``app.tenant_id`` with ``set_config(..., true)`` (a
``SET LOCAL`` cannot take a bind parameter). Row-level-security policies
read it with ``NULLIF(current_setting('app.tenant_id', true), '')``, so a
session without a tenant sees and writes nothing.

The context manager owns commit and rollback, and turns driver errors into
:class:`~aihub.errors.DatabaseError` (MLflow's ``ManagedSessionMaker``
pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.engine import get_database, replica_failure
from aihub.errors import AihubError, DatabaseError

T = TypeVar("T")

_SET_TENANT = sa.select(sa.func.set_config("app.tenant_id", sa.bindparam("tenant"), True))


@contextmanager
def tenant_session(tenant_id: int, *, engine: sa.Engine | None = None, read_only: bool = False
                   ) -> Iterator[Session]:
    """Yield a session whose every statement runs as ``tenant_id``.

    Parameters
    ----------
    tenant_id : int
        The tenant the caller acts for.
    engine : Engine, optional
        Defaults to the process-wide app engine.
    read_only : bool
        Start the transaction ``READ ONLY`` (see :func:`read_session`).

    Yields
    ------
    Session
        Committed on normal exit, rolled back on any exception.

    Raises
    ------
    DatabaseError
        If the database refuses or cannot be reached.
    """
    if not isinstance(tenant_id, int) or tenant_id <= 0:
        raise DatabaseError(f"A tenant id must be a positive integer; got {tenant_id!r}.")
    engine = engine or get_database().app
    session = Session(engine, expire_on_commit=False)
    try:
        if read_only:
            session.connection().execute(sa.text("SET TRANSACTION READ ONLY"))
        # Core on the session's connection (which begins the session's transaction): the ORM's execute path
        # cost more than this statement, on every service call
        session.connection().execute(_SET_TENANT, {"tenant": str(tenant_id)})
        yield session
        session.commit()
    except AihubError:
        session.rollback()
        raise
    except sa.exc.DBAPIError as exc:
        session.rollback()
        raise DatabaseError(f"The database refused the operation: {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_session(tenant_id: int) -> Iterator[Session]:
    """Yield a read-only :func:`tenant_session` on the read engine (a replica when ``AIHUB_READ_DATABASE_URL``
    is set, else the app engine).

    For reads that may lag the primary by the replica's delay: the dashboard.
    The transaction is ``READ ONLY`` on the primary too, so a write slipped
    into such a read fails the same way with or without a replica. The
    tenant rules are those of :func:`tenant_session` (the same
    transaction-local ``app.tenant_id`` and row-level security, which the
    replica has as a copy of the primary's schema).

    When the replica cannot be reached (down, restarting, refusing the
    login), the session opens on the primary instead and a warning names
    ``AIHUB_READ_DATABASE_URL`` (:meth:`aihub.db.engine.Database.read_unreachable`);
    the next reads skip the replica for
    :data:`aihub.db.engine.READ_RETRY_SECONDS`. An error after the session
    opened (a query cancelled by the replica's recovery, say) is raised as
    usual: the block cannot be run twice. :func:`run_read` runs a read
    again on the primary then.

    Parameters
    ----------
    tenant_id : int
        The tenant the caller acts for.

    Yields
    ------
    Session

    Raises
    ------
    DatabaseError
        If the database refuses (a write, for one) or cannot be reached.
    """
    db = get_database()
    engine = db.read_engine()
    with ExitStack() as stack:
        try:
            session = stack.enter_context(tenant_session(tenant_id, engine=engine, read_only=True))
        except DatabaseError as exc:
            if engine is db.app or not isinstance(exc.__cause__, sa.exc.OperationalError):
                raise
            db.read_unreachable(exc.__cause__.orig)
            session = stack.enter_context(tenant_session(tenant_id, engine=db.app, read_only=True))
        else:
            if engine is not db.app:
                db.read_reachable()
        yield session


def run_read(tenant_id: int, work: Callable[[Session], T]) -> T:
    """``work(session)`` in a :func:`read_session`; once more on the primary if the replica failed it.

    A read that fails on the replica for the replica's sake (the connection
    or the server died mid-read, or a statement cancelled by a conflict
    with the replica's WAL replay: :func:`aihub.db.engine.replica_failure`)
    is run again, once, in a read-only :func:`tenant_session` of the same
    tenant on the app engine (the primary), and one warning names
    ``AIHUB_READ_DATABASE_URL`` (:meth:`aihub.db.engine.Database.read_failed`;
    a dead connection also sends the next reads to the primary for
    :data:`aihub.db.engine.READ_RETRY_SECONDS`). Every other error (syntax,
    permission, data, a write refused by the read-only transaction, a
    statement timeout, any error on the primary) is raised without a retry.

    Parameters
    ----------
    tenant_id : int
        The tenant the caller acts for.
    work : callable
        Reads only (the transaction is ``READ ONLY``); called once, or twice
        when the replica failed it, each time with a fresh session.

    Returns
    -------
    object
        What ``work`` returned.

    Raises
    ------
    DatabaseError
        If the database refuses the read (on the replica for the query's own
        fault, or on the primary) or cannot be reached.
    """
    db = get_database()
    session = None
    try:
        with read_session(tenant_id) as session:
            return work(session)
    except DatabaseError as exc:
        failure = None if session is None or session.bind is db.app else replica_failure(exc)
        if failure is None:
            raise
        db.read_failed(exc.__cause__.orig, lost=failure == "lost")
    with tenant_session(tenant_id, engine=db.app, read_only=True) as session:
        return work(session)


@contextmanager
def owner_session(*, engine: sa.Engine | None = None) -> Iterator[Session]:
    """Yield a session on the owner connection (tenant creation only)."""
    engine = engine or get_database().owner
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
