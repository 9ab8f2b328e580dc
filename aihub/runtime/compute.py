"""The product's heavy jobs on Dask: a cluster when ``AIHUB_DASK_SCHEDULER`` names one, else in-process.

:func:`cluster_enabled` decides whether the product's routes (:mod:`aihub.runtime.cluster_jobs`: large batch
jobs, large record monitors, forecasts of many series) use Dask at all: when ``AIHUB_DASK_SCHEDULER`` is set,
or ``AIHUB_DASK_LOCAL=1`` asks for local processes. Unset (``make run``, the tests), they run in-process and
Dask is never imported. :func:`dask_client` is the one place that gives a :class:`distributed.Client`:

* ``AIHUB_DASK_SCHEDULER=tcp://host:8786`` connects to that scheduler (workers on other hosts, or on
  Kubernetes through dask-kubernetes; README "Running heavy work on a Dask cluster");
* unset (``AIHUB_DASK_LOCAL=1``), it uses this process's :class:`distributed.LocalCluster` of worker
  *processes* (:func:`local_client`): started on first use (given this hub process's app-role connection when
  ``AIHUB_APP_DATABASE_URL`` is not set), kept for the jobs that follow, started again if it died, closed when
  the interpreter exits. Same functions, same partition tasks, same results.

:func:`describe_backend` (``aihub compute``) and :func:`backend_state` (``GET /api/v1/health``) say which engine
runs and whether a named scheduler answers.

Workers read their database connection from their own environment (:func:`worker_app_engine`:
``AIHUB_APP_DATABASE_URL``, the non-owner app role), never from a task: a task carries a tenant id, its own
rows and ids, and writes under row-level security with ``set_config('app.tenant_id', ...)``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aihub.errors import ValidationError

#: Environment variable naming the scheduler, e.g. ``tcp://10.0.0.5:8786``.
SCHEDULER_ENV = "AIHUB_DASK_SCHEDULER"
#: Set to 1 to run the product's heavy jobs on a local cluster of processes when no scheduler is named.
LOCAL_ENV = "AIHUB_DASK_LOCAL"
#: Worker processes of the local cluster when no scheduler is named (``AIHUB_DASK_LOCAL_WORKERS``).
LOCAL_WORKERS_ENV = "AIHUB_DASK_LOCAL_WORKERS"
#: Rows per partition of the product's jobs on Dask (``AIHUB_DASK_PARTITION_ROWS``); a batch file or a record
#: monitor's table goes to the cluster only when it has more rows than one partition.
PARTITION_ROWS_ENV = "AIHUB_DASK_PARTITION_ROWS"
#: Default of :data:`PARTITION_ROWS_ENV` (a partition is one worker task; the in-process batch uses smaller chunks,
#: ``batch_predictions.CHUNK_ROWS``, so storing one overlaps predicting the next).
DEFAULT_PARTITION_ROWS = 50_000
#: A forecast job of many series (``split_by``) goes to the cluster from this many series on.
MIN_CLUSTER_SERIES = 2
#: Environment variable of a worker's database connection (the app role; never the owner).
WORKER_DB_ENV = "AIHUB_APP_DATABASE_URL"

_engine_lock = threading.Lock()
_engine: Any = None


def scheduler_address() -> str | None:
    """The scheduler of ``AIHUB_DASK_SCHEDULER``, or None to run on local processes.

    Raises
    ------
    ValidationError
        The value is not ``tcp://``, ``tls://`` or ``ucx://`` followed by a host and port.
    """
    raw = (os.environ.get(SCHEDULER_ENV) or "").strip()
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme not in ("tcp", "tls", "ucx") or ":" not in rest:
        raise ValidationError(f"{SCHEDULER_ENV}={raw!r} is not a scheduler address; use tcp://host:8786 "
                              "(or tls://host:8786), or unset it to run on local processes.", field=SCHEDULER_ENV)
    return raw


def cluster_enabled() -> bool:
    """Whether the product's heavy jobs run on Dask: a scheduler is named, or ``AIHUB_DASK_LOCAL=1``.

    Unset (the default, ``make run``): batch jobs, record monitors and forecasts of many series run in the
    process that handles them, as before, and Dask is never imported.

    Raises
    ------
    ValidationError
        A malformed ``AIHUB_DASK_SCHEDULER``.
    """
    if scheduler_address():
        return True
    return (os.environ.get(LOCAL_ENV) or "").strip().lower() in ("1", "true", "yes", "on")


def partition_rows() -> int:
    """Rows per partition of the product's jobs on Dask: ``AIHUB_DASK_PARTITION_ROWS``, default 50,000.

    Raises
    ------
    ValidationError
        Not a whole number of at least 1.
    """
    raw = os.environ.get(PARTITION_ROWS_ENV)
    if not raw:
        return DEFAULT_PARTITION_ROWS
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValidationError(f"{PARTITION_ROWS_ENV} must be a whole number of rows, at least 1; got {raw!r}.",
                              field=PARTITION_ROWS_ENV)
    return n


def describe_backend(*, connect: bool = True, timeout: float = 5.0) -> dict[str, Any]:
    """Which engine runs the heavy jobs, and (with a scheduler named) whether it answers.

    Parameters
    ----------
    connect : bool, default True
        Connect to the named scheduler to count its workers (at most ``timeout`` seconds).
    timeout : float
        Seconds to wait for the scheduler.

    Returns
    -------
    dict
        ``{"backend": "in-process" | "dask-local" | "dask", "scheduler": str | None, "reachable": bool | None,
        "workers": int | None, "error": str | None, "partition_rows": int}``; for ``dask-local`` the scheduler is
        this process's local cluster's once it started (:func:`local_scheduler_address`), else None.
    """
    out: dict[str, Any] = {"backend": "in-process", "scheduler": None, "reachable": None, "workers": None,
                           "error": None}
    try:
        out["partition_rows"] = partition_rows()
        address = scheduler_address()
    except ValidationError as exc:
        return {**out, "error": exc.message}
    if not address:
        if cluster_enabled():
            out.update(backend="dask-local", workers=local_workers(), scheduler=local_scheduler_address())
        return out
    out.update(backend="dask", scheduler=address)
    if connect:
        from distributed import Client

        try:
            with Client(address, timeout=timeout, set_as_default=False) as c:
                out.update(reachable=True, workers=len(c.scheduler_info(n_workers=-1).get("workers", {})))
        except Exception as exc:  # noqa: BLE001 - reported, not raised: this is a health probe
            out.update(reachable=False, error=f"{type(exc).__name__}: {exc}")
    return out


_state_lock = threading.Lock()
_state: tuple[float, dict[str, Any]] | None = None


def backend_state(max_age: float = 30.0) -> dict[str, Any]:
    """:func:`describe_backend` (1 s to reach a scheduler) at most once per ``max_age`` seconds: for health probes."""
    import time

    global _state
    with _state_lock:
        if _state is not None and time.monotonic() - _state[0] < max_age:
            return _state[1]
    state = describe_backend(timeout=1.0)
    with _state_lock:
        _state = (time.monotonic(), state)
    return state


def local_workers() -> int:
    """Worker processes of the local cluster: ``AIHUB_DASK_LOCAL_WORKERS``, else the cores (at most 4)."""
    raw = os.environ.get(LOCAL_WORKERS_ENV)
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ValidationError(f"{LOCAL_WORKERS_ENV} must be a whole number of processes, at least 1; "
                                  f"got {raw!r}.", field=LOCAL_WORKERS_ENV)
        return n
    return max(1, min(os.cpu_count() or 1, 4))


@contextmanager
def dask_client(client: Any = None, *, n_workers: int | None = None) -> Iterator[Any]:
    """Yield a Dask client: ``client`` as given, the named scheduler's, or a local cluster's.

    Parameters
    ----------
    client : distributed.Client, optional
        Use this one (tests, a caller running several jobs); it is left open.
    n_workers : int, optional
        Worker processes of the local cluster if this call starts it (default :func:`local_workers`).

    Yields
    ------
    distributed.Client
        Current for the block (``client.as_current()``), so Dask collections made in it (and fugue, under
        statsforecast) compute on it.

    Raises
    ------
    ValidationError
        A malformed ``AIHUB_DASK_SCHEDULER``.
    OSError
        The named scheduler cannot be reached (distributed's own error, after its connect timeout).
    """
    if client is not None:
        with client.as_current():
            yield client
        return
    address = scheduler_address()
    if address:
        from distributed import Client

        with Client(address) as remote, remote.as_current():
            yield remote
        return
    local = local_client(n_workers=n_workers)
    with local.as_current():
        yield local


@dataclass
class _Local:
    """This process's local cluster, its client, and the process that started them."""

    cluster: Any
    client: Any
    pid: int


_local_lock = threading.Lock()
_local: _Local | None = None
_atexit_registered = False


def _alive(local: _Local) -> bool:
    from distributed.core import Status

    return (local.pid == os.getpid() and local.cluster.status == Status.running
            and local.client.status == "running")


def local_client(n_workers: int | None = None) -> Any:
    """The client of this process's :class:`distributed.LocalCluster`: started on first use, then reused.

    One cluster per process, whatever number of jobs run (concurrently too: the client is shared): a job no
    longer pays a cluster's start and its workers' imports (seconds each time). The cluster is started again
    when it died (closed, its client disconnected) or belongs to the parent of a forked process; it is closed
    when the interpreter exits (:func:`close_local_cluster`, registered with :mod:`atexit`). Worker processes
    killed under it are restarted by their nannies and their tasks re-run, as on any cluster.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes if this call starts the cluster (default :func:`local_workers`); ignored otherwise.

    Returns
    -------
    distributed.Client

    Raises
    ------
    ValidationError
        A malformed ``AIHUB_DASK_LOCAL_WORKERS``.
    """
    global _local, _atexit_registered
    with _local_lock:
        if _local is not None and _alive(_local):
            return _local.client
        old, _local = _local, None
        if old is not None and old.pid == os.getpid():
            _close(old)
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=n_workers or local_workers(), processes=True, threads_per_worker=1,
                               dashboard_address=None, env=_local_worker_env())
        try:
            client = Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        _local = _Local(cluster, client, os.getpid())
        if not _atexit_registered:
            atexit.register(close_local_cluster)
            _atexit_registered = True
        return client


