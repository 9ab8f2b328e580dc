"""Queries of automation workflows: workflows, runs, approvals and user tasks.

Like :mod:`aihub.db.store`, every function takes a session and returns
frozen records, never ORM rows, and checks no permission (the service in
:mod:`aihub.workflows` does). Functions named ``owner_*`` are meant for the
owner connection (:func:`aihub.db.session.owner_session`): they span tenants
and return only ids for the caller to act on inside a tenant session.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from aihub.db.models import Approval, Model, Tenant, User, UserTask, Workflow, WorkflowRun
from aihub.errors import Conflict, NotFound

RUN_STATUSES = ("queued", "running", "waiting_approval", "succeeded", "failed", "rejected", "expired")
#: Statuses of a run that has ended.
FINAL_RUN_STATUSES = ("succeeded", "failed", "rejected", "expired")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")
TASK_STATUSES = ("open", "done")


@dataclass(frozen=True)
class WorkflowRecord:
    """A stored workflow. ``definition`` is as stored (secrets encrypted); the service masks it."""

    id: int
    name: str
    description: str
    definition: dict[str, Any]
    enabled: bool
    created_by: int | None
    created_by_name: str | None
    created_at: datetime
    updated_at: datetime
    last_fired_at: datetime | None

    @property
    def trigger_type(self) -> str:
        """The trigger's ``type``."""
        return str((self.definition.get("trigger") or {}).get("type", ""))


@dataclass(frozen=True)
class RunStats:
    """Counts of a workflow's runs by final status, and its newest runs.

    ``success_rate`` is succeeded / (succeeded + failed), None before any run
    ended that way; runs that were rejected or expired ended by a person's
    decision (or silence) and are counted apart.
    """

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    expired: int = 0
    active: int = 0
    last_runs: tuple[tuple[int, str, datetime], ...] = ()

    @property
    def success_rate(self) -> float | None:
        """Fraction of succeeded among succeeded and failed runs."""
        ended = self.succeeded + self.failed
        return self.succeeded / ended if ended else None


@dataclass(frozen=True)
class RunRecord:
    """One run of a workflow: trigger and inputs, steps with outcome and timing, final status."""

    id: int
    workflow_id: int
    workflow_name: str
    trigger: dict[str, Any]
    status: str
    steps: list[dict[str, Any]]
    error: str | None
    dedupe_key: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def seconds(self) -> float | None:
        """Wall time from creation to the end (None while it has not ended)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.status in FINAL_RUN_STATUSES


@dataclass(frozen=True)
class ApprovalRecord:
    """A step waiting for (or given) a person's decision, with the context to decide on."""

    id: int
    workflow_run_id: int
    workflow_id: int
    workflow_name: str
    step_index: int
    action: dict[str, Any]
    context: dict[str, Any]
    status: str
    requested_at: datetime
    expires_at: datetime
    decided_by: int | None
    decided_by_name: str | None
    decided_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class TaskRecord:
    """A to-do a workflow created for a person."""

    id: int
    title: str
    description: str
    assignee_id: int | None
    assignee: str | None
    status: str
    workflow_run_id: int | None
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True)
class UserRecord:
    """What a workflow needs of a user to act as them or assign them work."""

    id: int
    username: str
    email: str
    name: str
    role: str
    is_active: bool
    tenant_name: str = ""


@dataclass(frozen=True)
class DueSchedule:
    """A scheduled workflow as the owner-scope tick sees it."""

    tenant_id: int
    workflow_id: int
    trigger: dict[str, Any] = field(default_factory=dict)
    last_fired_at: datetime | None = None
    created_at: datetime | None = None


# ====================================================================== workflows
def _user_name(s: Session, user_id: int | None) -> str | None:
    return s.scalar(sa.select(User.username).where(User.id == user_id)) if user_id else None


def _workflow_record(s: Session, w: Workflow) -> WorkflowRecord:
    return WorkflowRecord(w.id, w.name, w.description, copy.deepcopy(w.definition), w.enabled, w.created_by,
                          _user_name(s, w.created_by), w.created_at, w.updated_at, w.last_fired_at)


def _workflow_row(s: Session, workflow_id: int, *, lock: bool = False) -> Workflow:
    q = sa.select(Workflow).where(Workflow.id == workflow_id)
    if lock:
        q = q.with_for_update()
    w = s.scalars(q).first()
    if w is None:
        raise NotFound(f"No workflow {workflow_id} in your organization.")
    return w


