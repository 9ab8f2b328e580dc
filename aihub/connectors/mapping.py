"""Field mapping: rename source columns, apply defaults, convert types.

:func:`apply_mapping` turns the raw table a connector read into the table a
dataset version stores. Types are converted by :func:`aihub.ingest.apply_schema`,
the same rules uploads follow, so a number written ``"1,234.50"`` or a date
written ``"2024-03-01T10:00:00Z"`` reads the same whichever way it arrived.

Order of operations
-------------------
1. Rename: each ``external -> internal`` pair of ``field_mapping``. A source
   column named in the mapping but absent from the data is an error
   (``schema_mismatch``) unless the internal field is declared and not
   ``required``; such a field is created empty.
2. Select: with declared fields (``data_schema.fields``) the output has
   exactly those columns, in that order; other source columns are left out
   (a warning lists them). Without declared fields every column is kept, as
   text for :func:`aihub.ingest.read_upload` to infer later.
3. Defaults: a declared field's missing cells (None, NaN, blank, or one of
   :data:`aihub.ingest.LEGACY_MISSING_TOKENS`) take its ``default``.
4. Convert: each declared field to its ``type``. A value that does not fit
   fails the read (``schema_mismatch``, naming the field, the record number
   and the value) or, with ``invalid: "missing"``, becomes missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub.connectors.config import FieldSpec
from aihub.errors import ConnectorError, IngestError
from aihub.ingest import LEGACY_MISSING_TOKENS, apply_schema


@dataclass(frozen=True)
class MappedFrame:
    """Result of :func:`apply_mapping`.

    Attributes
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        Renamed, defaulted and typed; RangeIndex. Declared fields have the
        dtypes of :func:`aihub.ingest.apply_schema` (``number`` float64,
        ``integer`` Int64, ``boolean`` boolean, ``date`` datetime64[ns],
        ``category`` category, ``id``/``text`` string); undeclared columns
        are left as read.
    warnings : tuple of str
        One sentence each: dropped columns, created empty fields, defaults used.
    defaults_used : dict of str to int
        Cells filled with the default, per field.
    """

    frame: pd.DataFrame
    warnings: tuple[str, ...]
    defaults_used: dict[str, int]


def _renamed(frame: pd.DataFrame, columns: list[str], mapping: dict[str, str], declared: dict[str, FieldSpec],
             source: str) -> pd.DataFrame:
    """``frame`` with the mapping's renames; a mapped column that is absent is an error unless optional."""
    data = frame.copy()
    data.columns = columns
    for ext in (e for e in mapping if e not in columns):
        spec = declared.get(mapping[ext])
        if spec is None or spec.required:
            raise _mismatch(
                source, ext,
                f"Column {ext!r} named in the field mapping of source {source!r} is not in the data. Columns "
                f"there: {_list(columns)}. Fix the mapping or the source.",
                seen=columns,
            )
    renames = {e: i for e, i in mapping.items() if e in columns}
    kept = set(columns) - set(renames)
    for ext, internal in renames.items():
        if internal in kept and internal != ext:
            raise _mismatch(
                source, internal,
                f"Source {source!r}: mapping {ext!r} to {internal!r} clashes with the column {internal!r} the data "
                "already has. Map that column to another name too, or pick another internal name.",
            )
    return data.rename(columns=renames)


