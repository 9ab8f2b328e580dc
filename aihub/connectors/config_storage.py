"""``connection_config`` of ``object_storage`` and ``file_upload`` sources.

See :mod:`aihub.connectors.objectstore` for how files are read (fsspec
protocols, local folders ``AIHUB_LOCAL_SOURCE_ROOTS``, the options a
configuration may not set).
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from aihub.connectors.config_base import (
    DEFAULT_ROW_LIMIT,
    MAX_URL_LENGTH,
    URL_USERINFO_RE,
    RawText,
    RecordsPath,
    RowLimit,
    SourcePart,
    choice,
    secret_name,
    text,
    whole,
)
from aihub.connectors.policy import PROTOCOLS, protocol_of
from aihub.userconfig import HIDDEN, error_at

#: File formats an object-storage source reads (``auto``: from the file extension).
FILE_FORMATS: tuple[str, ...] = ("auto", "csv", "parquet", "json", "jsonl")
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""Largest JSON document read whole unless ``max_bytes`` says otherwise, bytes."""
MAX_MAX_BYTES = 2**40
"""Largest ``max_bytes``."""
MAX_ENCODING_LENGTH = 50
"""Longest encoding name, characters."""


class FileUploadConnection(SourcePart):
    """``connection_config`` of a ``file_upload`` source: nothing to connect to."""

    def to_dict(self) -> dict[str, Any]:
        """``{}``."""
        return {}


def _storage_url(url: str) -> str:
    protocol = protocol_of(url)
    if protocol not in PROTOCOLS:
        raise error_at((), f"uses {protocol + '://'!r}, which is not supported; allowed: "
                       f"{', '.join(k + '://' for k in PROTOCOLS)} or a local path", url)
    if protocol not in ("file", "memory") and URL_USERINFO_RE.match(url):
        raise error_at((), "contains credentials; put them in authentication_config (type 'storage_options') "
                       "instead", protocol + "://...")
    return url


def _known_encoding(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise error_at((), "is not an encoding Python knows; use e.g. 'utf-8' or 'cp1252'", encoding) from None
    return encoding


def _separator(sep: Any) -> Any:
    if sep is not None and not (isinstance(sep, str) and len(sep) == 1 and sep not in "\"\r\n"):
        raise error_at((), "must be one character such as ',' ';' '\\t' '|'", sep)
    return sep


class ObjectStoreConnection(SourcePart):
    """``connection_config`` of an ``object_storage`` source.

    Attributes
    ----------
    url : str
        fsspec URL or local path: ``s3://bucket/key.csv``, ``gs://...``,
        ``az://container/...``, ``memory://...``, ``/data/export.parquet``.
        Glob patterns (``*.csv``) read every match, sorted by path, stacked
        with a ``_file`` column. Compressed files (``.gz``, ``.bz2``, ``.zst``,
        ...) are decompressed.
    format : {"auto", "csv", "parquet", "json", "jsonl"}
        ``auto`` goes by the extension (``.csv``/``.tsv``/``.txt``,
        ``.parquet``/``.pq``, ``.json``, ``.jsonl``/``.ndjson``).
    storage_options : dict
        Non-secret fsspec options (``anon``, ``endpoint_url``,
        ``account_name``, ``region_name``, ...). Keys and tokens go in
        ``authentication_config`` (type ``storage_options``).
    sep : str or None
        CSV delimiter; None: ``","`` (``"\\t"`` for ``.tsv``).
    encoding : str
        CSV/JSON text encoding.
    records_path : str
        JSON only: dotted path to the records, as for REST.
    row_limit : int
    max_bytes : int
        JSON (not JSON lines) is parsed whole; larger files are refused.
    """

    url: Annotated[text(MAX_URL_LENGTH), AfterValidator(_storage_url)]  # type: ignore[valid-type]
    format: choice(FILE_FORMATS) = "auto"  # type: ignore[valid-type]
    storage_options: dict[RawText, Any] = Field(default_factory=dict)
    sep: Annotated[Any, AfterValidator(_separator)] = None
    encoding: Annotated[text(MAX_ENCODING_LENGTH), AfterValidator(_known_encoding)] = (  # type: ignore[valid-type]
        "utf-8"
    )
    records_path: RecordsPath = ""
    row_limit: RowLimit = DEFAULT_ROW_LIMIT
    max_bytes: whole(1, MAX_MAX_BYTES) = DEFAULT_MAX_BYTES  # type: ignore[valid-type]

    @field_validator("storage_options", mode="before")
    @classmethod
    def _no_credentials(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and secret_name(key):
                    raise error_at((key,), "is a credential; put it in authentication_config (type "
                                   "'storage_options'), where it is stored encrypted", HIDDEN)
        return value

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, every key present."""
        return self.model_dump()