def create_workflow(s: Session, *, tenant_id: int, name: str, description: str, definition: dict[str, Any],
                    enabled: bool, user_id: int | None) -> WorkflowRecord:
    """Insert a workflow. Raises Conflict if the tenant has one of that name."""
    if s.scalar(sa.select(Workflow.id).where(Workflow.name == name)):
        raise Conflict(f"A workflow named '{name}' already exists; choose another name.", field="name")
    w = Workflow(tenant_id=tenant_id, name=name, description=description, definition=definition,
                 enabled=enabled, created_by=user_id)
    s.add(w)
    s.flush()
    s.refresh(w)
    return _workflow_record(s, w)


def get_workflow(s: Session, workflow_id: int, *, lock: bool = False) -> WorkflowRecord:
    """One workflow (``lock``: row-locked until the transaction ends). Raises NotFound outside the tenant."""
    return _workflow_record(s, _workflow_row(s, workflow_id, lock=lock))


def update_workflow(s: Session, workflow_id: int, **values: Any) -> WorkflowRecord:
    """Change a workflow's ``name``, ``description``, ``definition``, ``enabled`` or ``created_by``.

    Raises
    ------
    Conflict
        When renaming onto another workflow's name.
    """
    w = _workflow_row(s, workflow_id, lock=True)
    name = values.get("name")
    if name is not None and name != w.name and s.scalar(
            sa.select(Workflow.id).where(Workflow.name == name, Workflow.id != workflow_id)):
        raise Conflict(f"A workflow named '{name}' already exists; choose another name.", field="name")
    for key in ("name", "description", "definition", "enabled", "created_by", "last_fired_at"):
        if key in values:
            setattr(w, key, values[key])
    w.updated_at = sa.func.now()
    s.flush()
    s.refresh(w)
    return _workflow_record(s, w)


def delete_workflow(s: Session, workflow_id: int) -> None:
    """Delete a workflow with its runs and approvals (tasks stay, unlinked)."""
    s.delete(_workflow_row(s, workflow_id, lock=True))
    s.flush()


def list_workflows(s: Session, *, trigger_type: str | None = None, enabled_only: bool = False
                   ) -> list[WorkflowRecord]:
    """Workflows of the tenant by name, optionally only enabled ones with one trigger type."""
    q = sa.select(Workflow).order_by(Workflow.name, Workflow.id)
    if enabled_only:
        q = q.where(Workflow.enabled.is_(True))
    if trigger_type:
        q = q.where(Workflow.definition["trigger"]["type"].astext == trigger_type)
    return [_workflow_record(s, w) for w in s.scalars(q).all()]


def run_stats(s: Session, workflow_ids: list[int] | None = None, last: int = 5) -> dict[int, RunStats]:
    """:class:`RunStats` per workflow (only those with runs appear)."""
    q = sa.select(WorkflowRun.workflow_id, WorkflowRun.status, sa.func.count()).group_by(
        WorkflowRun.workflow_id, WorkflowRun.status)
    if workflow_ids is not None:
        q = q.where(WorkflowRun.workflow_id.in_(workflow_ids))
    counts: dict[int, dict[str, int]] = {}
    for wid, status, n in s.execute(q).all():
        counts.setdefault(wid, {})[status] = int(n)
    ranked = (
        sa.select(WorkflowRun.workflow_id, WorkflowRun.id, WorkflowRun.status, WorkflowRun.started_at,
                  sa.func.row_number().over(partition_by=WorkflowRun.workflow_id,
                                            order_by=(WorkflowRun.started_at.desc(), WorkflowRun.id.desc()))
                  .label("rn"))
        .where(WorkflowRun.workflow_id.in_(list(counts)))
        .subquery()
    )
    recent: dict[int, list[tuple[int, str, datetime]]] = {}
    for wid, rid, status, at, _ in s.execute(
            sa.select(ranked).where(ranked.c.rn <= last).order_by(ranked.c.workflow_id, ranked.c.rn)).all():
        recent.setdefault(wid, []).append((rid, status, at))
    out = {}
    for wid, c in counts.items():
        out[wid] = RunStats(
            total=sum(c.values()), succeeded=c.get("succeeded", 0), failed=c.get("failed", 0),
            rejected=c.get("rejected", 0), expired=c.get("expired", 0),
            active=sum(c.get(k, 0) for k in ("queued", "running", "waiting_approval")),
            last_runs=tuple(recent.get(wid, [])))
    return out


