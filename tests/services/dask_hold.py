"""Hold one task of a real job at its start on a real Dask worker, so a test kills that worker while it runs it.

The product's code has no test hook. A test registers :class:`HoldOne` (a :class:`distributed.WorkerPlugin`) on
its cluster with :func:`holding`; on every worker, the plugin watches its worker's task transitions and, the
first time a task whose key matches goes to ``executing`` on any worker of the cluster (a file renamed once
decides which), it wraps that task's spec so that, in the worker's task thread, the task first writes which
worker holds it (``held``: key, worker address, pid) and then waits for the test to release it
(``release``; at most :data:`HOLD_SECONDS`) before it runs the product's function unchanged. While the test
reads ``held``, the task is provably running on that worker (the scheduler has it processing there and the
worker's one thread is in it), so a SIGKILL of that pid loses a running task, whatever the machine's load.
Other tasks, and this task's re-run on another worker after the kill, are not held.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask._task_spec import Task
from distributed import Client, WorkerPlugin

#: A held task runs anyway after this many seconds (a test that failed before its kill must not wedge a worker).
HOLD_SECONDS = 300.0


def _held(directory: str, key: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs in the worker's task thread: say which worker holds ``key``, wait for the release, run the task."""
    from distributed import get_worker

    where = Path(directory)
    tmp = where / "held.tmp"
    tmp.write_text(json.dumps({"key": key, "address": get_worker().address, "pid": os.getpid()}))
    tmp.replace(where / "held")
    end = time.monotonic() + HOLD_SECONDS
    while not (where / "release").exists() and time.monotonic() < end:
        time.sleep(0.05)
    return func(*args, **kwargs)


class HoldOne(WorkerPlugin):
    """Hold the first task whose key starts with ``prefix`` and ends with ``suffix`` (see the module docstring)."""

    name = "aihub-test-hold-one"

    def __init__(self, directory: str, prefix: str, suffix: str = "") -> None:
        self.directory, self.prefix, self.suffix = directory, prefix, suffix
        self.worker: Any = None

    def setup(self, worker: Any) -> None:
        self.worker = worker

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        name = str(key)
        if finish != "executing" or not name.startswith(self.prefix) or not name.endswith(self.suffix):
            return
        try:  # once per cluster: the worker that renames the file holds the task
            os.rename(os.path.join(self.directory, "armed"), os.path.join(self.directory, "claimed"))
        except FileNotFoundError:
            return
        ts = self.worker.state.tasks[key]
        spec = ts.run_spec
        ts.run_spec = Task(spec.key, _held, self.directory, name, spec.func, *spec.args, **spec.kwargs)


@dataclass(frozen=True)
class Held:
    """The task held: its key, and the worker that runs it (address and process id)."""

    key: str
    address: str
    pid: int


class Hold:
    """What a test sees of a :class:`HoldOne` it registered: when a task is held, and its release."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def wait(self, alive: Callable[[], bool], deadline: float = 300.0, job: Callable[[], object] = str) -> Held:
        """The held task, once one is; AssertionError (with ``job()``, what the job became) if ``alive()`` turns
        false or the deadline passes first."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            with contextlib.suppress(FileNotFoundError):
                return Held(**json.loads((self.directory / "held").read_text()))
            if not alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no task was held (the job ended: {not alive()}, or {deadline:.0f} s passed); "
                             f"the job: {job()}")

    def release(self) -> None:
        """Let the held task run (when the test did not kill its worker)."""
        (self.directory / "release").touch()


def _has_hold(dask_worker: Any) -> bool:
    return HoldOne.name in dask_worker.plugins


@contextlib.contextmanager
def holding(client: Client, prefix: str, suffix: str = "", n_workers: int = 2) -> Iterator[Hold]:
    """Register :class:`HoldOne` on every worker of ``client``'s cluster for the block (and the ones started in it).

    First waits until ``n_workers`` workers are up (a worker killed by an earlier test has been restarted by its
    nanny and registered): a worker registering while the plugin is registered could miss it and run the task
    unheld.
    """
    client.wait_for_workers(n_workers, timeout=300)
    directory = tempfile.mkdtemp(prefix="aihub-hold-")
    Path(directory, "armed").touch()
    client.register_plugin(HoldOne(directory, prefix, suffix))
    have = client.run(_has_hold)
    assert len(have) >= n_workers and all(have.values()), f"the hold is not on every worker: {have}"
    hold = Hold(directory)
    try:
        yield hold
    finally:
        hold.release()
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(HoldOne.name)
        shutil.rmtree(directory, ignore_errors=True)