def apply_mapping(
    frame: pd.DataFrame,
    field_mapping: Mapping[str, str] | None = None,
    fields: Sequence[FieldSpec] = (),
    *,
    source: str = "the source",
) -> MappedFrame:
    """Rename, select, default and convert the columns of a source table.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        The table as read (any dtypes: text, numbers, timestamps, JSON values).
    field_mapping : mapping of str to str, optional
        External (source) name to internal name.
    fields : sequence of FieldSpec, optional
        Declared internal fields (``SourceConfig.fields``), already validated.
    source : str
        Source name for messages.

    Returns
    -------
    MappedFrame

    Raises
    ------
    ConnectorError
        Kind ``schema_mismatch``: a mapped or required column is absent, a
        rename would clash with another column, or a value does not fit its
        field's type. ``details`` holds ``source``, ``column`` and, for values,
        ``row`` (1-based record number), ``value`` and ``bad_count``.
    """
    mapping = dict(field_mapping or {})
    warnings: list[str] = []
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise _mismatch(source, dup, f"The data from source {source!r} has two columns named {dup!r}; rename one "
                        "in the source (for a query, give it an alias).")
    declared = {f.name: f for f in fields}
    data = _renamed(frame, columns, mapping, declared, source)
    if not fields:
        return MappedFrame(_plain(data), tuple(warnings), {})

    present = set(data.columns)
    for spec in fields:
        if spec.name not in present:
            if spec.required:
                mapped_from = [e for e, i in mapping.items() if i == spec.name]
                hint = f" (mapped from {mapped_from[0]!r})" if mapped_from else ""
                raise _mismatch(
                    source, spec.name,
                    f"Required field {spec.name!r}{hint} is not in the data from source {source!r}. Columns "
                    f"there: {_list(columns)}. Map the right column to {spec.name!r}, or make the field optional.",
                    seen=columns,
                )
            data[spec.name] = None
            what = f"filled with its default {spec.default!r}" if spec.default is not None else "left empty"
            warnings.append(f"Field {spec.name!r} is not in the data from source {source!r}; it was {what}.")
    dropped = [c for c in data.columns if c not in declared]
    if dropped:
        warnings.append(
            f"{len(dropped)} column(s) of source {source!r} are not declared fields and were left out: "
            f"{_list(dropped)}."
        )
    out = data[[f.name for f in fields]].copy()
    used: dict[str, int] = {}
    text: dict[str, Any] = {}
    for spec in fields:
        cells = _text_cells(out[spec.name])
        if spec.default is not None:
            missing = _missing(cells)
            n = int(missing.sum())
            if n:
                cells = cells.copy()
                cells[missing] = _default_text(spec.default)
                used[spec.name] = n
        text[spec.name] = cells
    text_frame = pd.DataFrame(text, index=pd.RangeIndex(len(out)), dtype=object)
    try:
        typed = apply_schema(
            text_frame, [f.column_schema() for f in fields], filename=f"source {source!r}",
            row_numbers=range(1, len(out) + 1),
        )
    except IngestError as exc:
        d = exc.details
        spec = declared.get(d.get("column"))
        kind = d.get("kind", spec.type if spec else "")
        more = f" ({d['bad_count']:,} values in all)" if d.get("bad_count", 1) > 1 else ""
        fmt = f" in format {d['date_format']}" if d.get("date_format") else ""
        where = f"record {d['row']}" if d.get("row") is not None else "a record"
        raise ConnectorError(
            f"Field {d.get('column')!r} of source {source!r} is set to {kind}{fmt}, but {where} holds "
            f"{d.get('value')!r}{more}. Fix the data in the source, map another column to it, change the field's "
            "type (or date format), or set the field's 'invalid' to 'missing'.",
            kind="schema_mismatch",
            field=d.get("column"),
            details={"source": source, "column": d.get("column"), "row": d.get("row"), "value": d.get("value"),
                     "bad_count": d.get("bad_count"), "type": kind},
        ) from None
    for name, n in used.items():
        warnings.append(f"Field {name!r}: {n:,} missing value(s) of source {source!r} took the default "
                        f"{declared[name].default!r}.")
    return MappedFrame(typed, tuple(warnings), used)


def _mismatch(source: str, column: str, message: str, seen: list[str] | None = None) -> ConnectorError:
    details: dict[str, Any] = {"source": source, "column": column}
    if seen is not None:
        details["columns_seen"] = seen[:200]
    return ConnectorError(message, kind="schema_mismatch", field=column, details=details)


def _list(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "(none)"


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell_text(v: Any) -> str:
    """One cell as the text the upload reader would see."""
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))  # shortest round-trip text; repr(np.float64) is not plain
    if isinstance(v, pd.Timestamp):
        if v.tzinfo is not None:
            v = v.tz_convert("UTC").tz_localize(None)
        return v.isoformat(sep=" ") if (v.hour or v.minute or v.second or v.microsecond or v.nanosecond) \
            else v.date().isoformat()
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if hasattr(v, "isoformat"):  # datetime.date / datetime.datetime / time
        if getattr(v, "tzinfo", None) is not None and hasattr(v, "astimezone"):
            import datetime as dt

            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(sep=" ") if hasattr(v, "hour") and hasattr(v, "date") else v.isoformat()
    return str(v)


def _text_cells(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype=object)
    return np.fromiter((_cell_text(v) for v in values), dtype=object, count=len(values))


def _missing(cells: np.ndarray) -> np.ndarray:
    return np.fromiter((c.strip().lower() in LEGACY_MISSING_TOKENS for c in cells), dtype=bool, count=len(cells))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Undeclared columns: keep as read, but nested JSON values and bytes as text."""
    out = frame.reset_index(drop=True)
    for col in out.columns:
        s = out[col]
        if s.dtype == object and s.map(lambda v: isinstance(v, (dict, list, tuple, bytes, bytearray))).any():
            out[col] = s.map(lambda v: _cell_text(v) if isinstance(v, (dict, list, tuple, bytes, bytearray)) else v)
    return out


def to_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text, as :attr:`aihub.ingest.ParsedUpload.frame` holds it.

    Timestamps become ISO ``YYYY-MM-DD[ HH:MM:SS]`` (UTC, offset dropped),
    booleans ``true``/``false``, floats their shortest round-trip form,
    nested JSON values JSON text, bytes hex, missing values ``""``.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)

    Returns
    -------
    pandas.DataFrame, shape (n_rows, n_columns)
        object dtype, RangeIndex.
    """
    return pd.DataFrame(
        {str(c): _text_cells(frame[c]) for c in frame.columns}, index=pd.RangeIndex(len(frame)), dtype=object
    )