def local_scheduler_address() -> str | None:
    """The scheduler address of this process's local cluster while it runs, else None (not started, or died).

    Takes no lock, so a health probe never waits for a cluster being started.
    """
    local = _local
    if local is None or not _alive(local):
        return None
    return local.cluster.scheduler_address


def close_local_cluster() -> None:
    """Close this process's local cluster and its client, if any (at interpreter exit; the next job starts one)."""
    global _local
    with _local_lock:
        old, _local = _local, None
    if old is not None and old.pid == os.getpid():
        _close(old)


def _close(local: _Local) -> None:
    # each part on its own: a client whose scheduler is gone must not keep the cluster's processes alive
    with contextlib.suppress(Exception):
        local.client.close(timeout=10)
    with contextlib.suppress(Exception):
        local.cluster.close(timeout=30)


def _local_worker_env() -> dict[str, str]:
    """Environment of local worker processes: this hub process's app-role connection when none is set.

    The processes are children on this machine (the URL never enters a task graph); a remote worker has its own.
    """
    if os.environ.get(WORKER_DB_ENV):
        return {}
    from aihub.db import engine as dbengine

    if dbengine._database is None:
        return {}
    return {WORKER_DB_ENV: dbengine._database.app.url.render_as_string(hide_password=False)}


def n_workers_of(client: Any) -> int:
    """Workers the scheduler knows now (at least 1)."""
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


