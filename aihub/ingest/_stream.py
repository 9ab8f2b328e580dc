"""Reading a large delimited file in chunks of rows, with bounded memory (batch predictions).

:func:`read_upload` reads a whole file and infers its schema; a batch
prediction needs neither: the model's feature schema decides how each cell is
read. :func:`iter_table_chunks` yields the table as text frames of at most
``chunk_rows`` rows, each with the file line of every row, reading a UTF-8 CSV
or TSV incrementally (pyarrow's streaming CSV reader, every cell as text). Other files (Excel, JSON, CSV in
another encoding) are read whole with :func:`read_upload` and then cut into
chunks: their size is bounded by the upload limit.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import PurePath
from typing import BinaryIO

import numpy as np
import pandas as pd

from aihub.errors import IngestError
from aihub.ingest._read import ALLOWED_EXTENSIONS, read_upload

#: Bytes looked at to choose the delimiter and check the encoding.
_HEAD_BYTES = 1 << 16
#: Bytes pyarrow parses at a time (memory of the reader is a few times this).
_BLOCK_BYTES = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")


def _delimiter(first_line: str, ext: str) -> str:
    if ext == ".tsv":
        return "\t"
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _utf8_head(head: bytes) -> str | None:
    """The head decoded as UTF-8 (a character cut at the end is fine), or None when it is not UTF-8."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return None