# ====================================================================== runs
def _run_record(r: WorkflowRun, workflow_name: str) -> RunRecord:
    return RunRecord(r.id, r.workflow_id, workflow_name, copy.deepcopy(r.trigger), r.status,
                     copy.deepcopy(r.steps), r.error, r.dedupe_key, r.started_at, r.finished_at)


def create_run(s: Session, *, tenant_id: int, workflow_id: int, trigger: dict[str, Any],
               steps: list[dict[str, Any]], dedupe_key: str) -> int | None:
    """Insert a queued run unless the workflow already has one with ``dedupe_key``.

    The workflow row is locked first, so two processes handling the same
    event cannot both insert: the second sees the first's run and gets None.

    Returns
    -------
    int or None
        The new run's id, or None for a duplicate.
    """
    _workflow_row(s, workflow_id, lock=True)
    stmt = (
        pg_insert(WorkflowRun)
        .values(tenant_id=tenant_id, workflow_id=workflow_id, trigger=trigger, status="queued", steps=steps,
                dedupe_key=dedupe_key)
        .on_conflict_do_nothing(index_elements=["tenant_id", "workflow_id", "dedupe_key"],
                                index_where=WorkflowRun.dedupe_key.is_not(None))
        .returning(WorkflowRun.id)
    )
    return s.scalar(stmt)


def get_run(s: Session, run_id: int, *, lock: bool = False) -> RunRecord:
    """One run. Raises NotFound outside the tenant."""
    q = sa.select(WorkflowRun, Workflow.name).join(Workflow, Workflow.id == WorkflowRun.workflow_id).where(
        WorkflowRun.id == run_id)
    if lock:
        q = q.with_for_update(of=WorkflowRun)
    row = s.execute(q).first()
    if row is None:
        raise NotFound(f"No workflow run {run_id} in your organization.")
    return _run_record(row[0], row[1])


def update_run(s: Session, run_id: int, **values: Any) -> None:
    """Set ``status``, ``steps``, ``error`` or ``finished_at`` (``"now()"`` for the database clock)."""
    r = s.get(WorkflowRun, run_id)
    if r is None:
        raise NotFound(f"No workflow run {run_id} in your organization.")
    for key in ("status", "steps", "error", "finished_at"):
        if key in values:
            v = values[key]
            setattr(r, key, sa.func.now() if v == "now()" else (copy.deepcopy(v) if key == "steps" else v))
    s.flush()


def list_runs(s: Session, *, workflow_id: int | None = None, statuses: list[str] | None = None,
              limit: int = 50, before_id: int | None = None, by_id: bool = False) -> list[RunRecord]:
    """Runs, newest first (by start; ``by_id``: by id, with ``before_id`` keeping smaller ids, a keyset page)."""
    q = sa.select(WorkflowRun, Workflow.name).join(Workflow, Workflow.id == WorkflowRun.workflow_id)
    q = q.order_by(WorkflowRun.id.desc()) if by_id else q.order_by(WorkflowRun.started_at.desc(),
                                                                   WorkflowRun.id.desc())
    q = q.limit(limit)
    if before_id is not None:
        q = q.where(WorkflowRun.id < before_id)
    if workflow_id is not None:
        q = q.where(WorkflowRun.workflow_id == workflow_id)
    if statuses:
        q = q.where(WorkflowRun.status.in_(statuses))
    return [_run_record(r, name) for r, name in s.execute(q).all()]


# ====================================================================== approvals
def _approval_select() -> sa.Select:
    return (sa.select(Approval, WorkflowRun.workflow_id, Workflow.name, User.username)
            .join(WorkflowRun, WorkflowRun.id == Approval.workflow_run_id)
            .join(Workflow, Workflow.id == WorkflowRun.workflow_id)
            .outerjoin(User, User.id == Approval.decided_by))


def _approval_record(a: Approval, workflow_id: int, workflow_name: str, decider: str | None) -> ApprovalRecord:
    return ApprovalRecord(a.id, a.workflow_run_id, workflow_id, workflow_name, a.step_index,
                          copy.deepcopy(a.action), copy.deepcopy(a.context), a.status, a.requested_at, a.expires_at,
                          a.decided_by, decider, a.decided_at, a.note)


def find_approval(s: Session, run_id: int, step_index: int) -> ApprovalRecord | None:
    """The newest approval of a run's step, if any."""
    row = s.execute(_approval_select().where(Approval.workflow_run_id == run_id, Approval.step_index == step_index)
                    .order_by(Approval.id.desc()).limit(1)).first()
    return _approval_record(*row) if row else None


