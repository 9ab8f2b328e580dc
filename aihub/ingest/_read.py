"""Read uploaded bytes (CSV, Excel, JSON) into a raw text table."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import IngestError, ValidationError
from aihub.ingest._apply import apply_schema
from aihub.ingest._infer import infer_column
from aihub.ingest._limits import MAX_CELL_CHARS, MAX_COLUMNS, MAX_SHEET_CELLS, run_budgeted
from aihub.ingest._schema import ColumnSchema
from aihub.ingest._values import looks_like_date, parse_numbers

#: File name endings :func:`read_upload` accepts, and the reader used for each.
ALLOWED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
#: Upload limit in MB when neither ``max_bytes`` nor ``AIHUB_MAX_UPLOAD_MB`` is set
#: (Streamlit's own default upload limit).
DEFAULT_MAX_UPLOAD_MB = 200.0
#: Environment variable holding the upload limit in MB.
MAX_UPLOAD_ENV = "AIHUB_MAX_UPLOAD_MB"
#: Delimiters the CSV sniffer chooses from, in order of preference on a tie.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

_MB = 1024 * 1024
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive or an Excel .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook (or another Office file)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "a SQLite database"),
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SAVE_AS_UTF8 = "In Excel use File > Save As > 'CSV UTF-8 (Comma delimited)', then upload that file."


@dataclass
class ParsedUpload:
    """An uploaded file read into a raw table, with the inferred schema.

    Attributes
    ----------
    filename : str
        The name the file was uploaded under.
    format : {"csv", "excel", "json"}
        Reader used, from the file name's extension.
    frame : pandas.DataFrame, shape (row_count, n_columns)
        The table *as text*: every cell is a ``str`` exactly as written
        (Excel and JSON values rendered as text: numbers as Python writes
        them, dates as ISO ``YYYY-MM-DD[ HH:MM:SS]``, booleans ``True``/``False``,
        JSON ``null`` and empty cells as ``""``). Column dtype is object on
        pandas 2 (pandas 3 may use its ``str`` dtype). Columns are named by the
        stripped header cells; RangeIndex. Convert with :meth:`typed` or
        :func:`apply_schema`.
    schema : list of ColumnSchema
        One inferred entry per column, in column order.
    encoding : str or None
        Text encoding used to decode (``"utf-8"``, ``"utf-8-sig"``,
        ``"utf-16"``, ``"utf-32"`` or ``"cp1252"``); None for Excel.
    delimiter : str or None
        Field separator of a CSV (``","``, ``";"``, ``"\\t"`` or ``"|"``);
        None for Excel and JSON.
    row_count : int
        Data rows (header and skipped blank rows excluded).
    sha256 : str
        Hex SHA-256 of the uploaded bytes, for recognising re-uploads.
    warnings : list of str
        Things the user should know (encoding fallback, skipped rows, column
        notes, ambiguous dates), one sentence each.
    size_bytes : int
        Size of the upload in bytes.
    sheet : str or None
        Worksheet read (Excel only).
    sheet_names : list of str
        All worksheets of the workbook (Excel only, else empty).
    records_path : str or None
        JSON only: dotted path of the records read (``"data.items"``), ``""`` for a top-level array.
    records_paths : list of str
        JSON only: every path holding a list of records, for the user to choose from.
    row_numbers : list of int or None
        File row of each frame row when they are not simply ``i + 2`` (blank
        rows skipped, Excel header below row 1, JSON records); pass it to
        :func:`apply_schema` so errors name the right row. For JSON, "row"
        means record number (1-based) in an array, or line number in JSON lines.
    """

    filename: str
    format: str
    frame: pd.DataFrame
    schema: list[ColumnSchema]
    encoding: str | None
    delimiter: str | None
    row_count: int
    sha256: str
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)
    row_numbers: list[int] | None = None
    records_path: str | None = None
    records_paths: list[str] = field(default_factory=list)

    @property
    def missing_tokens(self) -> dict[str, dict[str, int]]:
        """Column -> {token as written: cells} for columns holding ``none``, ``NA``, ``-``, ... (see
        :attr:`ColumnSchema.token_counts`), so the schema step can ask whether they mean "missing"."""
        return {c.name: dict(c.token_counts) for c in self.schema if c.token_counts}

    @property
    def flags(self) -> list[dict[str, Any]]:
        """One entry per column with cells to look at: ``{"column", "rows", "message"}`` (file rows, at most 100)."""
        return [{"column": c.name, "rows": list(c.flagged_rows), "message": c.note}
                for c in self.schema if c.flagged_rows]

    def typed(self, schema: Sequence[ColumnSchema] | None = None) -> pd.DataFrame:
        """Return the frame converted by :func:`apply_schema`.

        Parameters
        ----------
        schema : list of ColumnSchema, optional
            A user-corrected schema; default :attr:`schema`.

        Raises
        ------
        IngestError
            A cell does not fit a (user-chosen) kind; see :func:`apply_schema`.
        """
        return apply_schema(
            self.frame,
            self.schema if schema is None else schema,
            filename=self.filename,
            row_numbers=self.row_numbers,
        )


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def max_upload_bytes() -> int:
    """Return the configured upload limit in bytes.

    Reads ``AIHUB_MAX_UPLOAD_MB`` (a positive number of megabytes, 1 MB =
    1,048,576 bytes); default :data:`DEFAULT_MAX_UPLOAD_MB`.

    Raises
    ------
    ValidationError
        The variable is set but is not a positive number.
    """
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not raw:
        return int(DEFAULT_MAX_UPLOAD_MB * _MB)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0 or math.isnan(mb) or math.isinf(mb):
        raise ValidationError(
            f"{MAX_UPLOAD_ENV} must be a positive number of megabytes, got {raw!r}.",
            field=MAX_UPLOAD_ENV,
            details={"value": raw, "allowed": "a number > 0"},
        )
    return int(mb * _MB)


def read_upload(
    filename: str,
    data: bytes,
    *,
    max_bytes: int | None = None,
    sheet: str | int | None = None,
    records_path: str | None = None,
) -> ParsedUpload:
    """Read an uploaded file and infer its schema.

    Parameters
    ----------
    filename : str
        Name of the upload; its extension picks the reader (see
        :data:`ALLOWED_EXTENSIONS`).
    data : bytes
        The whole file.
    max_bytes : int, optional
        Size limit in bytes. Default: ``AIHUB_MAX_UPLOAD_MB`` megabytes, else
        200 MB (:func:`max_upload_bytes`).
    sheet : str or int, optional
        Excel only: worksheet name, or 0-based position. Default the first.
    records_path : str, optional
        JSON only: dotted path of the list of records in the document (``"data.items"``). Default: the one
        list of records the document holds (``ParsedUpload.records_paths`` lists the candidates).

    Returns
    -------
    ParsedUpload
        Raw text frame, inferred schema, encoding, delimiter, row count,
        SHA-256 and warnings. Nothing has been stored.

    Raises
    ------
    ValidationError
        Bad arguments (``filename`` not a string, ``data`` not bytes,
        ``max_bytes`` not a positive int, ``sheet`` given for a non-Excel file,
        bad ``AIHUB_MAX_UPLOAD_MB``).
    IngestError
        The file cannot be read as a table. ``code`` is one of
        ``unsupported_format``, ``file_too_large``, ``empty_file``,
        ``not_text``, ``bad_encoding``, ``bad_csv``, ``ragged_row``,
        ``no_header``, ``blank_column_name``, ``duplicate_column``,
        ``bad_excel``, ``unknown_sheet``, ``bad_json``; ``details["file"]`` is
        always the file name, and ``column``/``row`` are set where they apply.
    """
    name, fmt, ext, data = _checked_arguments(filename, data, max_bytes, sheet, records_path)
    sha = hashlib.sha256(data).hexdigest()
    warnings: list[str] = []

    encoding = delimiter = sheet_name = None
    sheet_names: list[str] = []
    nested: set[str] = set()
    found_paths: dict[str, Any] = {}
    where = name
    if fmt == "excel":
        header, rows, numbers, sheet_name, sheet_names = _read_excel(name, data, sheet, warnings)
        where = f"sheet {sheet_name!r} of {name}"
    else:
        text, encoding = _decode(name, data, warnings)
        if not text.strip():
            raise IngestError(
                f"{name} holds only blank space, no data. Export the data again and upload the file that contains it.",
                code="empty_file",
                details={"file": name},
            )
        if fmt == "csv":
            header, rows, numbers, delimiter = _read_csv(name, text, prefer_tab=ext == ".tsv")
        else:
            header, rows, numbers = _read_json(name, text, warnings, nested, records_path, found_paths)

    try:
        frame, row_numbers = _build_frame(where, header, rows, numbers, warnings)
    except IngestError as exc:
        exc.details["file"] = name
        if sheet_name is not None:
            exc.details["sheet"] = sheet_name
            others = [s for s in sheet_names if s != sheet_name]
            if exc.code in ("empty_file", "no_header") and others:
                exc.message += f" Or choose another sheet: {', '.join(others)}."
                exc.args = (exc.message,)
        raise
    schema = _infer_schema(frame, nested, "," if delimiter == ";" else ".", row_numbers, warnings)
    return ParsedUpload(
        filename=name,
        format=fmt,
        frame=frame,
        schema=schema,
        encoding=encoding,
        delimiter=delimiter,
        row_count=len(frame),
        sha256=sha,
        warnings=warnings,
        size_bytes=len(data),
        sheet=sheet_name,
        sheet_names=sheet_names,
        row_numbers=row_numbers,
        records_path=found_paths.get("used", "" if fmt == "json" else None),
        records_paths=list(found_paths.get("paths", [])),
    )


def _infer_schema(frame: pd.DataFrame, nested: set[str], decimal_hint: str, row_numbers: list[int] | None,
                  warnings: list[str]) -> list[ColumnSchema]:
    """Infer every column; JSON columns holding nested values stay text; notes become warnings."""
    schema = []
    for i, col_name in enumerate(frame.columns):
        col = infer_column(
            col_name, frame.iloc[:, i].to_numpy(dtype=object), decimal_hint=decimal_hint, row_numbers=row_numbers
        )
        if col_name in nested:
            col = replace(col, kind="text")
        schema.append(col)
        if col.note:
            warnings.append(col.note)
        if col.ambiguous and col.ambiguity:
            warnings.append(col.ambiguity)
    return schema


def _checked_arguments(filename: Any, data: Any, max_bytes: Any, sheet: Any, records_path: Any
                       ) -> tuple[str, str, str, bytes]:
    """Validate :func:`read_upload`'s arguments and the file's size; return (name, format, extension, bytes)."""
    if not isinstance(filename, str) or not filename.strip():
        raise ValidationError(f"filename must be a non-empty string, got {filename!r}.", field="filename")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationError(f"data must be bytes, got {type(data).__name__}.", field="data")
    data = bytes(data)
    if max_bytes is None:
        limit = max_upload_bytes()
    elif isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValidationError(
            f"max_bytes must be a positive integer, got {max_bytes!r}.",
            field="max_bytes",
            details={"value": max_bytes, "allowed": "an integer > 0"},
        )
    else:
        limit = max_bytes

    name = os.path.basename(filename.replace("\\", "/")) or filename
    ext = os.path.splitext(name)[1].lower()
    fmt = ALLOWED_EXTENSIONS.get(ext)
    if fmt is None:
        spreadsheet = ext in (".xls", ".xlsb", ".ods", ".numbers")
        hint = " Save it as .xlsx (Excel workbook) or as CSV." if spreadsheet else ""
        raise IngestError(
            f"{name} has the extension {ext or '(none)'!r}, which is not supported. "
            f"Allowed: {', '.join(ALLOWED_EXTENSIONS)}.{hint}",
            code="unsupported_format",
            details={"file": name, "value": ext, "allowed": list(ALLOWED_EXTENSIONS)},
        )
    if records_path is not None and fmt != "json":
        raise ValidationError(f"records_path applies to JSON files only, and {name} is {fmt.upper()}.",
                              field="records_path", details={"value": records_path, "file": name})
    if sheet is not None:
        if fmt != "excel":
            raise ValidationError(
                f"sheet={sheet!r} applies to Excel files only, and {name} is {fmt.upper()}.",
                field="sheet",
                details={"value": sheet, "file": name},
            )
        if isinstance(sheet, bool) or not isinstance(sheet, (str, int)):
            raise ValidationError(
                f"sheet must be a worksheet name or a 0-based position, got {sheet!r}.",
                field="sheet",
                details={"value": sheet},
            )
    size = len(data)
    if size > limit:
        raise IngestError(
            f"{name} is {_mb(size)} MB ({size:,} bytes), over the upload limit of {_mb(limit)} MB "
            f"({limit:,} bytes). Upload a smaller file "
            f"(split it, or drop unneeded columns), or ask an administrator to raise the limit by setting "
            f"{MAX_UPLOAD_ENV}.",
            code="file_too_large",
            details={"file": name, "size_bytes": size, "limit_bytes": limit, "setting": MAX_UPLOAD_ENV},
        )
    if size == 0:
        raise IngestError(
            f"{name} is empty (0 bytes). Export the data again and upload the file that contains it.",
            code="empty_file",
            details={"file": name},
        )
    return name, fmt, ext, data


def _mb(n: int) -> str:
    """Format a byte count as megabytes (1 MB = 1,048,576 bytes)."""
    mb = n / _MB
    return f"{mb:,.1f}" if mb >= 0.1 else (f"{mb:.6f}".rstrip("0").rstrip(".") or "0")


def _no_rows_message(name: str) -> str:
    return _cap(f"{name} has a header row but no data rows. Export the data again and upload the file that holds them.")


def _cap(text: str) -> str:
    """Capitalise a message that starts with "sheet '...' of file" (never a file name)."""
    return "S" + text[1:] if text.startswith("sheet '") else text


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------


def _decode(name: str, data: bytes, warnings: list[str]) -> tuple[str, str]:
    """Decode text. Policy: BOM-declared encodings, else UTF-8, else clean Windows-1252, else refuse."""
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise _encoding_error(name, data, exc, enc) from None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            hint = (
                " If it is an Excel workbook, give it the .xlsx extension."
                if magic == b"PK\x03\x04"
                else " Open it in Excel and save it as .xlsx or 'CSV UTF-8'." if magic == b"\xd0\xcf\x11\xe0" else ""
            )
            raise IngestError(
                f"{name} is not a text file: it starts like {what}. Upload a CSV, Excel (.xlsx) or JSON file.{hint}",
                code="not_text",
                details={"file": name, "detected": what},
            )
    if b"\x00" in data:
        pos = data.index(b"\x00")
        raise IngestError(
            f"{name} is not a text file (it contains NUL bytes, first at row {_row_at(data, pos)}); it may be a "
            f"binary file or UTF-16 text without a byte-order mark. {_SAVE_AS_UTF8}",
            code="not_text",
            details={"file": name, "row": _row_at(data, pos)},
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _CONTROL_RE.search(text):
        non_ascii = sum(1 for ch in text if ord(ch) > 127)
        if non_ascii <= 0.3 * len(text):
            warnings.append(
                f"{name} is not UTF-8; it was read as Windows-1252 (Western European). If accented letters "
                f"look wrong, {_SAVE_AS_UTF8[0].lower()}{_SAVE_AS_UTF8[1:]}"
            )
            return text, "cp1252"
    raise _encoding_error(name, data, utf8_error, "utf-8")


def _row_at(data: bytes, pos: int) -> int:
    newline = b"\n" if b"\n" in data else b"\r"
    return data.count(newline, 0, pos) + 1


def _encoding_error(name: str, data: bytes, exc: UnicodeDecodeError, enc: str) -> IngestError:
    row = _row_at(data, exc.start)
    bad = data[exc.start : exc.start + 1].hex().upper()
    also = ", and it is not Windows-1252 text either" if enc == "utf-8" else ""
    return IngestError(
        f"{name} cannot be decoded as text: byte 0x{bad} in row {row} is not valid {enc.upper()}{also}. "
        f"{_SAVE_AS_UTF8}",
        code="bad_encoding",
        details={"file": name, "row": row, "encoding": enc, "byte": f"0x{bad}"},
    )


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def _sniff(text: str, prefer_tab: bool) -> str:
    """Choose the delimiter giving the most rows with the header's field count (> 1)."""
    sample = text[:65536]
    if len(text) > len(sample):
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[:cut]
    order = ("\t",) + tuple(d for d in DELIMITERS if d != "\t") if prefer_tab else DELIMITERS
    best, best_score = order[0], (-1.0, 0)
    for delim in order:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delim) if r]
        except csv.Error:
            continue
        rows = rows[:200]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistent = sum(len(r) == width for r in rows) / len(rows)
        score = (consistent, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_csv(name: str, text: str, *, prefer_tab: bool) -> tuple[list[str], list[list[str]], list[int], str]:
    delimiter = _sniff(text, prefer_tab)
    def reader():
        return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)

    records: list[list[str]] = []
    if csv.field_size_limit() < MAX_CELL_CHARS:
        csv.field_size_limit(MAX_CELL_CHARS)
    try:
        records = list(reader())
    except csv.Error as exc:
        # Read again record by record to name the row (header = row 1).
        rows_before = 0
        try:
            for _ in reader():
                rows_before += 1
        except csv.Error:
            pass
        row = rows_before + 1
        if "field limit" in str(exc):
            raise IngestError(
                f"Row {row} of {name} has a cell longer than {MAX_CELL_CHARS:,} characters, the most one cell may "
                "hold. If the cell really is that long, shorten it or keep that text outside the table; if not, "
                "a double quote in that row may open a field that is never closed.",
                code="cell_too_large",
                details={"file": name, "row": row, "limit_chars": MAX_CELL_CHARS},
            ) from None
        hint = " This usually means a double quote opens a field and is never closed." if "end of data" in str(exc) \
            else ""
        raise IngestError(
            f"{name} cannot be read as CSV at row {row}: {exc}.{hint} Check that row and upload again.",
            code="bad_csv",
            details={"file": name, "row": row},
        ) from None
    last = records[-1] if records else []
    if any("\n" in f or "\r" in f for f in last) and not text.rstrip().endswith('"'):
        row = len(records)
        raise IngestError(
            f"Row {row} of {name} opens a double quote that is never closed, so the rest of the file was read "
            "as one value. Close or remove that quote and upload again.",
            code="bad_csv",
            details={"file": name, "row": row},
        )
    # Vectorised bookkeeping: a Python loop over rows would dominate on big files.
    n_rec = len(records)
    lengths = np.fromiter(map(len, records), dtype=np.intp, count=n_rec)
    filled = np.fromiter(map(any, records), dtype=bool, count=n_rec)  # some field is not ""
    start = int(np.argmax(filled))
    while start < n_rec - 1 and not any(f.strip() for f in records[start]):
        start += 1  # a line of spaces above the header
    header = records[start]
    width = len(header)
    candidates = np.flatnonzero(filled[start + 1 :]) + start + 1
    wrong = candidates[lengths[candidates] != width]
    ragged = [(int(i) + 1, int(lengths[i])) for i in wrong if any(f.strip() for f in records[i])]
    good = candidates[lengths[candidates] == width]
    rows = [records[i] for i in good]
    numbers = (good + 1).tolist()
    if ragged:
        row, found = ragged[0]
        bad = records[row - 1]
        if found > width and width == 1:
            hint = (
                " If the file starts with a title or notes above the header row, delete those lines;"
                f" otherwise put values containing the separator {_delim_name(delimiter)} in double quotes."
            )
        elif found > width:
            hint = (
                f" A value containing the separator {_delim_name(delimiter)} must be in double quotes; "
                "or the header is missing a column name."
            )
        elif any("\n" in f or "\r" in f for f in bad):
            hint = " A double quote in that row opens a field that runs over the line end; check the quotes."
        else:
            hint = " Add the missing separators so that every row has one value per column."
        n_more = len(ragged) - 1
        more = f" {n_more:,} more row{'s have' if n_more > 1 else ' has'} the same problem." if n_more else ""
        raise IngestError(
            f"Row {row} of {name} has {found} fields but the header has {width}.{hint}{more}",
            code="ragged_row",
            details={"file": name, "row": row, "expected": width, "found": found, "bad_rows": len(ragged)},
        )
    return header, rows, numbers, delimiter


