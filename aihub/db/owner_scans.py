"""Every read or write that bypasses row-level security: the owner connection, across tenants.

The app connects as a non-owner role, and PostgreSQL's forced row-level
security limits each transaction to one tenant (:func:`aihub.db.session.tenant_session`).
A few jobs must see every tenant: the worker's schedulers (due source syncs,
scheduled workflows, expired approvals, stalled runs and jobs, the daily drift
checks and insights) and the two account operations that come before any
tenant exists (creating one, finding one by name). They open the owner
connection here and nowhere else, so a reviewer audits one module to see
everything that runs outside the second wall.

Each function opens one owner transaction, calls a store, and returns plain
ids or records; none takes a principal, so services call them only from
scheduled (worker) or command-line paths, never on a user's request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aihub.db import dashboard_store, health_store, insight_store, queue_store, source_store, user_store
from aihub.db import workflow_store as wstore
from aihub.db.session import owner_session


# ------------------------------------------------------------------ tenants and accounts
def find_tenant(name: str) -> int | None:
    """Id of the tenant called ``name``, or None."""
    with owner_session() as s:
        return user_store.find_tenant(s, name)


def create_tenant_with_admin(*, name: str, username: str, display_name: str,
                             password_hash: str) -> tuple[int, user_store.UserRecord]:
    """Create a tenant and its first admin in one transaction; returns ``(tenant_id, admin)``.

    Raises
    ------
    aihub.errors.Conflict
        When the organization name is taken.
    """
    with owner_session() as s:
        return user_store.insert_tenant_with_admin(s, name=name, username=username, display_name=display_name,
                                                   password_hash=password_hash)


def tenant_ids() -> list[int]:
    """Every tenant's id (the daily insights visit each)."""
    with owner_session() as s:
        return insight_store.tenant_ids(s)


# ------------------------------------------------------------------ schedulers of the worker
def interrupted_jobs(lease_seconds: float) -> list[tuple[int, int]]:
    """``(tenant_id, job_id)`` of training jobs queued, or running with a lease older than ``lease_seconds``."""
    with owner_session() as s:
        return queue_store.interrupted_jobs(s, lease_seconds)


def claim_due_sources(now: datetime, next_sync: Callable[[str], datetime]) -> list[tuple[int, int]]:
    """Claim the sources due at ``now`` in every tenant; returns ``(tenant_id, source_id)`` of those claimed.

    Each due source's next sync moves to ``next_sync(frequency)`` in the same
    transaction, so a source claimed by one scheduler is not returned to another.
    """
    claimed = []
    with owner_session() as s:
        for tenant_id, source_id, freq in source_store.due_sources(s, now):
            if source_store.claim_due(s, source_id, now, next_sync(freq)):
                claimed.append((tenant_id, source_id))
    return claimed


def deployed_ml_models() -> list[tuple[int, int, int | None]]:
    """``(tenant_id, model_id, created_by)`` of every deployed predictive model (the daily drift checks)."""
    with owner_session() as s:
        return health_store.deployed_ml_models(s)


def workflow_schedules() -> list[wstore.DueSchedule]:
    """Enabled scheduled workflows of every tenant, with when each last fired."""
    with owner_session() as s:
        return wstore.owner_schedules(s)


def expired_approvals(now: datetime) -> list[tuple[int, int]]:
    """``(tenant_id, approval_id)`` of pending approvals past their expiry at ``now``."""
    with owner_session() as s:
        return wstore.owner_expired_approvals(s, now)


def stale_workflow_runs(older_than_seconds: float) -> list[tuple[int, int]]:
    """``(tenant_id, run_id)`` of queued or running workflow runs untouched for ``older_than_seconds``."""
    with owner_session() as s:
        return wstore.owner_stale_runs(s, older_than_seconds)


def rollup_tenants() -> list[int]:
    """Tenants with days marked for the dashboard's rollups (the worker's rollup step visits each)."""
    with owner_session() as s:
        return dashboard_store.tenants_with_marks(s)
