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
(:func:`aihub.connectors.config_database.select_problem`, checked at validation); the
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
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aihub.connectors import policy
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


#: URL query parameters that neither redirect the connection nor read files on the hub's machine, per backend.
#: Anything else (``hostaddr``, ``service``, ``passfile``, ``sslkey``, ``unix_socket``, ``read_default_file``,
#: ``local_infile``, ...) is refused unless an operator lists it in ``AIHUB_SOURCE_DB_PARAMS``.
SAFE_URL_PARAMS: dict[str, frozenset[str]] = {
    "postgresql": frozenset({
        "host", "port", "dbname", "user", "sslmode", "application_name", "target_session_attrs",
        "load_balance_hosts", "gssencmode", "channel_binding", "require_auth", "sslnegotiation", "sslcompression",
        "ssl_min_protocol_version", "ssl_max_protocol_version", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "client_encoding",
    }),
    "mysql": frozenset({"charset", "ssl_verify_cert", "ssl_verify_identity"}),
    "mariadb": frozenset({"charset", "ssl_verify_cert", "ssl_verify_identity"}),
    "sqlite": frozenset(),
    "mssql": frozenset(),
    "oracle": frozenset(),
}


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a database source connects, after the driver's own parsing, checked.

    Attributes
    ----------
    backend : str
        SQLAlchemy backend name (``postgresql``, ``mysql``, ``sqlite``, ...).
    hosts : tuple of (str, int)
        Every host (name, IP or socket folder) the driver may try, with its port.
    file : str or None
        SQLite file (resolved), None otherwise.
    database : str or None
        Database name the driver will open.
    connect_args : dict
        Driver arguments that pin the connection to what was checked (each
        host's checked IP address, explicit ports, no password file).
    """

    backend: str
    hosts: tuple[tuple[str, int], ...] = ()
    file: str | None = None
    database: str | None = None
    connect_args: dict[str, Any] = field(default_factory=dict)


def check_database_target(
    config: SourceConfig,
    *,
    allowed_hosts: Sequence[str],
    local_roots: Sequence[Path] = (),
    socket_dirs: Sequence[Path] | None = None,
    extra_params: frozenset[str] | None = None,
) -> DatabaseTarget:
    """Work out every address the driver will use for the source's URL, and refuse any not allowed.

    The URL is parsed the way the driver parses it (SQLAlchemy's dialect, then
    libpq's conninfo rules via ``psycopg.conninfo.conninfo_to_dict`` for
    PostgreSQL), so a ``?port=``, ``?hostaddr=`` or repeated ``?host=`` in the
    query string is seen. Each TCP host must be on the allow-list and must not
    be the hub's own database server (:mod:`aihub.connectors.policy`); each
    Unix socket must be in an allowed socket folder; a SQLite file must be
    under a local root. The returned ``connect_args`` pin the connection to
    the addresses checked, so a DNS answer that changes in between cannot
    redirect it.

    Raises
    ------
    ConnectorError
        ``not_allowed`` (a parameter, host, socket or file not allowed; the hub's
        own server), ``dns`` (a host does not resolve), ``missing_dependency``,
        ``query_error`` (the URL is not usable).
    """
    from sqlalchemy.engine import make_url

    conn: DatabaseConnection = config.connection  # type: ignore[assignment]
    name = config.source_name
    url = make_url(conn.url)
    backend = url.get_backend_name()
    if backend not in SAFE_URL_PARAMS:
        raise ConnectorError(
            f"Source {name!r}: {backend!r} databases are not supported; use one of "
            f"{', '.join(sorted(SAFE_URL_PARAMS))}.",
            kind="not_allowed", details={"source": name, "value": backend, "allowed": sorted(SAFE_URL_PARAMS)},
        )
    extra = policy.parse_db_params() if extra_params is None else extra_params
    _check_url_params(name, backend, url.query, SAFE_URL_PARAMS[backend] | extra)
    if backend == "sqlite":
        db = url.database
        if db in (None, "", ":memory:"):
            return DatabaseTarget(backend)
        return DatabaseTarget(backend, file=str(policy.check_local_path(db, local_roots, source=name)))
    sockets = policy.parse_socket_dirs() if socket_dirs is None else socket_dirs
    cparams = _driver_params(name, url)
    if backend == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2", "psycopg2cffi"):
        return _pg_target(name, cparams, allowed_hosts, sockets)
    if backend in ("mysql", "mariadb"):
        return _mysql_target(name, backend, cparams, allowed_hosts, sockets)
    host = url.host
    port = url.port or _DEFAULT_PORTS.get(backend)
    if not host:
        raise _no_host(name)
    _tcp_ips(name, host, port, allowed_hosts, database=url.database)
    return DatabaseTarget(backend, hosts=((host, port),), database=url.database)


def _check_url_params(name: str, backend: str, query: Mapping[str, Any], allowed: frozenset[str]) -> None:
    bad = sorted(k for k in query if k.lower() not in allowed)
    if bad:
        raise ConnectorError(
            f"Source {name!r}: the database URL sets {bad[0]!r}, a parameter that can redirect the connection or "
            f"read files on the hub's machine. Remove it from the URL (allowed for {backend}: "
            f"{', '.join(sorted(SAFE_URL_PARAMS[backend])) or 'none'}), or ask an administrator to allow it in "
            f"{policy.DB_PARAMS_ENV}.",
            kind="not_allowed",
            details={"source": name, "value": bad[0], "allowed": sorted(allowed), "setting": policy.DB_PARAMS_ENV},
        )


def _driver_params(name: str, url: Any) -> dict[str, Any]:
    """The keyword arguments SQLAlchemy's dialect would give the driver for ``url``."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = url.get_dialect()()
        _cargs, cparams = dialect.create_connect_args(url)
    except (NoSuchModuleError, ImportError, ModuleNotFoundError) as exc:
        raise _missing_driver(name, url.drivername, exc) from None
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ConnectorError(f"Source {name!r}: the database URL is not usable: {exc}.", kind="query_error",
                             details={"source": name}) from None
    return dict(cparams)


def _missing_driver(name: str, driver: str, exc: BaseException) -> ConnectorError:
    return ConnectorError(
        f"Source {name!r}: the database driver for {driver!r} is not installed ({exc}). Install it "
        "(for example psycopg for PostgreSQL, pymysql for MySQL/MariaDB) or use a URL with an installed driver.",
        kind="missing_dependency", details={"source": name, "driver": driver},
    )


def _no_host(name: str) -> ConnectorError:
    return ConnectorError(
        f"Source {name!r}: the database URL names no host, so the driver would use a default local socket on the "
        "hub's machine. Write the host in the URL: dialect+driver://user@host:port/database.",
        kind="not_allowed", details={"source": name},
    )


def _tcp_ips(name: str, host: str, port: int, allowed_hosts: Sequence[str], *, database: str | None,
             hostaddr: str | None = None) -> tuple[str, ...]:
    """Check a TCP host (and an explicit address for it) and return the IPs checked."""
    policy.host_not_allowed(host, port, allowed_hosts, source=name, what="database connection")
    if hostaddr:
        policy.host_not_allowed(hostaddr, port, allowed_hosts, source=name, what="database connection")
    try:
        ips = policy.resolve(hostaddr or host, port)
    except OSError:
        raise ConnectorError(
            f"Source {name!r}: the database host {host!r} could not be found (DNS). Check the host in the URL.",
            kind="dns", details={"source": name, "host": host},
        ) from None
    policy.hub_server_problem(socket_dir=None, ips=ips, port=port, database=database, source=name)
    return ips


def _pg_target(name: str, cparams: dict[str, Any], allowed_hosts: Sequence[str], sockets: Sequence[Path]
               ) -> DatabaseTarget:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    text = {k: v for k, v in cparams.items() if isinstance(v, (str, int)) and not isinstance(v, bool)}
    params = conninfo_to_dict(make_conninfo(**text))
    hosts = str(params.get("host") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    addrs = str(params.get("hostaddr") or "").split(",")
    if len(addrs) == 1:
        addrs = addrs * len(hosts)
    if len(ports) != len(hosts) or len(addrs) != len(hosts):
        raise ConnectorError(f"Source {name!r}: the database URL lists {len(hosts)} hosts but {len(ports)} ports; "
                             "give one port, or one per host.", kind="query_error", details={"source": name})
    database = str(params.get("dbname") or params.get("user") or "") or None
    entries = []
    for host, port_text, addr in zip(hosts, ports, addrs, strict=True):  # every target allowed, before any DNS
        port = int(port_text) if port_text.strip().isdigit() else _DEFAULT_PORTS["postgresql"]
        if not host and not addr:
            raise _no_host(name)
        folder = policy.check_socket_dir(host, sockets, source=name) if host.startswith(("/", "@")) else None
        if folder is None:
            policy.host_not_allowed(host or addr, port, allowed_hosts, source=name, what="database connection")
            if addr:
                policy.host_not_allowed(addr, port, allowed_hosts, source=name, what="database connection")
        entries.append((host, port, addr, folder))
    checked, pins = [], []
    for host, port, addr, folder in entries:
        if folder is not None:
            policy.hub_server_problem(socket_dir=folder, ips=(), port=port, database=database, source=name)
            pins.append("")
        else:
            pins.append(_tcp_ips(name, host or addr, port, allowed_hosts, database=database, hostaddr=addr or None)[0])
        checked.append((host or addr, port))
    connect_args = {"host": ",".join(hosts), "port": ",".join(str(p) for _, p, _, _ in entries),
                    "hostaddr": ",".join(pins), "passfile": os.devnull}
    if not any(pins):
        connect_args.pop("hostaddr")
    return DatabaseTarget("postgresql", hosts=tuple(checked), database=database, connect_args=connect_args)


def _mysql_target(name: str, backend: str, cparams: dict[str, Any], allowed_hosts: Sequence[str],
                  sockets: Sequence[Path]) -> DatabaseTarget:
    database = cparams.get("database") or cparams.get("db")
    port = int(cparams.get("port") or _DEFAULT_PORTS[backend])
    connect_args: dict[str, Any] = {"local_infile": False}
    socket_path = cparams.get("unix_socket")
    if socket_path:
        policy.check_socket_dir(str(socket_path), sockets, source=name)
        return DatabaseTarget(backend, hosts=((str(socket_path), port),), database=database,
                              connect_args=connect_args)
    host = cparams.get("host")
    if not host:
        raise _no_host(name)
    ips = _tcp_ips(name, str(host), port, allowed_hosts, database=database)
    if "ssl" not in cparams:  # with TLS the name is needed to verify the certificate
        connect_args["host"] = ips[0]
    connect_args["port"] = port
    return DatabaseTarget(backend, hosts=((str(host), port),), database=database, connect_args=connect_args)


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

    conn_cfg: DatabaseConnection = config.connection  # type: ignore[assignment]
    name = config.source_name
    target = check_database_target(config, allowed_hosts=allowed_hosts, local_roots=local_roots)
    host = target.hosts[0][0] if target.hosts else None
    limit = min(row_limit or conn_cfg.row_limit, conn_cfg.row_limit)
    timeout = min(timeout_seconds or conn_cfg.timeout_seconds, conn_cfg.timeout_seconds)

    url = make_url(conn_cfg.url)
    if target.file is not None:
        url = url.set(database=target.file)  # the file checked, symbolic links resolved
    if config.auth.type == "password":
        url = url.set(password=secrets["password"])
        if config.auth.params.get("username"):
            url = url.set(username=config.auth.params["username"])
    connect_args = _connect_args(target, url.get_driver_name(), conn_cfg, timeout)
    try:
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError, ModuleNotFoundError) as exc:
        raise _missing_driver(name, url.drivername, exc) from None
    except ArgumentError as exc:
        raise ConnectorError(f"Source {name!r}: the database URL is not usable: {exc}.", kind="query_error",
                             details={"source": name}) from None

    warnings: list[str] = []
    phase = "connect"
    try:
        with engine.connect() as conn:
            phase = "setup"
            dialect = conn.dialect.name
            _begin_read_only(conn, timeout, limit, name, warnings)
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


def _connect_args(target: DatabaseTarget, driver: str, conn_cfg: DatabaseConnection, timeout: float
                  ) -> dict[str, Any]:
    """Driver arguments: the checked target's pins plus connect and read timeouts."""
    args: dict[str, Any] = dict(target.connect_args)
    if target.backend == "postgresql" and driver in ("psycopg", "psycopg2", "psycopg2cffi"):
        args["connect_timeout"] = max(2, math.ceil(conn_cfg.connect_timeout_seconds))
    elif target.backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb"):
        args["connect_timeout"] = max(1, math.ceil(conn_cfg.connect_timeout_seconds))
        args["read_timeout"] = max(1, math.ceil(timeout + 5))
        args["write_timeout"] = max(1, math.ceil(timeout + 5))
    elif target.backend == "sqlite":
        args["timeout"] = conn_cfg.connect_timeout_seconds
    return args


def _begin_read_only(conn: Any, timeout: float, limit: int, name: str, warnings: list[str]) -> None:
    """Open the read-only transaction with the statement timeout (see the module's table)."""
    dialect = conn.dialect.name
    ms = max(1, int(timeout * 1000))
    if dialect == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
    elif dialect in ("mysql", "mariadb"):
        if getattr(conn.dialect, "is_mariadb", False):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {timeout:.3f}")
        else:
            conn.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {ms}")
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


def _table_sql(conn_cfg: DatabaseConnection, dialect: Any) -> str:
    import sqlalchemy as sa

    table = sa.table(conn_cfg.table, schema=conn_cfg.db_schema)
    return str(sa.select(sa.text("*")).select_from(table).compile(dialect=dialect))


def _sqlite_deadline(conn: Any, timeout: float) -> None:
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + timeout
    if hasattr(raw, "set_progress_handler"):
        raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)