def _delim_name(d: str) -> str:
    return {",": "comma ','", ";": "semicolon ';'", "\t": "tab", "|": "pipe '|'"}.get(d, repr(d))


# ---------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    if isinstance(v, dt.datetime):
        if v.hour == v.minute == v.second == v.microsecond == 0:
            return v.date().isoformat()
        return v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return str(v)


def _read_excel(
    name: str, data: bytes, sheet: str | int | None, warnings: list[str]
) -> tuple[list[str], list[list[str]], list[int], str, list[str]]:
    cells, title, names, notes = run_budgeted(_excel_cells, name, data, sheet, name=name)
    warnings.extend(notes)
    start = next((i for i, r in enumerate(cells) if any(c.strip() for c in r)), None)
    if start is None:
        others = [s for s in names if s != title]
        hint = f" Choose another sheet: {', '.join(others)}." if others else " Add the data to it and upload again."
        raise IngestError(
            f"Sheet {title!r} of {name} is empty.{hint}",
            code="empty_file",
            details={"file": name, "sheet": title, "allowed": others},
        )
    # Trim columns that are blank in every row (read-only mode reports the used range).
    width = max(len(r) for r in cells)
    used = [j for j in range(width) if any(j < len(r) and r[j].strip() for r in cells[start:])]
    first_col, last_col = used[0], used[-1]
    header = cells[start] + [""] * (width - len(cells[start]))
    header = header[first_col : last_col + 1]
    rows, numbers = [], []
    for i in range(start + 1, len(cells)):
        r = cells[i] + [""] * (width - len(cells[i]))
        r = r[first_col : last_col + 1]
        if not any(c.strip() for c in r):
            continue
        rows.append(r)
        numbers.append(i + 1)
    return header, rows, numbers, title, names