def n_threads_of(client: Any) -> int:
    """Task slots of the cluster now: the workers' threads added up (at least 1)."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def worker_app_engine() -> Any:
    """This process's engine for the app role, from ``AIHUB_APP_DATABASE_URL`` (made once per process).

    On a Dask worker the connection comes from the worker's environment, so no credential travels in a
    task graph. In a process that already has the hub's database (the app itself, tests), its app engine.

    Raises
    ------
    ValidationError
        No app database URL in the environment, or it connects as a superuser or ``BYPASSRLS`` role.
    """
    global _engine
    with _engine_lock:
        if _engine is not None:
            return _engine
        from aihub.db import engine as dbengine

        if dbengine._database is not None:  # this process is a hub process: use its app engine
            return dbengine._database.app
        url = os.environ.get(WORKER_DB_ENV)
        if not url:
            raise ValidationError(f"This Dask worker has no {WORKER_DB_ENV}: start it with the app role's "
                                  "connection in its environment (README, 'Running heavy work on a Dask "
                                  "cluster').", field=WORKER_DB_ENV)
        from aihub.db.partition_store import role_bypasses_rls

        engine = dbengine.make_engine(url, pool_size=2, max_overflow=2)
        if role_bypasses_rls(engine):
            engine.dispose()
            raise ValidationError(f"{WORKER_DB_ENV} on a worker must be the app role (aihub_app), not a superuser "
                                  "or BYPASSRLS role such as the owner: row-level security must apply to what "
                                  "workers write.", field=WORKER_DB_ENV)
        _engine = engine
        return _engine
