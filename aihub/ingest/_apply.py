"""Convert raw text columns to their final types according to a schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import IngestError, ValidationError
from aihub.ingest._infer import row_label
from aihub.ingest._schema import ColumnSchema, coerce_schema
from aihub.ingest._values import (
    ISO8601,
    TextColumn,
    as_text,
    date_candidates,
    format_dayfirst,
    parse_booleans,
    parse_dates,
    parse_integers,
    parse_numbers,
    profile_text,
)

_KIND_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "date": "a date",
    "boolean": "true/false (or yes/no, y/n, t/f, 1/0)",
}


def apply_schema(
    frame: pd.DataFrame,
    schema: Sequence[ColumnSchema] | dict | list | str,
    *,
    filename: str = "the data",
    row_numbers: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Convert every column of a raw frame to the type its schema gives.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        Raw cells as text, normally :attr:`ParsedUpload.frame`. Columns that
        are already typed are turned into text first, so a typed frame can be
        re-converted with a corrected schema.
    schema : list of ColumnSchema, or its JSON form
        One entry per column of ``frame`` (same names, any order); the output
        has the schema's column order.
    filename : str, optional
        Named in error messages.
    row_numbers : sequence of int, shape (n_rows,), optional
        File row number of each frame row (:attr:`ParsedUpload.row_numbers`).
        Default: data row ``i`` (0-based) is file row ``i + 2``, the header
        being row 1.

    Returns
    -------
    pandas.DataFrame, shape (n_rows, n_columns)
        New frame with a RangeIndex. Column dtypes by kind: ``date``
        datetime64[ns]; ``number`` float64; ``integer`` Int64; ``boolean``
        boolean; ``category`` category (string categories, sorted); ``id`` and
        ``text`` string. Missing cells (blank, NA, N/A, NaN, null, None, #N/A,
        NaT) are NaN/NaT/<NA>. Surrounding whitespace is removed from every
        value.

    Raises
    ------
    ValidationError
        The schema is invalid, names a column the frame lacks, misses one the
        frame has, or ``row_numbers`` has the wrong length.
    IngestError
        Code ``type_mismatch``: a cell does not fit its column's kind and the
        column's ``invalid`` is ``"raise"``. ``details`` holds ``file``,
        ``column``, ``row`` (file row of the first bad cell), ``value``,
        ``kind`` and ``bad_count``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.", field="frame")
    columns = coerce_schema(schema)
    names = [c.name for c in columns]
    frame_names = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in frame_names]
    if missing:
        raise ValidationError(
            f"The schema names column {missing[0]!r}, which {filename} does not have; "
            f"its columns are: {', '.join(frame_names)}.",
            field="schema",
            details={"file": filename, "column": missing[0], "allowed": frame_names},
        )
    extra = [n for n in frame_names if n not in set(names)]
    if extra:
        raise ValidationError(
            f"Column {extra[0]!r} of {filename} has no entry in the schema; every column needs a kind.",
            field="schema",
            details={"file": filename, "column": extra[0], "allowed": names},
        )
    if len(set(frame_names)) != len(frame_names):
        dup = next(n for n in frame_names if frame_names.count(n) > 1)
        raise ValidationError(
            f"{filename} has two columns named {dup!r}; rename one.",
            field="schema",
            details={"file": filename, "column": dup},
        )
    if row_numbers is not None and len(row_numbers) != len(frame):
        raise ValidationError(
            f"row_numbers has {len(row_numbers)} entries but the frame has {len(frame)} rows.",
            field="row_numbers",
            details={"value": len(row_numbers), "allowed": len(frame)},
        )
    by_name = {str(c): c for c in frame.columns}
    out: dict[str, Any] = {}
    for col in columns:
        raw = frame[by_name[col.name]]
        text = profile_text(as_text(raw), missing=col.missing_tokens)
        out[col.name] = convert_column(text, col, filename=filename, row_numbers=row_numbers)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def convert_column(
    text: TextColumn,
    col: ColumnSchema,
    *,
    filename: str,
    row_numbers: Sequence[int] | None,
) -> pd.Series | pd.api.extensions.ExtensionArray | np.ndarray:
    """Convert one profiled column; see :func:`apply_schema` for dtypes and errors."""
    kind = col.kind
    uniques = text.uniques
    if kind in ("text", "id"):
        values = text.gather(uniques).astype(object)
        values[text.missing] = None
        return pd.array(values, dtype=pd.StringDtype())
    if kind == "category":
        cats = sorted(uniques.tolist())
        codes = np.where(text.missing, -1, text.gather(_remap_codes(uniques, cats)))
        return pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype=object))
    if kind == "number":
        parsed = parse_numbers(uniques, col.decimal)
        ok = parsed.ok
        _check(text, col, ok, filename, row_numbers)
        values = text.gather(np.where(ok, parsed.values, np.nan)).astype(np.float64)
        values[text.missing] = np.nan
        return values
    if kind == "integer":
        ints, ok = parse_integers(uniques, col.decimal)
        _check(text, col, ok, filename, row_numbers)
        values = text.gather(ints)
        mask = text.missing | ~text.gather(ok) if len(uniques) else text.missing
        return pd.arrays.IntegerArray(values.astype(np.int64), mask.astype(bool))
    if kind == "boolean":
        bools, ok = parse_booleans(uniques)
        _check(text, col, ok, filename, row_numbers)
        values = text.gather(bools)
        mask = text.missing | ~text.gather(ok) if len(uniques) else text.missing
        return pd.arrays.BooleanArray(values.astype(bool), mask.astype(bool))
    if kind == "date":
        fmt = col.date_format or _choose_format(text, col, filename)
        dates, ok, _ = parse_dates(uniques, fmt)
        _check(text, col, ok, filename, row_numbers, fmt=fmt)
        values = text.gather(dates).astype("datetime64[ns]")
        values[text.missing] = np.datetime64("NaT")
        return values
    raise AssertionError(kind)  # validate_column guarantees the kind


def _remap_codes(uniques: np.ndarray, cats: list[str]) -> np.ndarray:
    position = {c: i for i, c in enumerate(cats)}
    return np.fromiter((position[u] for u in uniques), dtype=np.intp, count=len(uniques))


def _choose_format(text: TextColumn, col: ColumnSchema, filename: str) -> str:
    """Pick a date format for a column the user marked ``date`` without one."""
    candidates = [
        f for f in date_candidates(text.uniques, max_probe=50)
        if col.dayfirst is None or format_dayfirst(f) in (None, col.dayfirst)
    ]
    best, best_ok = None, -1
    for fmt in candidates:
        _, ok, _ = parse_dates(text.uniques, fmt)
        if ok.all():
            return fmt
        if ok.sum() > best_ok:
            best, best_ok = fmt, int(ok.sum())
    if best is not None:
        return best  # _check then reports the first value it cannot parse
    if len(text.uniques) == 0:
        return ISO8601
    example = text.uniques[0]
    raise IngestError(
        f"Column {col.name!r} of {filename} is set to date, but values such as {example!r} match no "
        "date format we know. Set its date format (for example %d/%m/%Y) or choose another kind.",
        code="type_mismatch",
        field=col.name,
        details={"file": filename, "column": col.name, "value": example, "kind": "date"},
    )


def _check(
    text: TextColumn,
    col: ColumnSchema,
    ok: np.ndarray,
    filename: str,
    row_numbers: Sequence[int] | None,
    *,
    fmt: str | None = None,
) -> None:
    if col.invalid == "missing" or ok.all():
        return
    bad = ~ok
    pos = text.first_row_of(bad)
    row = row_label(pos, row_numbers)
    value = text.stripped[pos]
    bad_count = text.rows_flagged(bad)
    what = _KIND_WORDS[col.kind]
    if fmt is not None:
        what = f"a date in format {fmt}"
    more = f" ({bad_count:,} cells in all)" if bad_count > 1 else ""
    fixes = "Fix the cell and upload again, correct the date format" if fmt else "Fix the cell and upload again"
    raise IngestError(
        f"Column {col.name!r} is set to {col.kind}, but row {row} of {filename} holds {value!r}, "
        f"which is not {what}{more}. {fixes}, set the column to text, "
        "or treat invalid values as missing.",
        code="type_mismatch",
        field=col.name,
        details={
            "file": filename,
            "column": col.name,
            "row": row,
            "value": value,
            "kind": col.kind,
            "bad_count": bad_count,
            **({"date_format": fmt} if fmt else {}),
        },
    )
