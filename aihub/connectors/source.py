"""Read a source into a dataset-ready table, and "Test connection".

:func:`read_source` reads, maps and types a source and hands back a
:class:`SourceTable` whose ``data`` is a UTF-8 CSV: the same bytes-plus-filename
an upload gives, so a sync is saved exactly like an upload::

    table = read_source(config, secrets)                       # raises ConnectorError
    parsed = table.to_upload()                                 # ParsedUpload, declared types applied
    datasets.save_upload(principal, config.source_name, table.filename, table.data,
                         schema=parsed.schema)                 # duplicate=True when unchanged

Equal data gives equal bytes (and ``sha256``), so "write a new version only
when the data changed" is the upload path's duplicate check.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from aihub.connectors._records import Fetched
from aihub.connectors.config import SourceConfig, check_secrets, split_secrets
from aihub.connectors.mapping import apply_mapping, to_text_frame
from aihub.connectors.secrets import scrub
from aihub.errors import ConnectorError, ValidationError
from aihub.ingest import ISO8601, ParsedUpload, read_upload


@dataclass(frozen=True)
class SourceTable:
    """A source's data, mapped and typed, ready to be saved as a dataset version.

    Attributes
    ----------
    source_name : str
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        After :func:`~aihub.connectors.mapping.apply_mapping`: declared fields
        typed, other columns as read.
    filename : str
        ``<source name as a slug>.csv``.
    data : bytes
        ``frame`` as UTF-8 CSV (header row, ``,`` separated, ``\\n`` line
        ends, missing cells empty, dates ISO 8601, booleans ``true``/``false``).
    sha256 : str
        Hex SHA-256 of ``data``.
    rows_read : int
        Rows in ``frame``.
    truncated : bool
        The source had more rows than the row limit (or page cap) let through.
    warnings : tuple of str
    kinds : dict of str to str
        Declared field types, for :meth:`to_upload`.
    elapsed_ms : float
        Time to read and map.
    """

    source_name: str
    frame: pd.DataFrame
    filename: str
    data: bytes
    sha256: str
    rows_read: int
    truncated: bool
    warnings: tuple[str, ...] = ()
    kinds: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def to_upload(self, *, max_bytes: int | None = None) -> ParsedUpload:
        """Read :attr:`data` with :func:`aihub.ingest.read_upload`, declared types applied.

        The inferred schema's ``kind`` is replaced by the declared type for
        every declared field (dates read as ISO 8601), so
        ``parsed.typed()`` reproduces :attr:`frame`'s types.

        Raises
        ------
        IngestError
            As :func:`~aihub.ingest.read_upload` (e.g. ``empty_file`` when the
            source returned no rows, ``file_too_large``).
        """
        parsed = read_upload(self.filename, self.data, max_bytes=max_bytes)
        schema = []
        for col in parsed.schema:
            kind = self.kinds.get(col.name)
            if kind is not None:
                col = replace(col, kind=kind, date_format=ISO8601 if kind == "date" else None, dayfirst=None,
                              ambiguous=False, ambiguity=None, decimal=".")
            schema.append(col)
        return replace(parsed, schema=schema)


@dataclass(frozen=True)
class ConnectionReport:
    """Outcome of :func:`test_connection`.

    Attributes
    ----------
    ok : bool
    rows_sample : pandas.DataFrame
        Up to ``sample_rows`` mapped rows (empty on failure).
    error_kind : str or None
        One of :data:`aihub.errors.CONNECTOR_ERROR_KINDS` (``dns``,
        ``refused``, ``auth``, ``timeout``, ``schema_mismatch``,
        ``not_allowed``, ``http_error``, ``query_error``, ``not_found``,
        ``bad_data``, ``tls``, ``missing_dependency``); None when ``ok``.
    message : str
        One or two sentences for the analyst; never contains a secret.
    source_name, source_type : str
    elapsed_ms : float
    columns : tuple of str
        Columns of the sample.
    truncated : bool
        The source has more rows than the sample.
    warnings : tuple of str
    details : dict
        The error's details (host, status, SQL state, ...), secrets masked.
    """

    ok: bool
    rows_sample: pd.DataFrame
    error_kind: str | None
    message: str
    source_name: str = ""
    source_type: str = ""
    elapsed_ms: float = 0.0
    columns: tuple[str, ...] = ()
    truncated: bool = False
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the sample as a list of row objects, values as text)."""
        sample = to_text_frame(self.rows_sample).to_dict(orient="records") if len(self.rows_sample.columns) else []
        return {
            "ok": self.ok, "error_kind": self.error_kind, "message": self.message,
            "source_name": self.source_name, "source_type": self.source_type,
            "elapsed_ms": round(self.elapsed_ms, 1), "columns": list(self.columns), "truncated": self.truncated,
            "warnings": list(self.warnings), "details": self.details, "rows_sample": sample,
        }