def _error_kind(exc: Any, orig: Any, text: str, sqlstate: str | None, code: int | None, phase: str) -> str:
    """Classify a driver error: SQLSTATE (PostgreSQL), error number (MySQL), then the message text."""
    kind = None
    if sqlstate:
        kind = _PG_KINDS.get(sqlstate) or ("query_error" if sqlstate == "25006" else None)
    if kind is None and code is not None:
        kind = (network_kind(exc) or "refused") if code == 2003 else _MY_KINDS.get(code)
    low = text.lower()
    if kind is None:  # libpq reports login failures as text only (no SQLSTATE on connect)
        kind = "auth" if _AUTH_RE.search(low) else "not_found" if _NO_DB_RE.search(low) else None
    kind = kind or network_kind(exc)
    if kind is None and phase == "query" and "interrupted" in low:
        kind = "timeout"
    return kind or ("refused" if phase == "connect" else "query_error")


def _error_message(kind: str, source: str, host: str | None, text: str, phase: str, timeout: float,
                   read_only: bool) -> str:
    where = host or "the database"
    if kind == "timeout" and phase != "connect":
        return (f"Source {source!r}: the query ran longer than the {timeout:g} s timeout and was stopped by "
                f"{where}. Make the query cheaper (filter, aggregate, index), or raise timeout_seconds.")
    messages = {
        "dns": f"Source {source!r}: the database host {host!r} could not be found (DNS). Check the host in the URL.",
        "refused": (f"Source {source!r}: {where} refused the connection ({text}). Check the host and port in the "
                    "URL and that the database server is running and accepts network connections."),
        "auth": (f"Source {source!r}: {where} did not accept the login or the user lacks a permission ({text}). "
                 "Check the user name and password, and that the user may read this data."),
        "not_found": f"Source {source!r}: {where} has no such database ({text}). Check the database name in the URL.",
        "timeout": f"Source {source!r}: connecting to {where} timed out. Check the host and port, or try later.",
    }
    if kind in messages:
        return messages[kind]
    if read_only:
        return (f"Source {source!r}: the query tried to change data, and sources only read: it was refused by the "
                f"read-only transaction ({text}). Use a plain SELECT.")
    return f"Source {source!r}: the database rejected the query: {text}. Check the query or table name."


def _db_error(exc: Any, source: str, host: str | None, phase: str, timeout: float) -> ConnectorError:
    """A :class:`ConnectorError` for a DBAPI error, classified (see :func:`_error_kind`), the server's words kept."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())[:500]
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    kind = _error_kind(exc, orig, text, sqlstate, code, phase)
    low = text.lower()
    read_only = sqlstate == "25006" or code == 1792 or any(w in low for w in ("read-only", "read only", "readonly"))
    details = {"source": source, "host": host, "sqlstate": sqlstate, "db_code": code, "server_message": text}
    return ConnectorError(_error_message(kind, source, host, text, phase, timeout, read_only), kind=kind,
                          details=details)
