"""Database sources: any SQLAlchemy URL, a query or a table, read-only, bounded.

Every read runs in its own short-lived connection (no pool) inside a
read-only transaction that is rolled back at the end:

==============  ======================================================  ===============================
backend         read-only transaction                                   statement timeout
==============  ======================================================  ===============================
PostgreSQL      ``SET TRANSACTION READ ONLY`` (first statement)          ``SET LOCAL statement_timeout``
MariaDB         ``START TRANSACTION READ ONLY``                          ``SET SESSION max_statement_time``
MySQL           ``START TRANSACTION READ ONLY``                          ``SET SESSION MAX_EXECUTION_TIME``
SQLite          ``PRAGMA query_only = ON``                               progress handler (client side)
other           none by the hub (a warning says so)                      driver/connect timeouts only
==============  ======================================================  ===============================

Defence in depth, in order: the query text must be one ``SELECT``/``WITH``
statement without ``INTO`` or locking clauses
(:func:`aihub.connectors.config.select_problem`, checked at validation); the
transaction is read-only, so even a ``WITH ... DELETE`` or a function that
writes fails; and the transaction is rolled back. None of this replaces a
database user with read-only grants, which is what the source should use.

Row limit: at most ``row_limit`` rows are fetched (``row_limit + 1`` are asked
for, to know whether the result was ``truncated``). PostgreSQL streams through
a server-side cursor; MySQL/MariaDB cap the result on the server with
``sql_select_limit`` (an explicit ``LIMIT`` in the query takes precedence
there). The query is never rewritten, so its ``ORDER BY`` holds.

Drivers: PostgreSQL ``postgresql+psycopg://`` (installed), MySQL/MariaDB
``mysql+pymysql://`` (installed); other dialects need their driver
(``pip install pyodbc`` / ``oracledb`` / ...).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from aihub.connectors._records import Fetched, network_kind
from aihub.connectors.config import DatabaseConnection, SourceConfig
from aihub.errors import ConnectorError

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
_PG_KINDS = {
    "28P01": "auth", "28000": "auth", "42501": "auth",
    "3D000": "not_found",
    "57014": "timeout", "55P03": "timeout",
}
_AUTH_RE = re.compile(
    r"password authentication failed|role \"[^\"]*\" does not exist|no pg_hba\.conf entry|authentication failed|"
    r"access denied|permission denied"
)
_NO_DB_RE = re.compile(r"database \"[^\"]*\" does not exist|unknown database")
_MY_KINDS = {
    1045: "auth", 1044: "auth", 1142: "auth", 1143: "auth", 1698: "auth", 1227: "auth",
    1049: "not_found",
    1969: "timeout", 3024: "timeout", 2013: "timeout", 1205: "timeout",
    2005: "dns",
    2003: "refused",
}


def database_target(config: SourceConfig) -> tuple[str, str | None, int | None, str | None]:
    """``(backend, host, port, file)`` the source's URL points at (file for SQLite)."""
    from sqlalchemy.engine import make_url

    conn: DatabaseConnection = config.connection  # type: ignore[assignment]
    url = make_url(conn.url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        db = url.database
        return backend, None, None, None if db in (None, "", ":memory:") else db
    host = url.host or url.query.get("host")
    if isinstance(host, tuple):
        host = host[0] if host else None
    if not host or str(host).startswith("/"):
        host = "localhost"  # a Unix socket reaches this machine
    return backend, str(host), url.port or _DEFAULT_PORTS.get(backend), None


def read_database(
    config: SourceConfig,
    secrets: Mapping[str, Any],
    *,
    allowed_hosts: Sequence[str],
    local_roots: Sequence[Path] = (),
    row_limit: int | None = None,
    timeout_seconds: float | None = None,
) -> Fetched:
    """Run the source's query (or read its table) in a read-only transaction.

    Parameters
    ----------
    config : SourceConfig
        A ``database`` source.
    secrets : mapping
        ``{"password": ...}`` for ``password`` authentication.
    allowed_hosts : sequence of str
        Normalised allow-list; the URL's host must be on it.
    local_roots : sequence of Path
        Folders SQLite files may be read from.
    row_limit : int, optional
        Lower the configured limit (e.g. for a sample).
    timeout_seconds : float, optional
        Lower the configured statement timeout.

    Returns
    -------
    Fetched
        Rows as returned by the driver (Python values), columns in query order.

    Raises
    ------
    ConnectorError
        ``not_allowed`` (host or file not allowed; no connection made),
        ``missing_dependency`` (driver not installed), ``dns``, ``refused``,
        ``auth`` (login failed or no permission), ``not_found`` (database
        missing), ``timeout`` (statement or connect timeout), ``query_error``
        (syntax, unknown table, write attempted in the read-only transaction).
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    from aihub.connectors.objectstore import check_local_path
    from aihub.connectors.rest import host_not_allowed

    conn_cfg: DatabaseConnection = config.connection  # type: ignore[assignment]
    name = config.source_name
    backend, host, port, file = database_target(config)
    if backend == "sqlite":
        if file is not None:
            check_local_path(file, local_roots, source=name)
    else:
        host_not_allowed(host, port, allowed_hosts, source=name, what="database connection")
    limit = min(row_limit or conn_cfg.row_limit, conn_cfg.row_limit)
    timeout = min(timeout_seconds or conn_cfg.timeout_seconds, conn_cfg.timeout_seconds)

    url = make_url(conn_cfg.url)
    if config.auth.type == "password":
        url = url.set(password=secrets["password"])
        if config.auth.params.get("username"):
            url = url.set(username=config.auth.params["username"])
    driver = url.get_driver_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql" and driver in ("psycopg", "psycopg2", "psycopg2cffi"):
        connect_args["connect_timeout"] = max(2, math.ceil(conn_cfg.connect_timeout_seconds))
    elif backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb"):
        connect_args["connect_timeout"] = max(1, math.ceil(conn_cfg.connect_timeout_seconds))
        connect_args["read_timeout"] = max(1, math.ceil(timeout + 5))
        connect_args["write_timeout"] = max(1, math.ceil(timeout + 5))
    elif backend == "sqlite":
        connect_args["timeout"] = conn_cfg.connect_timeout_seconds

    try:
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError, ModuleNotFoundError) as exc:
        raise ConnectorError(
            f"Source {name!r}: the database driver for {url.drivername!r} is not installed ({exc}). Install it "
            "(for example psycopg for PostgreSQL, pymysql for MySQL/MariaDB) or use a URL with an installed driver.",
            kind="missing_dependency", details={"source": name, "driver": url.drivername},
        ) from None
    except ArgumentError as exc:
        raise ConnectorError(f"Source {name!r}: the database URL is not usable: {exc}.", kind="query_error",
                             details={"source": name}) from None

    warnings: list[str] = []
    phase = "connect"
    try:
        with engine.connect() as conn:
            phase = "setup"
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}")
            elif dialect in ("mysql", "mariadb"):
                if getattr(conn.dialect, "is_mariadb", False):
                    conn.exec_driver_sql(f"SET SESSION max_statement_time = {timeout:.3f}")
                else:
                    conn.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {max(1, int(timeout * 1000))}")
                conn.exec_driver_sql(f"SET SESSION sql_select_limit = {limit + 1}")
                conn.exec_driver_sql("START TRANSACTION READ ONLY")
            elif dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
                _sqlite_deadline(conn, timeout)
            else:
                warnings.append(
                    f"Source {name!r}: the hub cannot open a read-only transaction on {dialect}; make sure the "
                    "source's database user has read-only grants."
                )
            phase = "query"
            sql = conn_cfg.query if conn_cfg.query is not None else _table_sql(conn_cfg, conn.dialect)
            stream = dialect not in ("mysql", "mariadb")
            # no_parameters: the driver gets the SQL as written, so '%' needs no escaping.
            result = conn.execution_options(
                stream_results=stream, max_row_buffer=min(limit + 1, 10_000), no_parameters=True,
            ).exec_driver_sql(sql)
            if not result.returns_rows:
                raise ConnectorError(
                    f"Source {name!r}: the query returned no result set. Give a SELECT that returns rows.",
                    kind="query_error", details={"source": name},
                )
            columns = [str(c) for c in result.keys()]  # noqa: SIM118 - Result, not a dict
            rows = result.fetchmany(limit + 1)
            result.close()
            conn.rollback()
    except ConnectorError:
        raise
    except DBAPIError as exc:
        raise _db_error(exc, name, host, phase, timeout) from None
    except SQLAlchemyError as exc:
        raise ConnectorError(f"Source {name!r}: the database read failed: {exc}", kind="query_error",
                             details={"source": name, "host": host}) from None
    except (ImportError, ModuleNotFoundError) as exc:
        raise ConnectorError(
            f"Source {name!r}: the database driver is not installed ({exc}).", kind="missing_dependency",
            details={"source": name},
        ) from None
    finally:
        engine.dispose()
    truncated = len(rows) > limit
    rows = rows[:limit]
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns) if rows else \
        pd.DataFrame(columns=columns)
    return Fetched(frame=frame, truncated=truncated, warnings=warnings)


def _table_sql(conn_cfg: DatabaseConnection, dialect: Any) -> str:
    import sqlalchemy as sa

    table = sa.table(conn_cfg.table, schema=conn_cfg.db_schema)
    return str(sa.select(sa.text("*")).select_from(table).compile(dialect=dialect))


def _sqlite_deadline(conn: Any, timeout: float) -> None:
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + timeout
    if hasattr(raw, "set_progress_handler"):
        raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)


def _db_error(exc: Any, source: str, host: str | None, phase: str, timeout: float) -> ConnectorError:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())[:500]
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    kind = None
    if sqlstate:
        kind = _PG_KINDS.get(sqlstate)
        if kind is None and sqlstate == "25006":
            kind = "query_error"
    if kind is None and code is not None:
        kind = _MY_KINDS.get(code)
        if code == 2003:
            kind = network_kind(exc) or "refused"
    low = text.lower()
    if kind is None:  # libpq reports login failures as text only (no SQLSTATE on connect)
        if _AUTH_RE.search(low):
            kind = "auth"
        elif _NO_DB_RE.search(low):
            kind = "not_found"
    if kind is None:
        kind = network_kind(exc)
    if kind is None and phase == "query" and "interrupted" in low:
        kind = "timeout"
    if kind is None:
        kind = "refused" if phase == "connect" else "query_error"
    details = {"source": source, "host": host, "sqlstate": sqlstate, "db_code": code, "server_message": text}
    where = host or "the database"
    if kind == "dns":
        msg = f"Source {source!r}: the database host {host!r} could not be found (DNS). Check the host in the URL."
    elif kind == "refused":
        msg = (f"Source {source!r}: {where} refused the connection ({text}). Check the host and port in the URL "
               "and that the database server is running and accepts network connections.")
    elif kind == "auth":
        msg = (f"Source {source!r}: {where} did not accept the login or the user lacks a permission ({text}). "
               "Check the user name and password, and that the user may read this data.")
    elif kind == "not_found":
        msg = f"Source {source!r}: {where} has no such database ({text}). Check the database name in the URL."
    elif kind == "timeout":
        if phase == "connect":
            msg = f"Source {source!r}: connecting to {where} timed out. Check the host and port, or try later."
        else:
            msg = (f"Source {source!r}: the query ran longer than the {timeout:g} s timeout and was stopped by "
                   f"{where}. Make the query cheaper (filter, aggregate, index), or raise timeout_seconds.")
    elif sqlstate == "25006" or code == 1792 or "read-only" in low or "read only" in low or "readonly" in low:
        msg = (f"Source {source!r}: the query tried to change data, and sources only read: it was refused by the "
               f"read-only transaction ({text}). Use a plain SELECT.")
    else:
        msg = f"Source {source!r}: the database rejected the query: {text}. Check the query or table name."
    return ConnectorError(msg, kind=kind, details=details)
