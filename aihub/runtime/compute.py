"""Heavy batch work on Dask: a cluster when ``AIHUB_DASK_SCHEDULER`` names one, local processes otherwise.

:func:`dask_client` is the one place that gives a :class:`distributed.Client`:

* ``AIHUB_DASK_SCHEDULER=tcp://host:8786`` connects to that scheduler (workers on other hosts, or on
  Kubernetes through dask-kubernetes; README "Running heavy work on a Dask cluster");
* unset, it starts a :class:`distributed.LocalCluster` of worker *processes* on this machine and closes it
  afterwards. Same functions, same partition tasks, same results; nothing needs to be running for
  ``make run``, and Dask is imported only when such work starts.

What runs on it (:mod:`aihub.runtime.cluster_jobs`): many-series forecasts through statsforecast's own
distributed backend, batch scoring of large tables written back per partition, and record-level risk scoring.

Workers read their database connection from their own environment (:func:`worker_app_engine`:
``AIHUB_APP_DATABASE_URL``, the non-owner app role), never from a task: a task carries a tenant id, its own
rows and ids, and writes under row-level security with ``set_config('app.tenant_id', ...)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aihub.errors import ValidationError

#: Environment variable naming the scheduler, e.g. ``tcp://10.0.0.5:8786``.
SCHEDULER_ENV = "AIHUB_DASK_SCHEDULER"
#: Worker processes of the local cluster when no scheduler is named (``AIHUB_DASK_LOCAL_WORKERS``).
LOCAL_WORKERS_ENV = "AIHUB_DASK_LOCAL_WORKERS"
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
        Worker processes of a local cluster (default :func:`local_workers`).

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
    from distributed import Client, LocalCluster

    address = scheduler_address()
    if address:
        with Client(address) as remote, remote.as_current():
            yield remote
        return
    with LocalCluster(n_workers=n_workers or local_workers(), processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as local, local.as_current():
        yield local


def n_workers_of(client: Any) -> int:
    """Workers the scheduler knows now (at least 1)."""
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


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