def _too_large(name: str, title: str, rows: int, cols: int, what: str) -> IngestError:
    return IngestError(
        f"Sheet {title!r} of {name} {what} {rows:,} rows x {cols:,} columns; at most {MAX_SHEET_CELLS:,} cells and "
        f"{MAX_COLUMNS:,} columns are read. This usually comes from a stray value or formatting far below or to the "
        "right of the table: delete the empty rows and columns after your data (or copy the table to a new "
        "sheet), save, and upload again.",
        code="sheet_too_large",
        details={"file": name, "sheet": title, "rows": rows, "columns": cols, "limit_cells": MAX_SHEET_CELLS,
                 "limit_columns": MAX_COLUMNS},
    )


def _open_sheet(name: str, wb: Any, sheet: str | int | None) -> Any:
    names = list(wb.sheetnames)
    if sheet is None:
        return wb.worksheets[0]
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise IngestError(
                f"{name} has no sheet number {sheet} (0-based); it has {len(names)}: {', '.join(names)}.",
                code="unknown_sheet",
                details={"file": name, "value": sheet, "allowed": names},
            )
        return wb.worksheets[sheet]
    if sheet not in names:
        raise IngestError(
            f"{name} has no sheet named {sheet!r}; its sheets are: {', '.join(names)}.",
            code="unknown_sheet",
            details={"file": name, "value": sheet, "allowed": names},
        )
    return wb[sheet]


