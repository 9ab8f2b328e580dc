"""Checks every table-reading analytic makes at its edge: columns present, numbers numeric, dates dates.

The recommendation, pricing, inventory, sentiment, next-best-action and
lifetime-value cores read user tables through these three functions, so an
analyst sees the same kind of message everywhere: the column, the 1-based row
(header = row 1 in a CSV, so CSV line = row + 1) and the bad value.

Number and date parsing reuse :func:`aihub.ml.preprocess.parse_numeric`
(currency signs, thousands separators, blank tokens) and
:func:`aihub.ml.rfm.parse_dates` (ISO 8601 and day-first/month-first
detection), so there is one parser of each kind in the hub.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from aihub.errors import ValidationError


def require_frame(frame: object, what: str = "input") -> pd.DataFrame:
    """``frame`` if it is a non-empty DataFrame.

    Raises
    ------
    ValidationError
        Not a DataFrame, or no rows (``field=what``).
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{what} must be a table (pandas DataFrame); got {type(frame).__name__}", field=what)
    if frame.empty:
        raise ValidationError(f"{what} has no rows", field=what)
    return frame


def require_columns(frame: pd.DataFrame, columns: Mapping[str, str | None], what: str = "input") -> None:
    """Check that each named column exists.

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : mapping of role -> column name
        ``{"user_col": "Customer ID", ...}``; ``None`` values are skipped.
    what : str
        Name of the table in messages.

    Raises
    ------
    ValidationError
        ``field`` is the role of the first missing column; the message lists
        the table's columns.
    """
    for role, col in columns.items():
        if col is not None and col not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:30])) + (" ..." if len(frame.columns) > 30 else "")
            raise ValidationError(
                f"{role} {col!r} is not a column of the {what}; its columns are: {shown}",
                field=role,
                details={"column": col, "available": [str(c) for c in frame.columns[:200]]},
            )


def numeric_column(
    frame: pd.DataFrame, col: str, *, what: str = "input", allow_missing: bool = False, minimum: float | None = None
) -> np.ndarray:
    """Column ``col`` as float64, refusing text, blanks (unless allowed) and values below ``minimum``.

    Returns
    -------
    ndarray of float64, shape (n_rows,)
        NaN where blank (only with ``allow_missing``).

    Raises
    ------
    ValidationError
        Naming the column, the first bad rows (1-based) and a bad value.
    """
    from aihub.ml.preprocess import parse_numeric

    values, bad = parse_numeric(frame[col])
    arr = values.to_numpy(dtype="float64")
    problem = bad.to_numpy().copy()
    reason = "is not a number"
    if not allow_missing:
        blank = np.isnan(arr) & ~problem
        if blank.any():
            problem |= blank
            reason = "is blank or not a number"
    if minimum is not None:
        below = ~np.isnan(arr) & (arr < minimum)
        if below.any() and not problem.any():
            problem = below
            reason = f"is below {minimum:g}"
    if problem.any():
        rows = [int(i) + 1 for i in np.flatnonzero(problem)[:5]]
        first = frame[col].iloc[rows[0] - 1]
        raise ValidationError(
            f"column {col!r} of the {what}: row {rows[0]} value {first!r} {reason}"
            + (f" (also rows {', '.join(map(str, rows[1:]))})" if len(rows) > 1 else ""),
            field=col,
            details={"column": col, "rows": rows},
        )
    return arr


def date_column(frame: pd.DataFrame, col: str, *, dayfirst: bool | None = None) -> pd.Series:
    """Column ``col`` parsed as dates (see :func:`aihub.ml.rfm.parse_dates`).

    Returns
    -------
    pandas.Series of datetime64[ns], same index as ``frame``

    Raises
    ------
    ValidationError
        Unparseable cells (first rows named) or ambiguous day/month order.
    """
    from aihub.ml.rfm import parse_dates

    parsed = parse_dates(frame[col], dayfirst=dayfirst, column=col)
    if parsed.isna().any():
        rows = [int(i) + 1 for i in np.flatnonzero(parsed.isna().to_numpy())[:5]]
        raise ValidationError(f"column {col!r}: rows {', '.join(map(str, rows))} have no date", field=col,
                              details={"column": col, "rows": rows})
    return parsed