def _prepare(config: SourceConfig | Mapping[str, Any], secrets: Mapping[str, Any] | None
             ) -> tuple[SourceConfig, dict[str, Any]]:
    if isinstance(config, SourceConfig):
        cfg, inline = config, {}
    else:
        cfg, inline = split_secrets(config)
    return cfg, check_secrets(cfg, {**inline, **dict(secrets or {})})


def _fetch(cfg: SourceConfig, secrets: dict[str, Any], *, allowed_hosts: Any, local_roots: Any,
           row_limit: int | None, timeout_seconds: float | None, max_pages: int | None) -> Fetched:
    from aihub.connectors.database import read_database
    from aihub.connectors.objectstore import parse_local_roots, read_objectstore
    from aihub.connectors.rest import parse_allowed_hosts, read_rest

    allowed = parse_allowed_hosts(allowed_hosts)
    roots = parse_local_roots(local_roots)
    if cfg.source_type == "database":
        return read_database(cfg, secrets, allowed_hosts=allowed, local_roots=roots, row_limit=row_limit,
                             timeout_seconds=timeout_seconds)
    if cfg.source_type == "rest_api":
        if timeout_seconds is not None:
            conn = cfg.connection
            cfg = cfg.model_copy(update={"connection": conn.model_copy(update={
                "timeout_seconds": min(conn.timeout_seconds, timeout_seconds),
                "connect_timeout_seconds": min(conn.connect_timeout_seconds, timeout_seconds)})})
        return read_rest(cfg, secrets, allowed_hosts=allowed, row_limit=row_limit, max_pages=max_pages)
    if cfg.source_type == "object_storage":
        return read_objectstore(cfg, secrets, allowed_hosts=allowed, local_roots=roots, row_limit=row_limit)
    raise ValidationError(
        f"Source {cfg.source_name!r} is a file upload: it has no connection to read. Upload a file on the Data "
        "sources page instead.",
        field="source_type",
        details={"source": cfg.source_name, "value": cfg.source_type},
    )


def _scrubbed(exc: ConnectorError, secrets: Mapping[str, Any]) -> ConnectorError:
    def clean(v: Any) -> Any:
        if isinstance(v, str):
            return scrub(v, secrets)
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    details = clean({k: v for k, v in exc.details.items() if k != "kind"})
    return ConnectorError(scrub(exc.message, secrets), kind=exc.kind, code=exc.code, field=exc.field,
                          details=details)


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return (slug or "source")[:100]