def _excel_cells(name: str, data: bytes, sheet: str | int | None) -> tuple[list[list[str]], str, list[str], list[str]]:
    """The worksheet as rows of cell texts (trailing blanks trimmed); runs in the budgeted child process.

    The sheet's declared dimensions are checked before any row is read, and cells are counted as rows
    stream, so neither a huge declared range nor a dimension tag that lies makes the reader grow.
    """
    import openpyxl  # local import: only Excel uploads pay for it

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        looks_text = data[:1] not in (b"P",) and b"\x00" not in data[:4096]
        hint = " If it is a CSV file, give it the .csv extension." if looks_text else ""
        raise IngestError(
            f"{name} is not a readable Excel .xlsx workbook ({type(exc).__name__}).{hint} "
            "Otherwise open it in Excel, save it again as .xlsx and upload that file.",
            code="bad_excel",
            details={"file": name},
        ) from None
    notes: list[str] = []
    try:
        names = list(wb.sheetnames)
        ws = _open_sheet(name, wb, sheet)
        if sheet is None and len(names) > 1:
            notes.append(
                f"{name} has {len(names)} sheets ({', '.join(names)}); the first, {ws.title!r}, was read. "
                "Choose another sheet to read it instead."
            )
        title = ws.title
        declared_rows, declared_cols = ws.max_row or 0, ws.max_column or 0
        if declared_cols > MAX_COLUMNS or declared_rows * declared_cols > MAX_SHEET_CELLS:
            raise _too_large(name, title, declared_rows, declared_cols, "declares")
        cells: list[list[str]] = []
        seen, widest = 0, 0
        for raw in ws.iter_rows(values_only=True):
            seen += max(len(raw), 1)
            widest = max(widest, len(raw))
            if seen > MAX_SHEET_CELLS or widest > MAX_COLUMNS:
                raise _too_large(name, title, len(cells) + 1, widest, "holds more than")
            end = len(raw)
            while end and raw[end - 1] is None:
                end -= 1
            cells.append([_cell_text(v) for v in raw[:end]])
    finally:
        wb.close()
    return cells, title, names, notes


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

