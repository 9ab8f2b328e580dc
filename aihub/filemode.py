"""Shared pieces of the file-mode commands (``aihub train``, ``predict``, ``recommend``, ``price``, ...).

One place for what every file-mode command needs: writing output files
atomically (a reader never sees half a file, a failed run leaves the previous
file in place) and turning the product's coded errors into exit codes and one
line on standard error. Commands read their input with
:func:`aihub.ml.cli.read_table`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aihub.errors import AihubError, ValidationError

#: Exit codes of every file-mode command.
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def atomic_write(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Parameters
    ----------
    path : str or path
        Target file; missing parent folders are created.
    data : bytes
    mode : int, default 0o600
        Permission bits of the new file (0o600: only the owner reads it).

    Raises
    ------
    OSError
        The folder cannot be written; the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_csv(frame: Any, path: str | os.PathLike) -> None:
    """Write a DataFrame as UTF-8 CSV (``\\n`` line ends, no index) atomically, mode 0644."""
    atomic_write(path, frame.to_csv(index=False, lineterminator="\n").encode("utf-8"), mode=0o644)


def write_json(obj: object, path: str | os.PathLike) -> None:
    """Write strict JSON (no NaN; ValueError otherwise) atomically, mode 0600 (it may hold customer ids)."""
    atomic_write(path, json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8"))


def command(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: ValidationError -> exit 2, any other AihubError -> exit 1, message on standard error."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ValidationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
        except AihubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED

    wrapped.__name__ = getattr(func, "__name__", "command")
    wrapped.__doc__ = func.__doc__
    return wrapped
