"""Turn a raw table into a regular time series ``ds, y``.

Calendar conventions (used everywhere in :mod:`aihub.forecasting`; the numbers of
each frequency live in :mod:`.frequency`):

* ``"15min"``, ``"30min"``, ``"H"`` -- periods labelled by their start (``10:15``, ``10:00``).
* ``"D"`` -- one row per calendar day, ``ds`` at midnight.
* ``"W"`` -- ISO 8601 weeks, Monday to Sunday, labelled by their **Monday**
  (pandas period ``W-SUN``, grid alias ``W-MON``).
* ``"M"``, ``"Q"``, ``"Y"`` -- calendar months, quarters and years labelled by their **first day**.

These are the conventions of Prophet's examples (month-start dates) and of
the M4 weekly data shipped with the project (Monday dates).
:func:`fit_forecast <aihub.forecasting.fit_forecast>` also accepts a series
already on another regular grid of the same step (Sunday weeks, month ends);
future dates then continue that grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import ValidationError

from .frequency import FREQUENCIES, FREQUENCY_TABLE, freq_from_spacing, spacing_help

#: Aggregations :func:`prepare_series` supports.
AGGREGATIONS: tuple[str, ...] = ("sum", "mean")

#: Smallest number of periods any aihub model is trained on (each frequency's own minimum,
#: ``FREQUENCY_TABLE[freq].min_periods``, is at least this).
MIN_PERIODS: int = 6

# pandas period aliases whose start labels a week (Monday), month, quarter or year.
_PERIOD_ALIAS = {"W": "W-SUN", "M": "M", "Q": "Q-DEC", "Y": "Y-DEC"}

# Formats tried, in order, when dates are not ISO 8601. Day-first and
# month-first variants are both tried; ambiguity is resolved by ``dayfirst``.
_DAYFIRST_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d-%m-%y", "%d.%m.%Y", "%d.%m.%y")
_MONTHFIRST_FORMATS = ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%m-%d-%y")


def check_choice(value: Any, allowed: Iterable[str], field: str) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise.

    Raises
    ------
    ValidationError
        With ``field=field``; the message shows the bad value and the allowed set,
        in the style of scikit-learn's parameter validation.
    """
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(
            f"The '{field}' parameter must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}.",
            field=field,
            details={"value": repr(value), "allowed": list(allowed)},
        )
    return value


def _require_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    available = [str(c) for c in df.columns]
    for col in columns:
        if col not in df.columns:
            shown = ", ".join(repr(c) for c in available[:30]) + (" ..." if len(available) > 30 else "")
            raise ValidationError(
                f"Column {col!r} is not in the data. Available columns: {shown}. "
                "Choose one of these columns (names are case-sensitive).",
                field=col,
                details={"column": col, "available": available},
            )


def _first_bad(raw: pd.Series, bad: pd.Series) -> tuple[Any, Any]:
    idx = bad[bad].index[0]
    return idx, raw.loc[idx]