def create_approval(s: Session, *, tenant_id: int, run_id: int, step_index: int, action: dict[str, Any],
                    context: dict[str, Any], expires_at: datetime) -> ApprovalRecord:
    """Insert a pending approval for a run's step, or return the one already pending."""
    existing = find_approval(s, run_id, step_index)
    if existing is not None and existing.status == "pending":
        return existing
    a = Approval(tenant_id=tenant_id, workflow_run_id=run_id, step_index=step_index, action=action, context=context,
                 status="pending", expires_at=expires_at)
    s.add(a)
    s.flush()
    return get_approval(s, a.id)


def get_approval(s: Session, approval_id: int, *, lock: bool = False) -> ApprovalRecord:
    """One approval. Raises NotFound outside the tenant."""
    q = _approval_select().where(Approval.id == approval_id)
    if lock:
        q = q.with_for_update(of=Approval)
    row = s.execute(q).first()
    if row is None:
        raise NotFound(f"No approval {approval_id} in your organization.")
    return _approval_record(*row)


def decide_approval(s: Session, approval_id: int, *, status: str, user_id: int | None, note: str | None) -> None:
    """Record a decision (``approved``, ``rejected`` or ``expired``) with who, when (now) and the note."""
    a = s.get(Approval, approval_id)
    if a is None:
        raise NotFound(f"No approval {approval_id} in your organization.")
    a.status, a.decided_by, a.note, a.decided_at = status, user_id, note, sa.func.now()
    s.flush()


def list_approvals(s: Session, *, statuses: list[str] | None = None, limit: int = 100, before_id: int | None = None,
                   by_id: bool = False) -> list[ApprovalRecord]:
    """Approvals, pending first by expiry, then decided ones newest first (``by_id``: newest first by id, with
    ``before_id`` keeping smaller ids, a keyset page)."""
    q = _approval_select()
    q = q.order_by(Approval.id.desc()) if by_id else q.order_by(
        sa.case((Approval.status == "pending", 0), else_=1), Approval.expires_at, Approval.id.desc())
    q = q.limit(limit)
    if before_id is not None:
        q = q.where(Approval.id < before_id)
    if statuses:
        q = q.where(Approval.status.in_(statuses))
    return [_approval_record(*row) for row in s.execute(q).all()]


# ====================================================================== tasks
def _task_select() -> sa.Select:
    return sa.select(UserTask, User.username).outerjoin(User, User.id == UserTask.assignee_id)


def _task_record(t: UserTask, assignee: str | None) -> TaskRecord:
    return TaskRecord(t.id, t.title, t.description, t.assignee_id, assignee, t.status, t.workflow_run_id,
                      t.created_at, t.done_at)


def create_task(s: Session, *, tenant_id: int, title: str, description: str, assignee_id: int | None,
                run_id: int | None) -> TaskRecord:
    """Insert an open task."""
    t = UserTask(tenant_id=tenant_id, title=title, description=description, assignee_id=assignee_id,
                 workflow_run_id=run_id, status="open")
    s.add(t)
    s.flush()
    return get_task(s, t.id)


def find_task(s: Session, run_id: int, title: str) -> TaskRecord | None:
    """The task a run already created with this title (a repeated step creates no second one)."""
    row = s.execute(_task_select().where(UserTask.workflow_run_id == run_id, UserTask.title == title)
                    .order_by(UserTask.id).limit(1)).first()
    return _task_record(*row) if row else None


def get_task(s: Session, task_id: int, *, lock: bool = False) -> TaskRecord:
    """One task. Raises NotFound outside the tenant."""
    q = _task_select().where(UserTask.id == task_id)
    if lock:
        q = q.with_for_update(of=UserTask)
    row = s.execute(q).first()
    if row is None:
        raise NotFound(f"No task {task_id} in your organization.")
    return _task_record(*row)


def list_tasks(s: Session, *, assignee_id: int | None = None, statuses: list[str] | None = None,
               limit: int = 200) -> list[TaskRecord]:
    """Tasks, open first, newest first."""
    q = _task_select().order_by(sa.case((UserTask.status == "open", 0), else_=1), UserTask.created_at.desc(),
                                UserTask.id.desc()).limit(limit)
    if assignee_id is not None:
        q = q.where(UserTask.assignee_id == assignee_id)
    if statuses:
        q = q.where(UserTask.status.in_(statuses))
    return [_task_record(*row) for row in s.execute(q).all()]


