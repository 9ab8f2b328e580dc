"""``connection_config`` of a ``database`` source, and the check that its query only reads.

See :mod:`aihub.connectors.database` for how it is read (read-only
transaction, statement timeout, row cap, the hosts it may reach).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from aihub.connectors.config_base import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_URL_LENGTH,
    RowLimit,
    Seconds,
    SourcePart,
    text,
)
from aihub.connectors.secrets import scrub
from aihub.userconfig import HIDDEN, error_at

MAX_QUERY_LENGTH = 100_000
"""Longest ``query``, characters."""
MAX_TABLE_NAME_LENGTH = 500
"""Longest ``table`` or ``db_schema``, characters."""

_FIRST_WORD_RE = re.compile(r"[A-Za-z]+")


def _database_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise error_at(
            (),
            f"is not a SQLAlchemy database URL ({scrub(str(exc))}). Write it as "
            "dialect+driver://user@host:port/database, e.g. postgresql+psycopg://reader@db.example.com:5432/sales",
            HIDDEN,
        ) from None
    if parsed.password:
        raise error_at(
            (),
            "contains a password. Remove it from the URL and enter it in authentication_config (type 'password'), "
            "where it is stored encrypted",
            parsed.render_as_string(hide_password=True),
        )
    return url


TableName = text(MAX_TABLE_NAME_LENGTH)


class DatabaseConnection(SourcePart):
    """``connection_config`` of a ``database`` source.

    Attributes
    ----------
    url : str
        SQLAlchemy URL without a password, e.g.
        ``postgresql+psycopg://reader@db.example.com:5432/sales`` or
        ``mysql+pymysql://reader@db.example.com:3306/sales``.
    query : str or None
        One ``SELECT``/``WITH`` statement (a trailing ``;`` is allowed).
    table : str or None
        Table (or view) name, read as ``SELECT * FROM table``; written
        ``schema.table`` it sets ``db_schema`` too. Exactly one of ``query``
        and ``table`` is given.
    db_schema : str or None
        Schema (PostgreSQL) or database (MySQL) of ``table``.
    row_limit : int
        At most this many rows are read; more makes the result ``truncated``.
    timeout_seconds : float
        Statement timeout, enforced by the server.
    connect_timeout_seconds : float
        Time to wait for the connection.
    """

    url: Annotated[text(MAX_URL_LENGTH), AfterValidator(_database_url)]  # type: ignore[valid-type]
    query: text(MAX_QUERY_LENGTH) | None = None  # type: ignore[valid-type]
    table: TableName | None = None
    db_schema: TableName | None = None
    row_limit: RowLimit = DEFAULT_ROW_LIMIT
    timeout_seconds: Seconds = DEFAULT_TIMEOUT_SECONDS
    connect_timeout_seconds: Seconds = DEFAULT_CONNECT_TIMEOUT_SECONDS

    @model_validator(mode="before")
    @classmethod
    def _qualified_table(cls, data: Any) -> Any:
        """``"schema.table"`` -> ``db_schema`` and ``table``."""
        if not isinstance(data, Mapping) or data.get("query") is not None or data.get("db_schema") is not None:
            return data
        table = data.get("table")
        if not isinstance(table, str) or table.strip().count(".") != 1:
            return data
        schema, name = (part.strip() for part in table.strip().split("."))
        if not schema or not name:
            raise error_at(("table",), "must be 'table' or 'schema.table'", table)
        return {**data, "db_schema": schema, "table": name}

    @field_validator("query")
    @classmethod
    def _reads_only(cls, value: str | None) -> str | None:
        problem = None if value is None else select_problem(value)
        if problem:
            raise error_at((), problem.rstrip("."), value)
        return value

    @model_validator(mode="after")
    def _query_or_table(self) -> DatabaseConnection:
        if (self.query is None) == (self.table is None):
            given = sorted(k for k in ("query", "table") if getattr(self, k) is not None)
            raise error_at((), "needs exactly one of 'query' (a SELECT statement) or 'table' (a table or view name)",
                           given)
        if self.query is not None and self.db_schema is not None:
            raise error_at(("db_schema",), "applies to 'table' only; qualify the table inside the query instead",
                           self.db_schema)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``query`` or ``table`` (with ``db_schema`` when set), limits filled in."""
        out = self.model_dump()
        if self.query is not None:
            del out["table"], out["db_schema"]
        else:
            del out["query"]
            if self.db_schema is None:
                del out["db_schema"]
        return out