def read_source(
    config: SourceConfig | Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    allowed_hosts: str | Sequence[str] | None = None,
    local_roots: str | Sequence[str | Path] | None = None,
    row_limit: int | None = None,
) -> SourceTable:
    """Read a source, apply its field mapping and types, and render it as CSV.

    Parameters
    ----------
    config : SourceConfig or mapping
        A validated config, or its JSON shape (inline secrets allowed there).
    secrets : mapping, optional
        Decrypted secrets (:meth:`SecretBox.decrypt`); they override inline ones.
    allowed_hosts : str or sequence of str, optional
        Host allow-list (see :mod:`aihub.connectors.rest`); default the
        ``AIHUB_ALLOWED_HOSTS`` environment variable, unset = nothing allowed.
    local_roots : str or sequence of path, optional
        Folders local files may be read from; default
        ``AIHUB_LOCAL_SOURCE_ROOTS``, unset = none.
    row_limit : int, optional
        Read at most this many rows (and at most the configured limit).

    Returns
    -------
    SourceTable

    Raises
    ------
    ValidationError
        Invalid config, missing secret, bad allow-list, or a ``file_upload``
        source (nothing to read).
    ConnectorError
        The read failed; ``kind`` says how (see :class:`ConnectionReport`).
        Messages and details never contain secrets.
    """
    started = time.perf_counter()
    cfg, sec = _prepare(config, secrets)
    try:
        fetched = _fetch(cfg, sec, allowed_hosts=allowed_hosts, local_roots=local_roots, row_limit=row_limit,
                         timeout_seconds=None, max_pages=None)
        mapped = apply_mapping(fetched.frame, cfg.field_mapping, cfg.fields, source=cfg.source_name)
    except ConnectorError as exc:
        raise _scrubbed(exc, sec) from None
    frame = mapped.frame
    data = to_text_frame(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")
    warnings = [*fetched.warnings, *mapped.warnings]
    if fetched.truncated:
        warnings.append(
            f"Source {cfg.source_name!r} has more rows than were read ({len(frame):,}); raise row_limit (or "
            "pagination.max_pages) to read more."
        )
    return SourceTable(
        source_name=cfg.source_name,
        frame=frame,
        filename=f"{_slug(cfg.source_name)}.csv",
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        rows_read=len(frame),
        truncated=fetched.truncated,
        warnings=tuple(scrub(w, sec) for w in warnings),
        kinds={f.name: f.type for f in cfg.fields},
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def test_connection(
    config: SourceConfig | Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    sample_rows: int = 10,
    allowed_hosts: str | Sequence[str] | None = None,
    local_roots: str | Sequence[str | Path] | None = None,
    timeout_seconds: float | None = None,
) -> ConnectionReport:
    """Try a source and report success with sample rows, or the exact failure.

    Reads at most ``sample_rows`` rows (one page per REST endpoint), applies
    the field mapping and types (so a schema mismatch shows here), and never
    raises for a connection problem.

    Parameters
    ----------
    config, secrets, allowed_hosts, local_roots
        As :func:`read_source`.
    sample_rows : int, default 10
        1 to 1000.
    timeout_seconds : float, optional
        Cap the source's timeouts for the test (e.g. 10 s for a form button).

    Returns
    -------
    ConnectionReport

    Raises
    ------
    ValidationError
        The configuration itself is invalid (the form shows the field), or
        ``sample_rows``/``timeout_seconds`` are out of range.
    """
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or not 1 <= sample_rows <= 1000:
        raise ValidationError(f"sample_rows must be a whole number from 1 to 1000, got {sample_rows!r}.",
                              field="sample_rows", details={"value": sample_rows, "allowed": "1..1000"})
    if timeout_seconds is not None and (isinstance(timeout_seconds, bool) or not isinstance(
            timeout_seconds, (int, float)) or not 0 < timeout_seconds <= 3600):
        raise ValidationError(f"timeout_seconds must be above 0 and at most 3600, got {timeout_seconds!r}.",
                              field="timeout_seconds", details={"value": timeout_seconds, "allowed": "(0, 3600]"})
    started = time.perf_counter()
    cfg, sec = _prepare(config, secrets)
    base = {"source_name": cfg.source_name, "source_type": cfg.source_type}
    if cfg.source_type == "file_upload":
        return ConnectionReport(ok=True, rows_sample=pd.DataFrame(), error_kind=None,
                                message=f"Source {cfg.source_name!r} is a file upload; there is no connection to "
                                        "test. Upload a file to preview it.", **base)
    try:
        fetched = _fetch(cfg, sec, allowed_hosts=allowed_hosts, local_roots=local_roots, row_limit=sample_rows,
                         timeout_seconds=timeout_seconds, max_pages=1)
        mapped = apply_mapping(fetched.frame, cfg.field_mapping, cfg.fields, source=cfg.source_name)
    except ConnectorError as exc:
        clean = _scrubbed(exc, sec)
        return ConnectionReport(
            ok=False, rows_sample=pd.DataFrame(), error_kind=clean.kind, message=clean.message,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            details={k: v for k, v in clean.details.items() if k != "kind"}, **base,
        )
    frame = mapped.frame
    n = len(frame)
    more = " (more are available)" if fetched.truncated else ""
    return ConnectionReport(
        ok=True,
        rows_sample=frame,
        error_kind=None,
        message=f"Connected to source {cfg.source_name!r}: read {n:,} sample row{'s' if n != 1 else ''}{more} with "
                f"{len(frame.columns)} column{'s' if len(frame.columns) != 1 else ''}.",
        elapsed_ms=(time.perf_counter() - started) * 1000,
        columns=tuple(str(c) for c in frame.columns),
        truncated=fetched.truncated,
        warnings=tuple(scrub(w, sec) for w in [*fetched.warnings, *mapped.warnings]),
        **base,
    )


test_connection.__test__ = False  # not a pytest test when imported into a test module
