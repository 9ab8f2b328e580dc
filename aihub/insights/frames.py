"""Reading the columns of a caller's frame for the insight engine's input contracts.

Each reader raises one :class:`~aihub.errors.ValidationError` that names the
column, the row (1-based data row) and what to do, so a bad table is caught
when its contract is built, not inside a detector.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from aihub.errors import ValidationError

__all__ = ["require_columns", "require_frame", "text_values", "to_dates", "to_numbers"]


def require_frame(frame: Any, field_name: str) -> pd.DataFrame:
    """``frame`` as a DataFrame (a list of dicts or records is converted); anything else raises, naming ``field_name``."""
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, (list, tuple)):
        rows = [r if isinstance(r, Mapping) else getattr(r, "__dict__", r) for r in frame]
        return pd.DataFrame(list(rows))
    raise ValidationError(f"{field_name} must be a pandas DataFrame; got {type(frame).__name__}", field=field_name)


def require_columns(frame: pd.DataFrame, columns: Mapping[str, str | None], what: str) -> None:
    """Raise a ValidationError (``field`` = the role) for the first ``{role: column}`` not in ``frame``; None is skipped."""
    for role, col in columns.items():
        if col is not None and col not in frame.columns:
            cols = ", ".join(map(str, list(frame.columns)[:30]))
            raise ValidationError(
                f"{what}: {role} column {col!r} is not in the table; columns: {cols}",
                field=role,
                details={"value": col, "allowed": [str(c) for c in frame.columns]},
            )


def to_dates(values: pd.Series, column: str) -> pd.Series:
    """Naive datetimes from datetime or ISO-8601 text; other text is rejected."""
    if ptypes.is_datetime64_any_dtype(values.dtype):
        out = pd.to_datetime(values)
    else:
        out = pd.to_datetime(values, errors="coerce", format="ISO8601")
        bad = out.isna() & values.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"column {column!r} has values that are not ISO dates (row {i + 1}: {values.iloc[i]!r}); "
                "pass parsed datetimes (e.g. from aihub.ingest read_upload(...).typed())",
                field=column,
                details={"row": i + 1},
            )
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def to_numbers(values: pd.Series, column: str) -> pd.Series:
    """float64 from a numeric, boolean or numeric-text column; the first cell that is not a number raises, naming its row."""
    if ptypes.is_bool_dtype(values.dtype) or not ptypes.is_numeric_dtype(values.dtype):
        out = pd.to_numeric(values, errors="coerce")
        bad = out.isna() & values.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"column {column!r} must be numeric; row {i + 1} holds {values.iloc[i]!r}",
                field=column,
                details={"row": i + 1},
            )
        values = out
    return values.astype("float64")


def text_values(values: pd.Series) -> pd.Series:
    """Object column of str (missing stays None), the same on pandas 2 and 3."""
    arr = values.astype(object).to_numpy()
    return pd.Series(
        [None if (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA) else str(v) for v in arr],
        index=values.index,
        dtype=object,
    )