def iter_table_chunks(filename: str, source: bytes | BinaryIO, *, chunk_rows: int = 50_000,
                      max_bytes: int | None = None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield a table file as text frames of at most ``chunk_rows`` rows.

    Parameters
    ----------
    filename : str
        Its extension picks the reader (:data:`ALLOWED_EXTENSIONS`).
    source : bytes or binary file object
        The file; a file object is read incrementally (UTF-8 CSV/TSV/TXT).
    chunk_rows : int, default 50,000
    max_bytes : int, optional
        Size limit for files read whole (see :func:`read_upload`).

    Yields
    ------
    frame : pandas.DataFrame of shape (<= chunk_rows, n_columns)
        Cells as text exactly as written (blank cells ``""``), columns named
        by the header, RangeIndex from 0 in each chunk. Blank lines are skipped.
    lines : ndarray of int, shape (len(frame),)
        File line of each row (header = line 1). Bytes with blank lines are
        read whole, so their lines are exact; in a streamed file object a
        blank line or a quoted cell spanning several lines shifts the count of
        the rows after it (the reader reports records, not lines).

    Raises
    ------
    IngestError
        The file cannot be read (``ragged_row`` names the line, ``duplicate_column``
        the column, ``empty_file``); a chunk already yielded stays valid.
    """
    name = PurePath(str(filename)).name
    ext = PurePath(name).suffix.lower()
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    reader = io.BufferedReader(stream, _HEAD_BYTES) if not hasattr(stream, "peek") else stream
    head = reader.peek(_HEAD_BYTES)[:_HEAD_BYTES] if ALLOWED_EXTENSIONS.get(ext) == "csv" else b""
    text_head = _utf8_head(head) if head else None
    if not text_head or not text_head.strip():
        yield from _whole(name, reader.read(), chunk_rows, max_bytes)
        return
    first = text_head.lstrip("\ufeff")
    delim = _delimiter(first.splitlines()[0] if first.strip() else "", ext)
    if isinstance(source, bytes | bytearray) and _blank_or_leading_lines(first, source):
        yield from _whole(name, reader.read(), chunk_rows, max_bytes)  # exact line numbers around blank lines
        return
    header = next(csv.reader(io.StringIO(first), delimiter=delim), [])
    yield from _csv_chunks(name, reader, delim, [str(c).strip() for c in header], chunk_rows)


def _blank_or_leading_lines(head: str, data: bytes) -> bool:
    """Whether the file has blank lines (rows would be numbered wrong by the streaming reader)."""
    return not head[:1].strip() or any(m in data for m in (b"\n\n", b"\n\r\n", b"\r\r"))


def _whole(name: str, data: bytes, chunk_rows: int, max_bytes: int | None
           ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    parsed = read_upload(name, data, max_bytes=max_bytes)
    frame = parsed.frame
    lines = np.asarray(parsed.row_numbers or np.arange(2, len(frame) + 2), dtype=np.int64)
    for start in range(0, max(len(frame), 1), chunk_rows):
        part = frame.iloc[start:start + chunk_rows].reset_index(drop=True)
        if len(part):
            yield part, lines[start:start + chunk_rows]


def _pieces(reader: BinaryIO, size: int) -> Iterator[bytes]:
    """The stream in pieces of about ``size`` bytes, each ending at a line break outside quotes."""
    buf = b""
    while True:
        block = reader.read(size)
        if not block:
            if buf.strip():
                yield buf
            return
        buf += block
        cut = buf.rfind(b"\n")
        while cut >= 0 and buf.count(b'"', 0, cut) % 2:  # that break is inside a quoted cell
            cut = buf.rfind(b"\n", 0, cut)
        if cut >= 0:
            yield buf[:cut + 1]
            buf = buf[cut + 1:]


def _csv_chunks(name: str, reader: BinaryIO, delim: str, header: list[str], chunk_rows: int
                ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Pieces of the file parsed by pyarrow, re-cut into chunks of ``chunk_rows``.

    pyarrow refuses a row with more or fewer cells than the header (pandas'
    chunked reader silently drops the extra cells of rows after its first
    chunk), reads every cell as text and skips blank lines. The file is fed
    to it piece by piece (:data:`_BLOCK_BYTES`): its own streaming reader reads
    a Python file object to the end before the first batch.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    index = len(header) > 1 and header[0] == ""  # maybe pandas' row index, which read_upload leaves out
    _check_header(name, header[1:] if index else header)
    header = [_INDEX, *header[1:]] if index else header
    parse = pacsv.ParseOptions(delimiter=delim, newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    pending: list[pd.DataFrame] = []
    have = seen = 0
    try:
        for k, piece in enumerate(_pieces(reader, _BLOCK_BYTES)):
            table = pacsv.read_csv(io.BytesIO(piece), parse_options=parse, convert_options=convert,
                                   read_options=pacsv.ReadOptions(skip_rows=1 if k == 0 else 0, column_names=header))
            if table.num_rows == 0:
                continue
            pending.append(_without_row_index(name, table.to_pandas(), have + seen) if index else table.to_pandas())
            have += table.num_rows
            while have >= chunk_rows:
                joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
                out, rest = joined.iloc[:chunk_rows].reset_index(drop=True), joined.iloc[chunk_rows:]
                yield _without_blank_rows(out, np.arange(seen, seen + len(out), dtype=np.int64) + 2)
                seen += len(out)
                pending, have = ([rest.reset_index(drop=True)] if len(rest) else []), len(rest)
    except pa.ArrowInvalid as exc:
        bad_text = "utf8" in str(exc).lower()
        raise IngestError(
            f"{name} is not UTF-8 text past its beginning. Save it as 'CSV UTF-8' and upload again." if bad_text else
            f"{name} could not be read as a table ({exc}). Every row must have as many cells as the header "
            f"({len(header)}); fix that row and upload again.",
            code="bad_encoding" if bad_text else "ragged_row", details={"file": name}) from exc
    if have:
        joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
        yield _without_blank_rows(joined, np.arange(seen, seen + len(joined), dtype=np.int64) + 2)


_INDEX = "\0row index"


def _without_row_index(name: str, piece: pd.DataFrame, offset: int) -> pd.DataFrame:
    """``piece`` without its nameless first column when that counts the rows (0, 1, 2, ... or 1, 2, 3, ... from
    the file's first row, ``offset`` rows before this piece), as :func:`read_upload` leaves it out; otherwise
    ``blank_column_name``."""
    values = np.char.strip(piece[_INDEX].to_numpy(dtype=str))
    first = values[0] if len(values) else ""
    start = int(first) - offset if first.isdigit() and int(first) - offset in (0, 1) else None
    expected = np.arange(offset, offset + len(values)) + (start or 0)
    if start is None or not (values == expected.astype(str)).all():
        raise IngestError(f"{name}: column 1 has no name in the header row. Name every column and upload again.",
                          code="blank_column_name", details={"file": name, "column": 1})
    return piece.drop(columns=_INDEX)


def _without_blank_rows(frame: pd.DataFrame, lines: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose every cell is blank (``,,,``) are skipped, as :func:`read_upload` does."""
    blank = (frame == "").all(axis=1).to_numpy()
    if blank.any():
        return frame.loc[~blank].reset_index(drop=True), lines[~blank]
    return frame, lines


def _check_header(name: str, names: list[str]) -> None:
    if not names:
        raise IngestError(f"{name} has no header row. Upload a file whose first line names the columns.",
                          code="no_header", details={"file": name})
    if "" in names:
        col = names.index("")
        raise IngestError(f"{name}: column {col + 1} has no name in the header row. Name every column and upload "
                          "again.", code="blank_column_name", details={"file": name, "column": col + 1})
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise IngestError(f"{name}: the column {dup!r} appears more than once in the header. Rename one and "
                          "upload again.", code="duplicate_column", details={"file": name, "column": dup})