def parse_dates(
    raw: pd.Series, column: str, *, dayfirst: bool | None = None, date_format: str | None = None
) -> pd.Series:
    """Parse a column of dates into ``datetime64[ns]`` (timezone dropped).

    ISO 8601 (``2022-12-30``) is tried first, then day-first and month-first
    formats with ``/``, ``-`` or ``.`` separators. When both day-first and
    month-first readings fit every value (all days <= 12), ``dayfirst`` decides;
    if it is None the column is ambiguous and an error is raised.

    Parameters
    ----------
    raw : Series
        The date column as read from the file. Blank cells must already be dropped.
    column : str
        Column name, used in messages.
    dayfirst : bool or None
        Reading of ambiguous dates such as ``03/01/19``.
    date_format : str or None
        An explicit :func:`~datetime.datetime.strptime` format; skips detection.

    Returns
    -------
    Series of datetime64[ns], same index as ``raw``.

    Raises
    ------
    ValidationError
        ``field=column`` when a value cannot be read as a date or the order is ambiguous.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        out = pd.to_datetime(raw)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.astype("datetime64[ns]")
    text = raw.astype(str).str.strip()
    if date_format is not None:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        bad = parsed.isna()
        if bad.any():
            idx, val = _first_bad(raw, bad)
            raise ValidationError(
                f"Column {column!r} has a value that does not match the date format {date_format!r}: "
                f"{val!r} (row index {idx}). Fix the value or choose the right date format.",
                field=column,
                details={"column": column, "value": str(val), "row_index": str(idx)},
            )
        return parsed.astype("datetime64[ns]")

    iso = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if iso.notna().all():
        if getattr(iso.dt, "tz", None) is not None:
            iso = iso.dt.tz_localize(None)  # keep local wall-clock time
        return iso.astype("datetime64[ns]")

    def fits(formats: tuple[str, ...]) -> pd.Series | None:
        for fmt in formats:
            p = pd.to_datetime(text, format=fmt, errors="coerce")
            if p.notna().all():
                return p
        return None

    day_first = fits(_DAYFIRST_FORMATS)
    month_first = fits(_MONTHFIRST_FORMATS)
    if day_first is not None and month_first is not None and not day_first.equals(month_first):
        if dayfirst is None:
            raise ValidationError(
                f"Dates in column {column!r} such as {str(raw.iloc[0])!r} can be read day-first or month-first. "
                "Say which with dayfirst=True (dd/mm/yy) or dayfirst=False (mm/dd/yy).",
                field=column,
                details={"column": column, "value": str(raw.iloc[0])},
            )
        return (day_first if dayfirst else month_first).astype("datetime64[ns]")
    chosen = day_first if day_first is not None else month_first
    if chosen is not None:  # only one reading fits every value: the data decides
        return chosen.astype("datetime64[ns]")

    # Nothing fits every value: report the first value no reading accepts.
    best = iso
    for fmt in _DAYFIRST_FORMATS + _MONTHFIRST_FORMATS:
        p = pd.to_datetime(text, format=fmt, errors="coerce")
        if p.notna().sum() > best.notna().sum():
            best = p
    idx, val = _first_bad(raw, best.isna())
    raise ValidationError(
        f"Column {column!r} has a value that is not a date: {val!r} (row index {idx}). "
        "Use dates like 2022-12-30 or 30/12/2022, or pick the right date column.",
        field=column,
        details={"column": column, "value": str(val), "row_index": str(idx)},
    )


def parse_numbers(raw: pd.Series, column: str) -> pd.Series:
    """Parse a column of numbers; thousands separators and currency signs are allowed.

    Returns
    -------
    Series of float64 (blank cells become NaN).

    Raises
    ------
    ValidationError
        ``field=column`` naming the first value that is not a number.
    """
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float)
    text = raw.astype("string").str.strip()
    blank = text.isna() | (text == "")
    cleaned = text.str.replace(r"[,\s$€£¥]", "", regex=True)
    cleaned = cleaned.str.replace(r"^\((.*)\)$", r"-\1", regex=True)  # accounting negatives (12.5)
    num = pd.to_numeric(cleaned.where(~blank), errors="coerce")
    bad = num.isna() & ~blank
    if bad.any():
        idx, val = _first_bad(raw, bad)
        raise ValidationError(
            f"Column {column!r} must hold numbers, but it contains {val!r} (row index {idx}). "
            "Pick a numeric value column or clean that value.",
            field=column,
            details={"column": column, "value": str(val), "row_index": str(idx)},
        )
    return num.astype(float)


def _apply_filters(df: pd.DataFrame, filters: Mapping[str, Any] | None) -> pd.DataFrame:
    if not filters:
        return df
    if not isinstance(filters, Mapping):
        raise ValidationError(
            f"filters must be a dict {{column: value or list of values}}; got {type(filters).__name__}.",
            field="filters",
        )
    _require_columns(df, filters.keys())
    mask = pd.Series(True, index=df.index)
    for col, wanted in filters.items():
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        if not values:
            raise ValidationError(
                f"The filter on {col!r} has an empty list of values; give at least one value.", field=col
            )
        column = df[col]
        as_text = column.astype(str)
        for v in values:
            if not (column.isin([v]).any() or as_text.isin([str(v)]).any()):
                present = sorted(map(str, column.dropna().unique()))
                shown = ", ".join(present[:20]) + (" ..." if len(present) > 20 else "")
                raise ValidationError(
                    f"Filter {col}={v!r} matches no rows. Values in {col!r} include: {shown}. "
                    "Check the spelling or remove this filter.",
                    field=col,
                    details={"column": col, "value": str(v), "available": present[:100]},
                )
        mask &= column.isin(values) | as_text.isin([str(v) for v in values])
    return df[mask]


def period_start(ds: pd.Series, freq: str) -> pd.Series:
    """Map timestamps to the label of their period (start of the 15 minutes or hour, the day, Monday of
    the ISO week, first day of the month, quarter or year)."""
    if FREQUENCY_TABLE[freq].intraday:
        return ds.dt.floor(FREQUENCY_TABLE[freq].grid)
    if freq == "D":
        return ds.dt.normalize()
    return ds.dt.to_period(_PERIOD_ALIAS[freq]).dt.start_time


def prepare_series(
    df: pd.DataFrame,
    date_col: str,
    value_col: str,
    *,
    freq: str,
    agg: str = "sum",
    filters: Mapping[str, Any] | None = None,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    min_periods: int | None = None,
) -> pd.DataFrame:
    """Aggregate a table of events or observations into a regular series.

    Parameters
    ----------
    df : DataFrame
        Raw rows, e.g. one order line per row.
    date_col : str
        Column with the dates. ISO dates, ``dd/mm/yy`` and ``mm/dd/yy`` are recognised
        (see :func:`parse_dates`); already-parsed datetimes are used as they are.
    value_col : str
        Numeric column to aggregate (e.g. ``"Sales"``). Blank cells are ignored.
    freq : {"15min", "30min", "H", "D", "W", "M", "Q", "Y"}
        A key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`: intraday periods labelled by
        their start; days; ISO weeks Monday-Sunday labelled by their Monday; months, quarters and
        years labelled by their first day.
    agg : {"sum", "mean"}
        ``"sum"``: periods with no rows are 0 (no sales that week).
        ``"mean"``: periods with no rows are linearly interpolated between their
        neighbours (the mean is unknown, not zero).
    filters : dict, optional
        ``{column: value or list of values}``; rows must match every column
        (values of one column are alternatives), e.g. ``{"Region": "West"}``.
    dayfirst : bool, optional
        How to read ambiguous dates like ``03/01/19`` (see :func:`parse_dates`).
    date_format : str, optional
        Explicit ``strptime`` format for ``date_col``.
    min_periods : int, optional
        Fewest periods accepted; fewer cannot train a model. Default: the frequency's
        ``min_periods`` in :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`.

    Returns
    -------
    DataFrame with columns ``ds`` (datetime64[ns], the period label) and ``y``
    (float64), one row per period from the first to the last period with data,
    without gaps, sorted by ``ds``. ``df.attrs["freq"]`` holds ``freq``.

    Raises
    ------
    ValidationError
        ``field`` is the offending column or parameter: a missing column, a date or
        value that cannot be parsed, a filter value that matches no rows, an unknown
        ``freq``/``agg``, or fewer than ``min_periods`` periods.
    """
    check_choice(freq, FREQUENCIES, "freq")
    check_choice(agg, AGGREGATIONS, "agg")
    if min_periods is None:
        min_periods = FREQUENCY_TABLE[freq].min_periods
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"df must be a pandas DataFrame; got {type(df).__name__}.", field="df")
    _require_columns(df, [date_col, value_col])
    rows = _apply_filters(df, filters)
    rows = rows[rows[date_col].notna() & (rows[date_col].astype(str).str.strip() != "")]
    if rows.empty:
        raise ValidationError(
            f"Column {date_col!r} has no dates in the selected rows. Pick the date column or relax the filters.",
            field=date_col,
        )
    ds = parse_dates(rows[date_col], date_col, dayfirst=dayfirst, date_format=date_format)
    y = parse_numbers(rows[value_col], value_col)
    frame = pd.DataFrame({"ds": period_start(ds, freq), "y": y}).dropna(subset=["y"])
    if frame.empty:
        raise ValidationError(
            f"Column {value_col!r} has no numbers in the selected rows. Pick a numeric value column.",
            field=value_col,
        )
    grouped = frame.groupby("ds")["y"].agg(agg)
    grid = pd.date_range(grouped.index.min(), grouped.index.max(), freq=FREQUENCY_TABLE[freq].grid)
    series = grouped.reindex(grid)
    if agg == "sum":
        series = series.fillna(0.0)
    else:
        series = series.interpolate(method="linear")
    out = pd.DataFrame({"ds": grid.astype("datetime64[ns]"), "y": series.to_numpy(dtype=float)})
    if len(out) < min_periods:
        raise ValidationError(
            f"Only {len(out)} {FREQUENCIES[freq]} periods ({_stamp(out.ds.iloc[0])} to {_stamp(out.ds.iloc[-1])}) "
            f"have data after filtering; at least {min_periods} are needed to train a forecast. "
            "Use a finer frequency, a longer date range or fewer filters.",
            field=date_col,
            details={"periods": len(out), "min_periods": min_periods, "freq": freq},
        )
    out.attrs["freq"] = freq
    return out


def infer_freq(ds: pd.Series | pd.DatetimeIndex, *, field: str = "ds") -> str:
    """Guess the frequency from the median spacing of sorted dates.

    Returns
    -------
    str
        A key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`.

    Raises
    ------
    ValidationError
        When fewer than two dates are given or the spacing matches no supported frequency.
    """
    values = pd.DatetimeIndex(pd.Series(ds).sort_values().unique())
    if len(values) < 2:
        raise ValidationError("At least two dates are needed to tell the frequency; pass freq explicitly.", field=field)
    step = float(np.median(np.diff(values.asi8))) / 86_400e9
    code = freq_from_spacing(step)
    if code is None:
        raise ValidationError(
            f"Dates in {field!r} are {step:g} days apart; {spacing_help()}. "
            "Aggregate to one of them with prepare_series, or pass freq.",
            field=field,
            details={"median_step_days": step},
        )
    return code


def _stamp(ts: pd.Timestamp) -> str:
    """A period label for messages: the date, with the time of day when it has one."""
    ts = pd.Timestamp(ts)
    return f"{ts:%Y-%m-%d %H:%M}" if (ts.hour or ts.minute) else f"{ts:%Y-%m-%d}"


def _month_anchor(ts: pd.Timestamp) -> str:
    if ts.day == 1:
        return "start"
    if ts.is_month_end:
        return "end"
    return "same_day"


def future_dates(last: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """The ``horizon`` period labels after ``last``, continuing its grid.

    Intraday, daily and weekly steps are fixed lengths from ``last`` (whatever its
    weekday or minute). Monthly, quarterly and yearly steps keep month-start or
    month-end labels; other days of month step by calendar months.
    """
    last = pd.Timestamp(last)
    steps = np.arange(1, horizon + 1)
    f = FREQUENCY_TABLE[freq]
    if f.tick is not None:
        return pd.DatetimeIndex(last + steps * f.tick)
    anchor = _month_anchor(last)
    out = [last + pd.DateOffset(months=int(k) * f.months) for k in steps]
    if anchor == "end":
        out = [d + pd.offsets.MonthEnd(0) for d in out]
    return pd.DatetimeIndex(out)


def grid_dates(first: pd.Timestamp, periods: int, freq: str) -> pd.DatetimeIndex:
    """The regular grid of ``periods`` labels starting at ``first`` (see :func:`future_dates`)."""
    first = pd.Timestamp(first)
    return (
        pd.DatetimeIndex([first]).append(future_dates(first, periods - 1, freq))
        if periods > 1
        else pd.DatetimeIndex([first])
    )


def check_series(series: pd.DataFrame, freq: str, *, name: str = "The series") -> pd.DataFrame:
    """Validate a ``ds, y`` frame and return a clean copy.

    Parameters
    ----------
    series : DataFrame with columns ds, y
        ``ds`` sorted or not, unique, on a regular ``freq`` grid with no gaps;
        ``y`` finite numbers. Typically the output of :func:`prepare_series`.
    freq : str
        A key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`.
    name : str
        Used in messages (e.g. the series id in file mode).

    Returns
    -------
    DataFrame with columns ds (datetime64[ns]) and y (float64), sorted by ds, RangeIndex.

    Raises
    ------
    ValidationError
        ``field="ds"`` or ``field="y"`` naming the first problem found.
    """
    if not isinstance(series, pd.DataFrame):
        raise ValidationError(
            f"{name} must be a DataFrame with columns ds, y (see prepare_series); got {type(series).__name__}.",
            field="series",
        )
    _require_columns(series, ["ds", "y"])
    ds = parse_dates(series["ds"], "ds")
    y = parse_numbers(series["y"], "y")
    out = pd.DataFrame({"ds": ds.to_numpy(), "y": y.to_numpy()}).sort_values("ds", kind="stable").reset_index(drop=True)
    if out["ds"].duplicated().any():
        dup = out.loc[out["ds"].duplicated(), "ds"].iloc[0]
        raise ValidationError(
            f"{name} has more than one value for {_stamp(dup)}. "
            "Aggregate first (prepare_series) so each period has one value.",
            field="ds",
            details={"ds": str(dup)},
        )
    if not np.isfinite(out["y"].to_numpy()).all():
        bad = out.loc[~np.isfinite(out["y"].to_numpy()), "ds"].iloc[0]
        raise ValidationError(
            f"{name} has a missing or infinite y at {_stamp(bad)}. Fill the gap (prepare_series fills sums with 0 "
            "and interpolates means) or drop that period.",
            field="y",
            details={"ds": str(bad)},
        )
    if len(out) >= 2:
        expected = grid_dates(out["ds"].iloc[0], len(out), freq)
        mismatch = np.flatnonzero(expected.to_numpy() != out["ds"].to_numpy())
        if mismatch.size:
            i = int(mismatch[0])
            raise ValidationError(
                f"{name} is not a regular {FREQUENCIES[freq]} series: expected {_stamp(expected[i])} after "
                f"{_stamp(out['ds'].iloc[i - 1])} but found {_stamp(out['ds'].iloc[i])}. "
                "Periods must be consecutive with no gaps; aggregate with prepare_series or pass the right freq.",
                field="ds",
                details={"expected": str(expected[i]), "found": str(out["ds"].iloc[i])},
            )
    return out