# ---------------------------------------------------------------------------
# SQL text check
# ---------------------------------------------------------------------------

def _sql_words(sql: str, backslash: bool) -> tuple[str, str | None]:
    """Blank out comments and quoted text; return (code, problem).

    ``backslash``: a backslash escapes the next character inside quotes (MySQL, MariaDB); PostgreSQL's
    standard strings do not. :func:`select_problem` scans both ways and refuses if either reading fails.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        two = sql[i:i + 2]
        if two == "--" or ch == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif two == "/*":
            j = sql.find("*/", i + 2)
            if j < 0:
                return "", "has a /* comment that is never closed."
            i = j + 2
            out.append(" ")
        elif ch in ("'", '"', "`"):
            j = i + 1
            while True:
                k = sql.find(ch, j)
                if k < 0:
                    return "", f"has a {ch} quote that is never closed."
                if sql[k + 1:k + 2] == ch:  # doubled quote escapes itself
                    j = k + 2
                    continue
                if backslash and _escaped(sql, i + 1, k):
                    j = k + 1
                    continue
                break
            out.append(" 'q' " if ch == "'" else ' "q" ')
            i = k + 1
        elif ch == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if m:
                tag = m.group(0)
                j = sql.find(tag, i + len(tag))
                if j < 0:
                    return "", f"has a {tag} quoted string that is never closed."
                out.append(" 'q' ")
                i = j + len(tag)
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), None


def _escaped(sql: str, start: int, k: int) -> bool:
    """True when the quote at ``k`` follows an odd run of backslashes (inside a string begun at ``start``)."""
    run = 0
    while k - 1 - run >= start and sql[k - 1 - run] == "\\":
        run += 1
    return run % 2 == 1


def select_problem(sql: str) -> str | None:
    """Why ``sql`` is not a single read-only SELECT, or None if it is.

    A first line of defence, before the read-only transaction: the statement
    must start with ``SELECT``, ``WITH`` or ``(``; one statement only (a
    trailing ``;`` is fine); no ``INTO`` (``SELECT ... INTO`` creates tables or
    writes server files) and no locking clause (``FOR UPDATE``/``FOR SHARE``,
    ``LOCK IN SHARE MODE``). Comments and quoted text are ignored.

    Parameters
    ----------
    sql : str

    Returns
    -------
    str or None
        A sentence for the analyst, or None.
    """
    for backslash in (False, True):
        problem = _statement_problem(*_sql_words(sql, backslash))
        if problem:
            return problem
    return None


def _statement_problem(code: str, problem: str | None) -> str | None:
    if problem:
        return problem
    code = code.strip()
    while code.endswith(";"):
        code = code[:-1].rstrip()
    if ";" in code:
        return "holds more than one statement; give a single SELECT."
    lead = code.lstrip("( \t\r\n")
    word = _FIRST_WORD_RE.match(lead)
    if not word or word.group(0).upper() not in ("SELECT", "WITH"):
        got = word.group(0).upper() if word else (code[:20] or "nothing")
        return (f"must be a SELECT query (or WITH ... SELECT); it starts with {got}. Sources only read data: "
                "use a SELECT, or give a table name instead.")
    upper = " ".join(code.upper().split())
    if re.search(r"\bINTO\b", upper):
        return "uses INTO, which writes data; remove it: a source query only reads."
    if re.search(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b", upper) or "LOCK IN SHARE MODE" in upper:
        return "locks rows (FOR UPDATE / FOR SHARE); remove the locking clause: a source query only reads."
    return None
