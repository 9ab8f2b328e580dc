"""The one queue of background work: defer a task by name, to ``aihub worker`` or to this process's threads.

Services and workflows call :func:`defer` with a task *name* (``aihub.run_job``,
``aihub.run_workflow``); they never import the worker. Where the task runs is
chosen by ``AIHUB_JOB_BACKEND`` (:func:`backend`):

* ``worker``: a job in procrastinate's queue in the hub's PostgreSQL, run by an
  ``aihub worker`` process (:mod:`aihub.runtime.worker` defines the tasks);
* ``inline``: the one thread pool of this process, running the function
  registered for the name with :func:`register_inline`;
* ``auto`` (default): the worker when one sent a heartbeat in the last
  :data:`STALLED_AFTER_SECONDS` seconds, else inline, so a lone
  ``streamlit run`` still trains and runs workflows.

Tasks and inline functions are registered by :func:`aihub.runtime.wiring.wire`,
which every process (app, CLI, worker, API) calls at start.

Sources: procrastinate docs, "Defer a job" (``App.configure_task`` by name)
and "Ensure tasks don't run concurrently" (locks and queueing locks).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from aihub.config import load_settings
from aihub.db import queue_store
from aihub.db.engine import get_database
from aihub.db.session import tenant_session
from aihub.errors import DatabaseError, ValidationError

log = logging.getLogger(__name__)

QUEUE_JOBS = "jobs"
QUEUE_MAINTENANCE = "maintenance"
QUEUES = (QUEUE_JOBS, QUEUE_MAINTENANCE)
#: A worker silent for this long (seconds) is considered dead; its jobs are re-queued.
STALLED_AFTER_SECONDS = 30
BACKENDS = ("auto", "worker", "inline")
#: Threads of the inline pool beyond ``AIHUB_JOB_WORKERS``: room for workflow runs beside training jobs.
WORKFLOW_THREADS = 4

_inline: dict[str, Callable[..., Any]] = {}
_blueprints: list[procrastinate.Blueprint] = []
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def register_inline(name: str, fn: Callable[..., Any]) -> None:
    """Run ``fn(**kwargs)`` for a task ``name`` deferred while the backend is ``inline``."""
    _inline[name] = fn


def add_tasks(blueprint: procrastinate.Blueprint) -> None:
    """Bind the worker's task definitions (a procrastinate blueprint) to the process-wide app."""
    if blueprint in _blueprints:
        return
    _blueprints.append(blueprint)
    if get_app.cache_info().currsize:
        get_app().add_tasks_from(blueprint, namespace="")


#: Tasks the app role may queue for one tenant (``aihub_queue_defer``, migration 0011), with the argument naming
#: the row they run. The database derives their locks: ``aihub-job-<id>`` and ``aihub-workflow-run-<id>``.
TENANT_TASKS = {"aihub.run_job": "job_id", "aihub.run_workflow": "run_id"}


def conninfo() -> str:
    """libpq URI of the worker role: procrastinate's app connects as the queue's own role, never the owner.

    Raises
    ------
    DatabaseError
        If ``AIHUB_APP_DATABASE_URL`` is set but ``AIHUB_WORKER_DATABASE_URL`` is not.
    """
    url = get_database().worker_url
    if url is None:
        raise DatabaseError("Set AIHUB_WORKER_DATABASE_URL: with AIHUB_APP_DATABASE_URL set, the worker needs the "
                            "URL of a role with rights on the task queue's tables (see SECURITY.md).")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def defer_for_tenant(name: str, kwargs: dict[str, Any]) -> int:
    """Queue a :data:`TENANT_TASKS` task of ``kwargs["tenant_id"]`` through ``aihub_queue_defer`` as the app role.

    The function checks that the row (a training job, a workflow run) belongs
    to the tenant of the transaction and writes the task's arguments and locks
    itself; the app role has no other right on the queue.

    Raises
    ------
    procrastinate.exceptions.AlreadyEnqueued
        If the task for that row already waits (its queueing lock).
    DatabaseError
        If the database refuses: the row is not the tenant's (``insufficient_privilege``).
    """
    with tenant_session(int(kwargs["tenant_id"])) as s:
        job_id = queue_store.defer_for_tenant(s, name, int(kwargs[TENANT_TASKS[name]]))
    if job_id is None:
        raise AlreadyEnqueued(f"{name} for {TENANT_TASKS[name]} {kwargs[TENANT_TASKS[name]]} is already queued")
    return job_id


