"""Read uploaded files into typed tables: the upload reader and schema inference.

Pure Python (pandas, numpy, openpyxl); no database, no Streamlit. The usual
flow of the Data sources page is::

    parsed = read_upload(upload.name, upload.getvalue())   # raises IngestError
    show(parsed.frame.head(), parsed.schema, parsed.warnings)
    schema = user_corrections(parsed.schema)               # e.g. col.confirm_dayfirst(True)
    typed = parsed.typed(schema)                           # raises IngestError on misfit cells
    store(typed.to_parquet(), schema_to_json(schema), parsed.sha256)

Policies
--------
Encoding
    A byte-order mark decides (UTF-8, UTF-16, UTF-32). Without one: files
    starting like a known binary format (PNG, JPEG, GIF, PDF, zip/xlsx, xls,
    gzip, Parquet, SQLite) or containing NUL bytes are refused (``not_text``);
    then strict UTF-8; then Windows-1252 only if it decodes cleanly with no
    control characters and at most 30 % non-ASCII characters (a warning says
    so); anything else is refused (``bad_encoding``) with the row of the first
    bad byte.
Missing values
    A cell is missing when blank after stripping whitespace. Tokens such as
    NA, N/A, NaN, null, None, #N/A, NaT, -, ? (any case; :data:`MISSING_TOKENS`)
    are counted per column and read as missing in number, date and boolean
    columns; in text and category columns they stay values unless the user
    says otherwise in the schema step (``ColumnSchema.missing_tokens``).
Rows
    Fully blank rows are skipped (with a warning if between data rows). Row
    numbers in messages are file rows, the header being row 1. A row with
    more or fewer fields than the header is an error (``ragged_row``).
Types
    See :mod:`aihub.ingest._infer` for the inference rules. Date columns
    whose values all have day and month <= 12 are flagged ``ambiguous`` with
    a message; the more plausible reading (dates in file order, regular
    steps; day-first on a tie) is picked. A column that is mostly numbers or
    dates with stray values is kept as ``text`` with a warning naming the
    first offending row: the upload is not refused, and setting the kind
    later makes :func:`apply_schema` raise on that row (or make such cells
    missing with ``invalid="missing"``). Yes/No columns (Telco ``Churn``) are
    ``category``; only true/false columns are inferred ``boolean``.
"""

from aihub.ingest._apply import apply_schema
from aihub.ingest._read import (
    ALLOWED_EXTENSIONS,
    DEFAULT_MAX_UPLOAD_MB,
    DELIMITERS,
    MAX_UPLOAD_ENV,
    ParsedUpload,
    max_upload_bytes,
    read_upload,
)
from aihub.ingest._schema import (
    DECIMALS,
    INVALID_POLICIES,
    KINDS,
    SCHEMA_VERSION,
    ColumnSchema,
    schema_from_json,
    schema_to_json,
    validate_schema,
)
from aihub.ingest._stream import iter_table_chunks
from aihub.ingest._values import ISO8601, LEGACY_MISSING_TOKENS, MISSING_TOKENS

__all__ = [
    "ALLOWED_EXTENSIONS",
    "DECIMALS",
    "DEFAULT_MAX_UPLOAD_MB",
    "DELIMITERS",
    "INVALID_POLICIES",
    "ISO8601",
    "KINDS",
    "LEGACY_MISSING_TOKENS",
    "MAX_UPLOAD_ENV",
    "MISSING_TOKENS",
    "SCHEMA_VERSION",
    "ColumnSchema",
    "ParsedUpload",
    "apply_schema",
    "iter_table_chunks",
    "max_upload_bytes",
    "read_upload",
    "schema_from_json",
    "schema_to_json",
    "validate_schema",
]
