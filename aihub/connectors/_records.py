"""Shared helpers: JSON records paths, records to frames, the result of one read, error text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from aihub.errors import ConnectorError

_MISSING = object()


@dataclass
class Fetched:
    """What a connector read, before mapping.

    Attributes
    ----------
    frame : pandas.DataFrame
        Raw records (any dtypes), at most the row limit.
    truncated : bool
        More rows were available than the limit (or page cap) allowed.
    warnings : list of str
    """

    frame: pd.DataFrame
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)


def get_path(payload: Any, path: str | None) -> Any:
    """Follow a dotted path (``"data.items"``, ``"results.0"``); return ``_MISSING`` if absent."""
    node = payload
    if not path:
        return node
    for part in path.split("."):
        if isinstance(node, Mapping):
            if part not in node:
                return _MISSING
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit():
            i = int(part)
            if not -len(node) <= i < len(node):
                return _MISSING
            node = node[i]
        else:
            return _MISSING
    return node


def records_at(payload: Any, path: str, *, source: str, where: str) -> list[Any]:
    """The list of records at ``path`` of a JSON body.

    A single object is one record; ``null`` is no records.

    Raises
    ------
    ConnectorError
        Kind ``schema_mismatch``: the path does not exist, or leads to a
        scalar. The message names the keys found where the path broke off.
    """
    node = payload
    walked: list[str] = []
    for part in path.split(".") if path else []:
        nxt = get_path(node, part)
        if nxt is _MISSING:
            here = ".".join(walked) or "the top level"
            if isinstance(node, Mapping):
                seen = f"keys there: {', '.join(map(repr, list(node)[:20])) or '(none)'}"
            elif isinstance(node, list):
                seen = f"it is a list of {len(node)} items"
            else:
                seen = f"it is {_json_kind(node)}"
            raise ConnectorError(
                f"Source {source!r}: the records path {path!r} does not match {where}: no {part!r} under {here} "
                f"({seen}). Fix the records path in the connection settings.",
                kind="schema_mismatch",
                field="connection_config.records_path",
                details={"source": source, "path": path, "missing": part},
            )
        node = nxt
        walked.append(part)
    if node is None:
        return []
    if isinstance(node, Mapping):
        return [node]
    if isinstance(node, list):
        return node
    raise ConnectorError(
        f"Source {source!r}: the records path {path or '(top level)'!r} of {where} leads to {_json_kind(node)}, "
        "not to a list of records. Point it at the list (e.g. 'data.items').",
        kind="schema_mismatch",
        field="connection_config.records_path",
        details={"source": source, "path": path},
    )


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the text {v[:40]!r}"
    if v is None:
        return "null"
    return type(v).__name__


def records_to_frame(records: list[Any]) -> pd.DataFrame:
    """Records (JSON objects) to a frame; nested objects flatten to ``a.b`` columns.

    Lists inside records stay as JSON text; non-object records become a
    ``value`` column. Column order is first appearance.
    """
    if not records:
        return pd.DataFrame()
    if all(isinstance(r, Mapping) for r in records):
        frame = pd.json_normalize(records, sep=".")
    else:
        frame = pd.json_normalize([r if isinstance(r, Mapping) else {"value": r} for r in records], sep=".")
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object and s.map(lambda v: isinstance(v, (list, dict))).any():
            frame[col] = s.map(
                lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, (list, dict)) else v
            )
    return frame


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (cycle-safe)."""
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        out.append(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return out


def network_kind(exc: BaseException) -> str | None:
    """``dns``, ``refused``, ``timeout`` or ``tls`` for a low-level network failure, else None."""
    import socket
    import ssl

    chain = exception_chain(exc)
    for e in chain:
        if isinstance(e, socket.gaierror):
            return "dns"
        if isinstance(e, ssl.SSLError):
            return "tls"
        if isinstance(e, ConnectionRefusedError):
            return "refused"
        if isinstance(e, (socket.timeout, TimeoutError)):
            return "timeout"
    text = " ".join(str(e) for e in chain).lower()
    if any(s in text for s in (
        "name or service not known", "nodename nor servname", "temporary failure in name resolution",
        "no address associated with hostname", "could not translate host name", "getaddrinfo failed",
        "name resolution", "errno -2]", "errno -3]", "errno -5]", "unknown host",
    )):
        return "dns"
    if "connection refused" in text or "errno 111]" in text or "actively refused" in text:
        return "refused"
    if "certificate verify failed" in text or "ssl" in text and "handshake" in text:
        return "tls"
    if "timed out" in text or "timeout expired" in text or "timeout" in text and "connect" in text:
        return "timeout"
    return None