@lru_cache(maxsize=1)
def get_app() -> procrastinate.App:
    """The process-wide procrastinate app, connected as the app role, with the tasks added by :func:`add_tasks`."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo()))
    for blueprint in _blueprints:
        app.add_tasks_from(blueprint, namespace="")
    return app


def workers_alive(max_age_seconds: float = STALLED_AFTER_SECONDS) -> int:
    """How many workers sent a heartbeat within ``max_age_seconds``."""
    with get_database().app.connect() as conn:
        return queue_store.workers_alive(conn, max_age_seconds)


def backend() -> str:
    """The backend in force: ``worker`` or ``inline`` (``auto`` resolved).

    Raises
    ------
    ValidationError
        If ``AIHUB_JOB_BACKEND`` is not one of :data:`BACKENDS`.
    """
    chosen = os.environ.get("AIHUB_JOB_BACKEND", "auto").lower()
    if chosen not in BACKENDS:
        raise ValidationError(f"AIHUB_JOB_BACKEND must be one of {', '.join(BACKENDS)}; got {chosen!r}.",
                              field="AIHUB_JOB_BACKEND")
    if chosen == "auto":
        return "worker" if workers_alive() else "inline"
    return chosen


def defer(name: str, *, lock: str | None = None, queueing_lock: str | None = None, queue: str = QUEUE_JOBS,
          inline_if_refused: bool = False, **kwargs: Any) -> Future | int:
    """Run task ``name`` with ``kwargs`` in the background: on a worker, or on this process's pool.

    Parameters
    ----------
    name : str
        The task's name (``aihub.run_job``, ``aihub.run_workflow``, ...).
    lock, queueing_lock : str, optional
        procrastinate's locks: no two jobs with one ``lock`` run at once; a job with
        a ``queueing_lock`` is not queued twice while it waits (worker backend only).
    queue : str
        The worker queue (:data:`QUEUE_JOBS` or :data:`QUEUE_MAINTENANCE`).
    inline_if_refused : bool
        When the worker queue refuses the job for another reason than its queueing
        lock (e.g. deferring from inside a worker task whose app cannot be reopened),
        run it on this process's pool instead of raising.

    Returns
    -------
    Future or int
        The pool's future (inline) or procrastinate's job id (worker).

    Raises
    ------
    procrastinate.exceptions.AlreadyEnqueued
        If a job with the same ``queueing_lock`` already waits.
    KeyError
        If the backend is inline and no function was registered for ``name``
        (:func:`aihub.runtime.wiring.wire` was not called).
    """
    if backend() == "worker":
        try:
            if name in TENANT_TASKS:
                return defer_for_tenant(name, kwargs)
            return defer_to_worker(name, {"lock": lock, "queueing_lock": queueing_lock, "queue": queue}, kwargs)
        except AlreadyEnqueued:
            raise
        except Exception:
            if not inline_if_refused:
                raise
            log.warning("task %s could not be queued for the worker; running it in this process", name, exc_info=True)
    return run_inline(name, **kwargs)


def defer_to_worker(name: str, options: dict[str, Any], kwargs: dict[str, Any]) -> int:
    """Queue task ``name`` for a worker from anywhere: a web or CLI process, or a task inside a worker.

    Deferring by name (``App.configure_task``) needs no bound task object, so a
    fresh process never meets ``UnboundTaskError``. Inside a worker the app is
    already open (asynchronously) and ``App.open`` refuses; deferring then uses
    the worker's own connection pool.
    """
    app = get_app()
    configured = app.configure_task(name, **{k: v for k, v in options.items() if v is not None})
    try:
        opened = app.open()
    except NotImplementedError:
        return configured.defer(**kwargs)
    try:
        return configured.defer(**kwargs)
    finally:
        opened.close()


def run_inline(name: str, **kwargs: Any) -> Future:
    """Run the function registered for ``name`` on the process's one thread pool; errors are logged."""
    fn = _inline[name]
    return _get_pool().submit(_logged, name, fn, kwargs)


def _logged(name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(**kwargs)
    except Exception:  # a background thread has no caller to tell; the future keeps the error too
        log.exception("task %s %s stopped on an error", name, kwargs)
        raise


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=load_settings().job_workers + WORKFLOW_THREADS,
                                       thread_name_prefix="aihub-task")
        return _pool
