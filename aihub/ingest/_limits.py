"""Budgets for reading uploads: cells, CSV cell size, and a child process for workbooks.

An ``.xlsx`` file is a zip archive of XML: 5 KB on disk can declare a sheet of
17 billion cells (a single value at ``XFD1048576``) or unpack to gigabytes of
XML. So a workbook is never read in the web server's own process:
:func:`run_budgeted` reads it in a child process with an address-space limit
(``AIHUB_UPLOAD_PARSE_MB``, default 1024 MB above the child's start) and a
wall-clock limit (``AIHUB_UPLOAD_PARSE_SECONDS``, default 60 s); past either,
the child is stopped and the user gets an error, while the server keeps
serving everyone else. Inside the child the sheet's declared dimensions are
checked before any row is read (:data:`MAX_SHEET_CELLS`, :data:`MAX_COLUMNS`),
and rows are counted as they stream, so a sheet whose dimension tag lies
stops at the same limits.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any

from aihub.errors import IngestError, ValidationError

#: Most cells (rows x columns, as the sheet declares or as read) a worksheet may hold.
MAX_SHEET_CELLS = 20_000_000
#: Most columns a table may have.
MAX_COLUMNS = 5_000
#: Largest CSV cell, in characters (Python's csv module default is 131,072).
MAX_CELL_CHARS = 10 * 1024 * 1024
#: Environment variables of the child-process budget.
PARSE_SECONDS_ENV = "AIHUB_UPLOAD_PARSE_SECONDS"
PARSE_MB_ENV = "AIHUB_UPLOAD_PARSE_MB"
DEFAULT_PARSE_SECONDS = 60.0
DEFAULT_PARSE_MB = 1024.0


def _positive(env: str, default: float) -> float:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValidationError(f"{env} must be a positive number, got {raw!r}.", field=env,
                              details={"value": raw, "allowed": "a number > 0"})
    return value


def parse_budget() -> tuple[float, int]:
    """``(seconds, bytes)`` a workbook may take to read, from the environment (see module docs)."""
    return _positive(PARSE_SECONDS_ENV, DEFAULT_PARSE_SECONDS), int(_positive(PARSE_MB_ENV, DEFAULT_PARSE_MB)
                                                                    * 1024 * 1024)


def _vm_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child_main() -> None:
    """Entry of the child process (``python -m aihub.ingest._limits``): request on stdin, answer on stdout."""
    import importlib
    import sys

    module, qualname, args, memory = pickle.loads(sys.stdin.buffer.read())  # our parent's request
    fn = getattr(importlib.import_module(module), qualname)
    try:
        import resource

        limit = _vm_bytes() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    try:
        result = ("ok", fn(*args))
    except MemoryError:
        result = ("memory", None)
    except IngestError as exc:
        result = ("ingest", (exc.message, exc.code, exc.field, exc.details))
    except Exception as exc:  # noqa: BLE001 - sent back and raised in the parent
        result = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    try:
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        payload = pickle.dumps(("memory", None))
    sys.stdout.buffer.write(payload)
    sys.stdout.flush()


def run_budgeted(fn: Callable[..., Any], *args: Any, name: str, seconds: float | None = None,
                 memory_bytes: int | None = None) -> Any:
    """Run ``fn(*args)`` in a fresh child interpreter under a time and memory budget; return its result.

    The child is a new ``python -m aihub.ingest._limits`` process (not a fork of the threaded web server),
    limited with ``RLIMIT_AS`` once its imports are done.

    Parameters
    ----------
    fn : callable
        A module-level function; its arguments and result must pickle.
    name : str
        The file name, for messages.
    seconds, memory_bytes : optional
        The budget; default :func:`parse_budget`.

    Raises
    ------
    IngestError
        ``too_complex`` when the child runs out of time or memory; the child's own
        :class:`IngestError` otherwise, re-raised as it was.
    """
    import subprocess
    import sys

    default_seconds, default_memory = parse_budget()
    seconds = default_seconds if seconds is None else seconds
    memory_bytes = default_memory if memory_bytes is None else memory_bytes
    request = pickle.dumps((fn.__module__, fn.__qualname__, args, memory_bytes), protocol=pickle.HIGHEST_PROTOCOL)
    proc = subprocess.Popen([sys.executable, "-m", "aihub.ingest._limits"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        payload, _ = proc.communicate(request, timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        payload = None
    else:
        if not payload:  # killed, or died of the memory limit before it could answer
            payload = pickle.dumps(("memory", None))
    if payload is None:
        raise IngestError(
            f"{name} took longer than {seconds:g} s to read, so reading it was stopped. It is probably much "
            "larger inside than on disk; save the data as CSV, or remove unused sheets and formatting, and upload "
            f"again. (An administrator can raise the limit with {PARSE_SECONDS_ENV}.)",
            code="too_complex", details={"file": name, "limit_seconds": seconds, "setting": PARSE_SECONDS_ENV},
        )
    status, value = pickle.loads(payload)  # our own child's answer
    if status == "ok":
        return value
    if status == "ingest":
        message, code, field, details = value
        raise IngestError(message, code=code, field=field, details=details)
    if status == "memory":
        raise IngestError(
            f"{name} needs more than {memory_bytes / 2**20:,.0f} MB of memory to read, so reading it was stopped. "
            "It is probably much larger inside than on disk; save the data as CSV, or remove unused sheets and "
            f"formatting, and upload again. (An administrator can raise the limit with {PARSE_MB_ENV}.)",
            code="too_complex", details={"file": name, "limit_bytes": memory_bytes, "setting": PARSE_MB_ENV},
        )
    raise IngestError(f"{name} could not be read: {value.splitlines()[0]}", code="bad_excel",
                      details={"file": name})


if __name__ == "__main__":
    _child_main()
