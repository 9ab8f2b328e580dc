"""The web process reaches the worker queue through one narrow function, never its tables.

Before this revision the app role had plain DML on procrastinate's tables, so
any code running as the app (a SQL injection, should one exist) could read
every tenant's queued tasks, delete them, or queue a task with another
tenant's id (a training job, a workflow run) or take its queueing lock.

* ``aihub_queue_defer(task, id)`` (SECURITY DEFINER, run as the owner) is the
  one way the app role queues work: it takes the tenant from the transaction's
  ``app.tenant_id`` (set by ``tenant_session``), accepts only
  ``aihub.run_job`` with a ``training_jobs`` id and ``aihub.run_workflow``
  with a ``workflow_runs`` id of *that* tenant, derives the task's arguments
  and its locks itself (``aihub-job-<id>``, ``aihub-workflow-run-<id>``), and
  queues it through procrastinate's own ``procrastinate_defer_jobs_v1``. A
  waiting duplicate raises ``unique_violation`` on the queueing lock, as
  procrastinate's own defer does.
* The grants themselves are made at every start by
  :func:`aihub.db.engine.ensure_app_role` and
  :func:`aihub.db.engine.ensure_worker_role` (roles are per cluster): the app
  role keeps only ``SELECT (last_heartbeat)`` on ``procrastinate_workers``;
  the worker role (``aihub_worker``) gets procrastinate's tables and functions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: Tasks the web process may queue, with the table their id lives in, the argument it is passed as, and its lock.
QUEUE_DEFER_FUNCTION = """
CREATE OR REPLACE FUNCTION aihub_queue_defer(p_task text, p_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t bigint := nullif(current_setting('app.tenant_id', true), '')::bigint;
    k text;
    a jsonb;
    ids bigint[];
BEGIN
    IF t IS NULL THEN
        RAISE EXCEPTION 'aihub_queue_defer: no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    IF p_task = 'aihub.run_job' THEN
        PERFORM 1 FROM training_jobs WHERE id = p_id AND tenant_id = t;
        k := 'aihub-job-' || p_id;
        a := jsonb_build_object('tenant_id', t, 'job_id', p_id);
    ELSIF p_task = 'aihub.run_workflow' THEN
        PERFORM 1 FROM workflow_runs WHERE id = p_id AND tenant_id = t;
        k := 'aihub-workflow-run-' || p_id;
        a := jsonb_build_object('tenant_id', t, 'run_id', p_id);
    ELSE
        RAISE EXCEPTION 'aihub_queue_defer: task % may not be queued by the app', p_task USING ERRCODE = '42501';
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aihub_queue_defer: % has no % in this tenant', p_task, p_id USING ERRCODE = '42501';
    END IF;
    ids := procrastinate_defer_jobs_v1(
        ARRAY[ROW('jobs', p_task, 0, k, k, a, NULL::timestamptz)]::procrastinate_job_to_defer_v1[]);
    RETURN ids[1];
END
$$
"""


def upgrade() -> None:
    op.execute(QUEUE_DEFER_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION aihub_queue_defer(text, bigint) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS aihub_queue_defer(text, bigint)")
