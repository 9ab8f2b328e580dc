"""Object-storage and file sources through fsspec URLs: CSV, Parquet, JSON.

Supported URLs and the extra package each needs
-----------------------------------------------
=========================================  ==================  ===========================================
URL                                        install             credentials (``authentication_config``)
=========================================  ==================  ===========================================
``/abs/path/file.csv``, ``file:///...``    (fsspec, built in)  none; the folder must be an allowed root
``memory://folder/file.csv``               (fsspec, built in)  none (this process's memory; for tests)
``s3://bucket/key.parquet`` (also s3a)     ``pip install s3fs``  ``key``, ``secret``, optional ``token``
``gs://bucket/blob.csv`` (also gcs)        ``pip install gcsfs`` ``token`` (service-account JSON object)
``az://container/blob.csv`` (abfs, abfss)  ``pip install adlfs`` ``account_key``, ``sas_token``,
                                                                ``connection_string`` or ``client_secret``
=========================================  ==================  ===========================================

Non-secret options (``anon``, ``endpoint_url`` for S3-compatible stores such as
MinIO, ``region_name``, ``account_name``, ``tenant_id``, ``client_id``) go in
``connection_config.storage_options``; secret ones in ``authentication_config``
with ``"type": "storage_options"``, where they are encrypted. Both are passed
to fsspec as keyword arguments. An ``endpoint_url`` must be on the hub's host
allow-list (:mod:`aihub.connectors.rest`).

Local files
-----------
A hub serving several organisations must not let a source read its own key
files or another tenant's data, so local paths are refused unless they lie
under a folder an administrator allowed: the ``local_roots`` argument or the
environment variable ``AIHUB_LOCAL_SOURCE_ROOTS`` (folders separated by
``os.pathsep``). Symbolic links are resolved before the check. Unset means no
local path is allowed.

Formats
-------
CSV is read as text (every cell a string, exactly as written, blanks as
``""``) so that :func:`aihub.ingest.read_upload` infers types the way it does
for uploads; Parquet keeps its column types; JSON is an array of records (or a
``records_path`` to one) and JSON lines one record per line. Reads stop after
``row_limit + 1`` rows (CSV, JSON lines, Parquet batches); a JSON document is
parsed whole and refused above ``max_bytes``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from aihub.connectors._records import Fetched, exception_chain, network_kind, records_at, records_to_frame
from aihub.connectors.config import ObjectStoreConnection, SourceConfig
from aihub.connectors.policy import (  # noqa: F401 - re-exported
    LOCAL_ROOTS_ENV,
    PROTOCOLS,
    check_local_path,
    check_url_allowed,
    parse_local_roots,
    protocol_of,
)
from aihub.errors import ConnectorError

_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".parq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
}
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".snappy")


#: Storage options a source may set, per protocol family: ``(non-secret, secret)``. Others are refused, because
#: fsspec's backends also take options that read files on the hub's machine (a ``token`` file path, a
#: ``profile`` of ~/.aws/credentials) or send requests elsewhere (``account_host``).
STORAGE_OPTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "s3": (frozenset({"anon", "endpoint_url", "client_kwargs", "requester_pays", "use_ssl", "version_aware",
                      "default_block_size"}), frozenset({"key", "secret", "token"})),
    "gs": (frozenset({"project", "requester_pays", "endpoint_url"}), frozenset({"token"})),
    "az": (frozenset({"account_name", "anon", "tenant_id", "client_id"}),
           frozenset({"account_key", "sas_token", "connection_string", "client_secret"})),
    "file": (frozenset(), frozenset()),
    "memory": (frozenset(), frozenset()),
}
_FAMILY = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "az": "az", "abfs": "az", "abfss": "az",
           "file": "file", "memory": "memory"}


def storage_options(source: str, protocol: str, options: Mapping[str, Any], secrets: Mapping[str, Any],
                    allowed_hosts: Sequence[str]) -> dict[str, Any]:
    """The keyword arguments given to fsspec for a source, checked.

    Only the options of :data:`STORAGE_OPTIONS` are accepted; endpoints (``endpoint_url``, the endpoints
    of an Azure connection string) must be on the host allow-list; a Google ``token`` must be the
    service-account JSON object, not a file path. With no credential, the source reads anonymously
    (``anon=True``, or ``token="anon"``): the hub's own cloud credentials (environment variables, instance
    roles, ``~/.aws``) are never used for a tenant's source.

    Raises
    ------
    ConnectorError
        ``not_allowed``, naming the option or host.
    """
    family = _FAMILY.get(protocol, protocol)
    public, secret = STORAGE_OPTIONS.get(family, (frozenset(), frozenset()))
    merged = {**dict(options), **dict(secrets)}
    for key in merged:
        if key not in public | secret:
            raise ConnectorError(
                f"Source {source!r}: the storage option {key!r} is not accepted for {protocol}:// URLs; allowed: "
                f"{', '.join(sorted(public | secret)) or 'none'}.",
                kind="not_allowed", details={"source": source, "value": key, "allowed": sorted(public | secret)},
            )
    client_kwargs = merged.get("client_kwargs") or {}
    if not isinstance(client_kwargs, Mapping) or set(client_kwargs) - {"region_name", "endpoint_url"}:
        raise ConnectorError(f"Source {source!r}: storage_options.client_kwargs may only set region_name and "
                             "endpoint_url.", kind="not_allowed", details={"source": source})
    endpoints = [merged.get("endpoint_url"), client_kwargs.get("endpoint_url")]
    if isinstance(merged.get("connection_string"), str):
        for part in merged["connection_string"].split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower().endswith("endpoint") or key.strip().lower() == "blobendpoint":
                endpoints.append(value.strip())
    for endpoint in endpoints:
        if endpoint:
            check_url_allowed(str(endpoint), allowed_hosts, source=source, what="storage endpoint")
    if family == "gs" and "token" in merged and not isinstance(merged["token"], Mapping):
        raise ConnectorError(
            f"Source {source!r}: the Google Cloud token must be the service account's JSON key (an object), not "
            "a file name or another value.", kind="not_allowed", details={"source": source, "value": "token"})
    if not secret & set(secrets):
        if family in ("s3", "az"):
            merged["anon"] = True
        elif family == "gs":
            merged["token"] = "anon"
    return merged


def _format_of(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    low = path.lower()
    for comp in _COMPRESSIONS:
        if low.endswith(comp):
            low = low[: -len(comp)]
            break
    return _EXTENSIONS.get(os.path.splitext(low)[1], "")


def read_objectstore(
    config: SourceConfig,
    secrets: Mapping[str, Any],
    *,
    allowed_hosts: Sequence[str],
    local_roots: Sequence[Path],
    row_limit: int | None = None,
) -> Fetched:
    """Read the file(s) an object-storage source points at.

    Parameters
    ----------
    config : SourceConfig
        An ``object_storage`` source.
    secrets : mapping
        Secret storage options (``key``, ``secret``, ``token``, ``account_key``, ...).
    allowed_hosts : sequence of str
        Allow-list for a custom ``endpoint_url``.
    local_roots : sequence of Path
        Folders local paths may be under.
    row_limit : int, optional
        Lower the configured limit.

    Returns
    -------
    Fetched
        Rows of every matched file in path order (``_file`` column when a glob
        matched several).

    Raises
    ------
    ConnectorError
        ``not_allowed`` (local path outside the roots, endpoint host not
        allowed), ``missing_dependency`` (s3fs/gcsfs/adlfs/pyarrow missing),
        ``not_found`` (no such file/bucket, glob matched nothing), ``auth``
        (access denied, no credentials), ``dns``/``refused``/``timeout``,
        ``bad_data`` (file not parseable in its format, unknown format,
        JSON above ``max_bytes``), ``schema_mismatch`` (JSON records path).
    """
    import fsspec
    import fsspec.core
    import fsspec.utils

    conn: ObjectStoreConnection = config.connection  # type: ignore[assignment]
    name = config.source_name
    protocol = protocol_of(conn.url)
    limit = min(row_limit or conn.row_limit, conn.row_limit)
    options = storage_options(name, protocol, conn.storage_options, secrets, allowed_hosts)
    if protocol == "file":
        check_local_path(conn.url, local_roots, source=name)
    try:
        fs, path = fsspec.core.url_to_fs(conn.url, **options)
    except ImportError as exc:
        package = PROTOCOLS.get(protocol) or str(exc)
        raise ConnectorError(
            f"Source {name!r}: reading {protocol}:// URLs needs the {package} package, which is not installed. "
            f"Ask an administrator to run `pip install {package}` in the hub's environment.",
            kind="missing_dependency", details={"source": name, "package": package, "protocol": protocol},
        ) from None
    except Exception as exc:  # noqa: BLE001 - bad options
        raise _fs_error(exc, name, conn.url) from None

    try:
        if any(ch in path for ch in "*?["):
            paths = sorted(fs.glob(path))
            paths = [p for p in paths if not fs.isdir(p)]
            if not paths:
                raise ConnectorError(
                    f"Source {name!r}: no file matches {conn.url}. Check the folder and the pattern.",
                    kind="not_found", details={"source": name, "url": conn.url},
                )
        else:
            paths = [path]
        if protocol == "file":
            for p in paths:
                check_local_path(p, local_roots, source=name)
        frames: list[pd.DataFrame] = []
        truncated = False
        remaining = limit
        for p in paths:
            fmt = _format_of(p, conn.format)
            if not fmt:
                raise ConnectorError(
                    f"Source {name!r}: cannot tell the format of {p!r} from its extension. Set connection_config."
                    "format to csv, parquet, json or jsonl.",
                    kind="bad_data", details={"source": name, "path": p},
                )
            frame, more = _read_one(fs, p, fmt, conn, remaining, name)
            if len(paths) > 1:
                frame.insert(0, "_file", p)
            frames.append(frame)
            remaining -= len(frame)
            if more or (remaining <= 0 and p != paths[-1]):
                truncated = True
                break
    except ConnectorError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified
        raise _fs_error(exc, name, conn.url) from None
    frames = [f for f in frames if len(f.columns)]
    frame = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
    return Fetched(frame=frame, truncated=truncated)


def _read_one(fs: Any, path: str, fmt: str, conn: ObjectStoreConnection, limit: int, source: str
              ) -> tuple[pd.DataFrame, bool]:
    """Read one file in its format; returns (at most ``limit`` rows, whether it had more)."""
    import fsspec.utils

    compression = fsspec.utils.infer_compression(path)
    reader = {"parquet": _read_parquet, "csv": _read_csv, "jsonl": _read_jsonl}.get(fmt, _read_json_document)
    return reader(fs, path, compression, conn, limit, source)


def _read_parquet(fs: Any, path: str, compression: str | None, conn: ObjectStoreConnection, limit: int,
                  source: str) -> tuple[pd.DataFrame, bool]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConnectorError(
            f"Source {source!r}: reading Parquet needs pyarrow; run `pip install pyarrow`.",
            kind="missing_dependency", details={"source": source, "package": "pyarrow"},
        ) from None
    with fs.open(path, "rb", compression=compression) as fh:
        try:
            pf = pq.ParquetFile(fh)
            batches, n = [], 0
            for batch in pf.iter_batches(batch_size=min(limit + 1, 65_536)):
                batches.append(batch)
                n += batch.num_rows
                if n > limit:
                    break
            table = pa.Table.from_batches(batches, schema=pf.schema_arrow) if batches else \
                pf.schema_arrow.empty_table()
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise _bad(source, path, "Parquet", exc) from None
    frame = table.to_pandas()
    return frame.iloc[:limit].reset_index(drop=True), len(frame) > limit


def _read_csv(fs: Any, path: str, compression: str | None, conn: ObjectStoreConnection, limit: int,
              source: str) -> tuple[pd.DataFrame, bool]:
    sep = conn.sep or ("\t" if path.lower().split(".gz")[0].endswith(".tsv") else ",")
    with fs.open(path, "rb", compression=compression) as fh:
        try:
            frame = pd.read_csv(fh, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                                nrows=limit + 1, encoding=conn.encoding, skip_blank_lines=True)
        except pd.errors.EmptyDataError:
            return pd.DataFrame(), False
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise _bad(source, path, "CSV", exc) from None
    return frame.iloc[:limit].reset_index(drop=True), len(frame) > limit


def _read_jsonl(fs: Any, path: str, compression: str | None, conn: ObjectStoreConnection, limit: int,
                source: str) -> tuple[pd.DataFrame, bool]:
    records: list[Any] = []
    with fs.open(path, "rb", compression=compression) as fh:
        text = io.TextIOWrapper(fh, encoding=conn.encoding)
        for lineno, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise _bad(source, path, "JSON lines", f"line {lineno}: {exc}") from None
            if len(records) > limit:
                break
    return records_to_frame(records[:limit]), len(records) > limit


def _read_json_document(fs: Any, path: str, compression: str | None, conn: ObjectStoreConnection, limit: int,
                        source: str) -> tuple[pd.DataFrame, bool]:
    """A whole JSON document, refused above ``max_bytes`` (checked before and while reading)."""
    size = fs.size(path)
    if size is not None and compression is None and size > conn.max_bytes:
        raise ConnectorError(
            f"Source {source!r}: {path} is {size:,} bytes, above this source's max_bytes of {conn.max_bytes:,} for a "
            "JSON document. Export it as JSON lines or Parquet (read in pieces), or raise max_bytes.",
            kind="bad_data", details={"source": source, "path": path, "size": size},
        )
    with fs.open(path, "rb", compression=compression) as fh:
        raw = fh.read(conn.max_bytes + 1)
    if len(raw) > conn.max_bytes:
        raise ConnectorError(
            f"Source {source!r}: {path} is larger than this source's max_bytes of {conn.max_bytes:,} for a JSON "
            "document. Export it as JSON lines or Parquet, or raise max_bytes.",
            kind="bad_data", details={"source": source, "path": path},
        )
    try:
        payload = json.loads(raw.decode(conn.encoding))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(source, path, "JSON", exc) from None
    records = records_at(payload, conn.records_path, source=source, where=path)
    return records_to_frame(records[:limit]), len(records) > limit


def _bad(source: str, path: str, what: str, exc: Any) -> ConnectorError:
    text = " ".join(str(exc).split())[:300]
    return ConnectorError(
        f"Source {source!r}: {path} cannot be read as {what} ({text}). Check the file and the source's format "
        "and delimiter settings.",
        kind="bad_data", details={"source": source, "path": path, "format": what},
    )


def _fs_error(exc: BaseException, source: str, url: str) -> ConnectorError:
    chain = exception_chain(exc)
    text = " ".join(" ".join(str(e).split()) for e in chain)[:400]
    names = " ".join(type(e).__name__ for e in chain)
    details = {"source": source, "url": url, "error": type(exc).__name__}
    low = text.lower()
    if any(isinstance(e, FileNotFoundError) for e in chain) or "nosuchbucket" in low or "nosuchkey" in low \
            or "not found" in low or "404" in low:
        return ConnectorError(
            f"Source {source!r}: there is no file at {url} ({text or 'not found'}). Check the bucket, folder and "
            "file name.", kind="not_found", details=details,
        )
    if any(isinstance(e, PermissionError) for e in chain) or "credential" in names.lower() or any(
        s in low for s in ("accessdenied", "access denied", "forbidden", "403", "unauthorized", "401",
                           "invalidaccesskeyid", "signaturedoesnotmatch", "credentials", "authenticat")
    ):
        return ConnectorError(
            f"Source {source!r}: access to {url} was denied ({text}). Check the storage credentials and that they "
            "may read this location.", kind="auth", details=details,
        )
    kind = network_kind(exc)
    if kind:
        return ConnectorError(f"Source {source!r}: reaching {url} failed ({kind}: {text}). Check the URL and the "
                              "network, or try later.", kind=kind, details=details)
    return ConnectorError(f"Source {source!r}: reading {url} failed ({type(exc).__name__}: {text}).",
                          kind="bad_data", details=details)