def complete_task(s: Session, task_id: int, note: str | None = None) -> TaskRecord:
    """Mark a task done now (a note is appended to its description)."""
    t = s.get(UserTask, task_id)
    if t is None:
        raise NotFound(f"No task {task_id} in your organization.")
    t.status, t.done_at = "done", sa.func.now()
    if note:
        t.description = (t.description + "\n\n" if t.description else "") + f"Done: {note}"
    s.flush()
    return get_task(s, task_id)


# ====================================================================== users and models
def get_user(s: Session, user_id: int) -> UserRecord | None:
    """A user of the tenant with the tenant's name, or None."""
    row = s.execute(sa.select(User, Tenant.name).join(Tenant, Tenant.id == User.tenant_id)
                    .where(User.id == user_id)).first()
    if row is None:
        return None
    u, tenant = row
    return UserRecord(u.id, u.username, u.email, u.name, u.role, u.is_active, tenant)


def find_user(s: Session, who: str | int) -> UserRecord | None:
    """A user of the tenant by id, username or e-mail (case-insensitive), or None."""
    if isinstance(who, int) and not isinstance(who, bool):
        return get_user(s, who)
    text = str(who).strip().lower()
    uid = s.scalar(sa.select(User.id).where(sa.or_(sa.func.lower(User.username) == text,
                                                   sa.func.lower(User.email) == text)).limit(1))
    return get_user(s, uid) if uid else None


def list_users(s: Session) -> list[UserRecord]:
    """Active users of the tenant by name."""
    rows = s.scalars(sa.select(User).where(User.is_active.is_(True)).order_by(User.name, User.username)).all()
    return [UserRecord(u.id, u.username, u.email, u.name, u.role, u.is_active) for u in rows]


def set_challenger(s: Session, model_id: int, version_id: int | None) -> None:
    """Record ``version_id`` as the model's challenger (None clears it)."""
    m = s.scalars(sa.select(Model).where(Model.id == model_id).with_for_update()).first()
    if m is None:
        raise NotFound(f"No model {model_id} in your organization.")
    m.challenger_version_id = version_id
    s.flush()


def challenger_of(s: Session, model_id: int) -> int | None:
    """The model's challenger version id, if any."""
    return s.scalar(sa.select(Model.challenger_version_id).where(Model.id == model_id))


# ====================================================================== owner scope (spans tenants)
def owner_schedules(s: Session) -> list[DueSchedule]:
    """Enabled scheduled workflows of every tenant (owner connection)."""
    rows = s.execute(
        sa.select(Workflow.tenant_id, Workflow.id, Workflow.definition["trigger"], Workflow.last_fired_at,
                  Workflow.created_at)
        .where(Workflow.enabled.is_(True), Workflow.definition["trigger"]["type"].astext == "schedule")
        .order_by(Workflow.id)
    ).all()
    return [DueSchedule(t, w, dict(trig or {}), last, created) for t, w, trig, last, created in rows]


def mark_fired(s: Session, workflow_id: int, *, expected: datetime | None, fired_at: datetime) -> bool:
    """Set ``last_fired_at`` to ``fired_at`` if it still equals ``expected`` (compare-and-set under a row lock).

    Returns
    -------
    bool
        False when another tick moved it first, or the workflow is gone or disabled.
    """
    w = s.scalars(sa.select(Workflow).where(Workflow.id == workflow_id).with_for_update()).first()
    if w is None or not w.enabled or w.last_fired_at != expected:
        return False
    w.last_fired_at = fired_at
    s.flush()
    return True


def owner_expired_approvals(s: Session, now: datetime) -> list[tuple[int, int]]:
    """``(tenant_id, approval_id)`` of pending approvals whose time ran out (owner connection)."""
    return [(t, i) for t, i in s.execute(
        sa.select(Approval.tenant_id, Approval.id)
        .where(Approval.status == "pending", Approval.expires_at <= now).order_by(Approval.id)).all()]


def owner_stale_runs(s: Session, older_than_seconds: float) -> list[tuple[int, int]]:
    """``(tenant_id, run_id)`` of queued or running runs older than the age (owner connection, database clock)."""
    return [(t, i) for t, i in s.execute(
        sa.select(WorkflowRun.tenant_id, WorkflowRun.id)
        .where(WorkflowRun.status.in_(("queued", "running")),
               WorkflowRun.started_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0,
                                                                              older_than_seconds))
        .order_by(WorkflowRun.id).limit(500)).all()]