_RECORD_KEYS = ("data", "records", "rows", "items", "results")
_MAX_PATH_DEPTH = 4


def records_paths(doc: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Dotted paths (``"data.items"``) of the non-empty lists of records (objects or rows) inside a JSON object.

    Looks at most :data:`_MAX_PATH_DEPTH` objects deep, in key order.
    """
    out: list[str] = []
    if not isinstance(doc, dict) or depth >= _MAX_PATH_DEPTH:
        return out
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
            out.append(path)
        elif isinstance(value, dict):
            out.extend(records_paths(value, path + ".", depth + 1))
    return out


def _records_in(name: str, doc: Any, records_path: str | None, warnings: list[str], found: dict[str, Any]) -> Any:
    """The list of records of a JSON document: at ``records_path`` if given, else the one list it holds.

    ``found`` receives ``"paths"`` (every candidate) and ``"used"`` (the path read, "" for the document).
    """
    candidates = records_paths(doc)
    found["paths"], found["used"] = candidates, records_path or ""
    if records_path:
        node = doc
        for part in records_path.removeprefix("$.").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, list):
            raise IngestError(
                f"{name} has no list of records at {records_path!r}. Lists of records found at: "
                f"{', '.join(map(repr, candidates)) or 'none'}.",
                code="bad_json", field="records_path", details={"file": name, "value": records_path,
                                                                "allowed": candidates},
            )
        return node
    if not isinstance(doc, dict):
        return doc
    if len(candidates) == 1:
        found["used"] = candidates[0]
        if "." in candidates[0]:
            warnings.append(f"{name} holds its records under {candidates[0]!r}; they were read from there.")
        return _walk(doc, candidates[0])
    preferred = [k for k in _RECORD_KEYS if k in candidates]
    if not preferred:
        raise IngestError(
            f"{name} is a JSON object holding {'several lists' if candidates else 'no list'} of records"
            f"{' (at ' + ', '.join(map(repr, candidates)) + ')' if candidates else ''}. "
            + ("Choose which one to read." if candidates else 'Upload an array of records like [{"date": '
               '"2024-01-31", "sales": 10}, ...], or {"data": [...]}.'),
            code="bad_json",
            field="records_path" if candidates else None,
            details={"file": name, "allowed": candidates},
        )
    found["used"] = preferred[0]
    warnings.append(f"{name} holds several lists; records were read from {preferred[0]!r}. Lists of records are "
                    f"also at: {', '.join(repr(c) for c in candidates if c != preferred[0])}.")
    return doc[preferred[0]]


def _walk(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


def _json_value(v: Any, nested: set[str], key: str) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (dict, list)):
        nested.add(key)
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _json_error(name: str, exc: json.JSONDecodeError, what: str = "JSON") -> IngestError:
    return IngestError(
        f"{name} is not valid {what}: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
        "Fix the file (or export it again) and upload it again.",
        code="bad_json",
        details={"file": name, "row": exc.lineno, "position": exc.colno},
    )


def _json_lines(name: str, text: str) -> tuple[list[Any], list[int]]:
    """JSON lines: one record per non-blank line; returns (records, line numbers)."""
    records, numbers = [], []
    for lineno, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"Line {lineno} of {name} is not valid JSON ({exc.msg}, column {exc.colno}). In JSON lines "
                "each line must hold one complete object. Fix that line and upload again.",
                code="bad_json",
                details={"file": name, "row": lineno},
            ) from None
        numbers.append(lineno)
    return records, numbers


def _read_json(
    name: str, text: str, warnings: list[str], nested: set[str], records_path: str | None = None,
    found: dict[str, Any] | None = None,
) -> tuple[list[str], list[list[str]], list[int]]:
    stripped = text.strip()
    records: list[Any]
    numbers: list[int]
    try:
        doc = json.loads(stripped)
        lines_mode = False
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data" or not stripped.startswith("{"):
            raise _json_error(name, exc) from None
        lines_mode = True
    if lines_mode:
        records, numbers = _json_lines(name, text)
    else:
        doc = _records_in(name, doc, records_path, warnings, {} if found is None else found)
        if not isinstance(doc, list):
            raise IngestError(
                f"{name} holds a single JSON {type(doc).__name__}, not a table. Upload an array of records "
                'like [{"date": "2024-01-31", "sales": 10}, ...].',
                code="bad_json",
                details={"file": name},
            )
        records = doc
        numbers = list(range(1, len(doc) + 1))
    if not records:
        raise IngestError(
            f"{name} holds no records. Export the data again and upload the file that contains it.",
            code="empty_file",
            details={"file": name},
        )
    if all(isinstance(r, list) for r in records):
        # Array of arrays: the first one is the header, like a CSV.
        header = [_json_value(v, nested, "") for v in records[0]]
        width = len(header)
        rows = []
        for r, number in zip(records[1:], numbers[1:], strict=True):
            if len(r) != width:
                raise IngestError(
                    f"Row {number} of {name} has {len(r)} values but the first (header) row has {width}.",
                    code="ragged_row",
                    details={"file": name, "row": number, "expected": width, "found": len(r)},
                )
            rows.append([_json_value(v, nested, header[j]) for j, v in enumerate(r)])
        return header, rows, numbers[1:]
    columns: dict[str, None] = {}
    for r, number in zip(records, numbers, strict=True):
        if not isinstance(r, dict):
            raise IngestError(
                f"Record {number} of {name} is a {type(r).__name__}, not an object with named fields. "
                "Every record must look like {\"column\": value, ...}.",
                code="bad_json",
                details={"file": name, "row": number},
            )
        for k in r:
            columns.setdefault(k, None)
    header = list(columns)
    rows = [[_json_value(r.get(k), nested, k) for k in header] for r in records]
    for k in header:
        if k in nested:
            warnings.append(f"Column {k!r} of {name} holds nested objects or lists; they were kept as JSON text.")
    return header, rows, numbers


# ---------------------------------------------------------------------------
# header checks and frame
# ---------------------------------------------------------------------------


def _looks_like_value(cell: str) -> bool:
    c = cell.strip()
    if not c:
        return False
    arr = np.array([c], dtype=object)
    return bool(parse_numbers(arr, ".").ok[0] or parse_numbers(arr, ",").ok[0] or looks_like_date(c))


def _is_row_index(values: np.ndarray) -> bool:
    """True when a column reads 0, 1, 2, ... (or 1, 2, 3, ...) down the rows: an exported row index."""
    if len(values) == 0:
        return False
    first = values[0].strip()
    if first not in ("0", "1"):
        return False
    start = int(first)
    expected = np.arange(start, start + len(values)).astype(str)
    return bool((np.char.strip(values.astype(str)) == expected).all())


def _build_frame(
    name: str, header: list[str], rows: list[list[str]], numbers: list[int], warnings: list[str]
) -> tuple[pd.DataFrame, list[int] | None]:
    header = [h.replace("\ufeff", "").strip() for h in header]
    header_row = (numbers[0] - 1) if numbers else 1
    if header and all(_looks_like_value(h) for h in header):
        years = all(re.fullmatch(r"(18|19|20)\d\d", h) for h in header)
        if not years:
            shown = ", ".join(repr(h) for h in header[:5])
            raise IngestError(
                f"The first row of {name} looks like data, not column names: {shown}. Add a header row "
                "with a name for each column (for example: date,sales) and upload again.",
                code="no_header",
                details={"file": name, "row": header_row, "value": header[:5]},
            )
    if not rows:
        raise IngestError(
            _no_rows_message(name),
            code="empty_file",
            details={"file": name},
        )
    table = np.array(rows, dtype=object).reshape(len(rows), len(header))
    # Rows whose every cell is whitespace are blank too (rows of "" were dropped by the readers).
    blank = np.ones(len(rows), dtype=bool)
    for j in range(len(header)):
        idx = np.flatnonzero(blank)
        if len(idx) == 0:
            break
        blank[idx] = [not v.strip() for v in table[idx, j]]
    if blank.any():
        table = table[~blank]
        numbers = [n for n, b in zip(numbers, blank, strict=True) if not b]
        if len(table) == 0:
            raise IngestError(
                _no_rows_message(name),
                code="empty_file",
                details={"file": name},
            )
    columns = [table[:, j] for j in range(len(header))]
    keep: list[int] = []
    for j, h in enumerate(header):
        if h:
            keep.append(j)
            continue
        if j == 0 and _is_row_index(columns[0]):
            warnings.append(
                f"The first column of {name} has no name and counts {columns[0][0].strip()}, "
                f"{columns[0][1].strip() if len(columns[0]) > 1 else '...'}, ...: a row index (what pandas' "
                "to_csv() writes by default), not data. It was left out."
            )
            continue
        filled = next((i for i, v in enumerate(columns[j]) if v.strip()), None)
        if filled is None:
            warnings.append(f"Column {j + 1} of {name} has no name and no values; it was left out.")
            continue
        raise IngestError(
            f"Column {j + 1} of {name} has no name in the header row but holds data (first value "
            f"{columns[j][filled].strip()!r} in row {numbers[filled]}). Type a name in its header cell and "
            "upload again.",
            code="blank_column_name",
            field=None,
            details={"file": name, "column": j + 1, "row": header_row, "value": columns[j][filled].strip()},
        )
    seen: dict[str, int] = {}
    for j in keep:
        h = header[j]
        if h in seen:
            raise IngestError(
                _cap(
                    f"{name} has two columns named {h!r} (columns {seen[h] + 1} and {j + 1}). Rename one in the "
                    "header row and upload again."
                ),
                code="duplicate_column",
                field=h,
                details={"file": name, "column": h, "row": header_row, "positions": [seen[h] + 1, j + 1]},
            )
        seen[h] = j
    frame = pd.DataFrame(
        {header[j]: np.ascontiguousarray(columns[j]) for j in keep},
        index=pd.RangeIndex(len(table)),
    )
    contiguous = numbers == list(range(2, len(table) + 2))
    skipped = (numbers[-1] - numbers[0] + 1) - len(table) if numbers else 0
    if skipped > 0:
        warnings.append(
            f"{_rows(skipped)} between the data rows of {name} {'was' if skipped == 1 else 'were'} blank "
            "and skipped; row numbers in messages still count them."
        )
    return frame, None if contiguous else numbers
