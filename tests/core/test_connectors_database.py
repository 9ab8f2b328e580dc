"""Database sources against the local PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) servers.

Each test module run creates its own scratch schema (PostgreSQL) or tables (MariaDB) and drops them.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aihub.connectors import ConnectorError, read_source, split_secrets, test_connection
from aihub.connectors.database import read_database
from aihub.errors import ValidationError

PG_URL = os.environ.get("AIHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MY_URL = os.environ.get("AIHUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
ALLOWED = "127.0.0.1"
N_ROWS = 50
TAG = uuid.uuid4().hex[:8]


@pytest.fixture(autouse=True)
def _test_database_may_share_the_hubs_server(monkeypatch):
    """127.0.0.1:5432 also serves the hub's own databases in a full test session; sources may read its database
    ``test`` only because the operator setting names it (tests/security/test_database_sources.py covers the rest)."""
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", make_url(PG_URL).database)


def _engine_or_skip(url):
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        engine.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no database server at {url}: {exc}")
    return engine


@pytest.fixture(scope="module")
def pg():
    engine = _engine_or_skip(PG_URL)
    schema = f"aihub_conn_{TAG}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            conn.exec_driver_sql(
                f"CREATE TABLE {schema}.orders (id int PRIMARY KEY, amount numeric(10,2), created timestamptz, "
                "paid boolean, region text, note text)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {schema}.orders SELECT g, g * 1.25, "
                "timestamptz '2024-01-01 00:00+00' + g * interval '1 day', mod(g, 2) = 0, "
                "CASE WHEN mod(g, 3) = 0 THEN 'EU' ELSE 'US' END, CASE WHEN mod(g, 5) = 0 THEN NULL ELSE 'n' || g END "
                f"FROM generate_series(1, {N_ROWS}) g"
            )
            conn.exec_driver_sql(
                f"CREATE FUNCTION {schema}.sneaky_write() RETURNS int LANGUAGE plpgsql AS "
                f"$$BEGIN INSERT INTO {schema}.orders (id) VALUES (1000); RETURN 1; END$$"
            )
            conn.exec_driver_sql(f'CREATE TABLE {schema}."Mixed Case" (x int)')
            conn.exec_driver_sql(f'INSERT INTO {schema}."Mixed Case" VALUES (1), (2)')
        yield engine, schema
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


@pytest.fixture(scope="module")
def my():
    engine = _engine_or_skip(MY_URL)
    table, func = f"aihub_conn_{TAG}", f"aihub_conn_write_{TAG}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {table} (id INT PRIMARY KEY, amount DECIMAL(10,2), region VARCHAR(10))")
            conn.exec_driver_sql(
                f"INSERT INTO {table} VALUES "
                + ", ".join(f"({i}, {i * 1.25}, '{'EU' if i % 3 == 0 else 'US'}')" for i in range(1, N_ROWS + 1))
            )
            conn.exec_driver_sql(
                f"CREATE FUNCTION {func}() RETURNS INT MODIFIES SQL DATA "
                f"BEGIN INSERT INTO {table} VALUES (1000, 0, 'XX'); RETURN 1; END"
            )
        yield engine, table, func
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {func}")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()


def db_source(url, **conn):
    return {"source_name": "Sales DB", "source_type": "database",
            "connection_config": {"url": url, "timeout_seconds": 5, "connect_timeout_seconds": 3, **conn}}


def count(engine, table):
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


def test_pg_table_and_query_read_with_types(pg):
    _engine, schema = pg
    cfg = db_source(PG_URL, table=f"{schema}.orders")
    cfg["data_schema"] = {"fields": [
        {"name": "order_id", "type": "id", "required": True},
        {"name": "amount", "type": "number"},
        {"name": "created", "type": "date"},
        {"name": "paid", "type": "boolean"},
        {"name": "region", "type": "category"},
        {"name": "note", "type": "text", "default": "(none)"},
    ]}
    cfg["field_mapping"] = {"id": "order_id"}
    table = read_source(cfg, allowed_hosts=ALLOWED)
    f = table.frame
    assert table.rows_read == N_ROWS and not table.truncated
    assert f["amount"].dtype == "float64" and f["amount"].iloc[0] == 1.25
    assert f["created"].dtype == "datetime64[ns]" and f["created"].iloc[0] == pd.Timestamp("2024-01-02")
    assert f["paid"].tolist()[:2] == [False, True]
    assert f["note"].iloc[4] == "(none)"
    pd.testing.assert_frame_equal(table.to_upload().typed(), f, check_categorical=False)

    mixed = read_source(db_source(PG_URL, table="Mixed Case", db_schema=schema), allowed_hosts=ALLOWED)
    assert mixed.frame["x"].tolist() == [1, 2]  # quoted identifier
    q = read_source(db_source(PG_URL, query=f"SELECT region, count(*) AS n, 'a%' AS pct, '10:30' AS t "
                                            f"FROM {schema}.orders GROUP BY region ORDER BY region"),
                    allowed_hosts=ALLOWED)
    assert q.frame.to_dict("list") == {"region": ["EU", "US"], "n": [16, 34], "pct": ["a%"] * 2, "t": ["10:30"] * 2}


def test_pg_row_limit(pg):
    _engine, schema = pg
    t = read_source(db_source(PG_URL, query=f"SELECT * FROM {schema}.orders ORDER BY id DESC", row_limit=7),
                    allowed_hosts=ALLOWED)
    assert t.rows_read == 7 and t.truncated and t.frame["id"].tolist() == list(range(50, 43, -1))
    assert any("more rows" in w for w in t.warnings)
    t = read_source(db_source(PG_URL, table=f"{schema}.orders", row_limit=N_ROWS), allowed_hosts=ALLOWED)
    assert t.rows_read == N_ROWS and not t.truncated


def test_pg_read_only_transaction_refuses_writes(pg):
    engine, schema = pg
    # A SELECT that calls a function which writes passes the text check; the read-only transaction stops it.
    report = test_connection(db_source(PG_URL, query=f"SELECT {schema}.sneaky_write() AS x"), allowed_hosts=ALLOWED)
    assert report.error_kind == "query_error" and "read-only" in report.message
    assert report.details["sqlstate"] == "25006"
    assert count(engine, f"{schema}.orders") == N_ROWS
    # A data-modifying CTE is refused too (PostgreSQL will not even open a cursor on it).
    sql = f"WITH d AS (DELETE FROM {schema}.orders RETURNING *) SELECT count(*) FROM d"
    report = test_connection(db_source(PG_URL, query=sql), allowed_hosts=ALLOWED)
    assert report.error_kind == "query_error"
    assert count(engine, f"{schema}.orders") == N_ROWS
    # Even a plain INSERT that skipped validation is refused (the server-side cursor takes SELECTs only).
    config, _ = split_secrets(db_source(PG_URL, table=f"{schema}.orders"))
    raw = config.model_copy(update={"connection": config.connection.model_copy(update={  # skips validation
        "query": f"INSERT INTO {schema}.orders (id) VALUES (999) RETURNING id", "table": None})})
    with pytest.raises(ConnectorError) as e:
        read_database(raw, {}, allowed_hosts=(ALLOWED,))
    assert e.value.kind == "query_error" and e.value.details["sqlstate"] in ("25006", "42601")
    assert count(engine, f"{schema}.orders") == N_ROWS
    with pytest.raises(ValidationError):  # and the text check refuses it up front
        split_secrets(db_source(PG_URL, query=f"INSERT INTO {schema}.orders (id) VALUES (999)"))


def test_pg_statement_timeout(pg):
    started = time.perf_counter()
    report = test_connection(db_source(PG_URL, query="SELECT pg_sleep(5)", timeout_seconds=0.5),
                             allowed_hosts=ALLOWED)
    assert report.error_kind == "timeout" and "0.5 s timeout" in report.message
    assert time.perf_counter() - started < 3


def test_pg_query_errors_auth_dns_refused(pg, monkeypatch):
    _engine, schema = pg
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", f"test,aihub_no_db_{TAG}")
    r = test_connection(db_source(PG_URL, query=f"SELECT * FROM {schema}.no_such_table"), allowed_hosts=ALLOWED)
    assert r.error_kind == "query_error" and "no_such_table" in r.message
    r = test_connection(db_source(PG_URL.replace("postgres@", f"aihub_no_role_{TAG}@"), query="SELECT 1"),
                        allowed_hosts=ALLOWED)
    assert r.error_kind == "auth" and "login" in r.message
    r = test_connection(db_source(PG_URL.rsplit("/", 1)[0] + f"/aihub_no_db_{TAG}", query="SELECT 1"),
                        allowed_hosts=ALLOWED)
    assert r.error_kind == "not_found"
    r = test_connection(db_source("postgresql+psycopg://postgres@nonexistent.invalid:5432/test", query="SELECT 1"),
                        allowed_hosts="nonexistent.invalid")
    assert r.error_kind == "dns" and "nonexistent.invalid" in r.message
    port = closed_port()
    r = test_connection(db_source(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test", query="SELECT 1"),
                        allowed_hosts=ALLOWED)
    assert r.error_kind == "refused"


def test_pg_password_is_used_and_never_shown(pg):
    cfg = db_source(PG_URL.replace("postgres@", f"aihub_no_role_{TAG}@"), query="SELECT 1")
    cfg["authentication_config"] = {"type": "password", "password": "pw-SECRET-42"}
    r = test_connection(cfg, allowed_hosts=ALLOWED)
    assert r.error_kind == "auth" and "pw-SECRET-42" not in str(r.to_dict())


def test_database_host_allow_list(pg):
    r = test_connection(db_source(PG_URL, query="SELECT 1"), allowed_hosts="db.example.com")
    assert r.error_kind == "not_allowed" and "127.0.0.1:5432" in r.message
    r = test_connection(db_source("sqlite:////etc/hostname", query="SELECT 1"), allowed_hosts="*")
    assert r.error_kind == "not_allowed" and "AIHUB_LOCAL_SOURCE_ROOTS" in r.message


def test_sqlite_in_allowed_folder(tmp_path):
    path = tmp_path / "local.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')")
    engine.dispose()
    t = read_source(db_source(f"sqlite:///{path}", table="t", row_limit=2), local_roots=[str(tmp_path)])
    assert t.frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]} and t.truncated
    cte = "WITH d AS (SELECT 1) SELECT * FROM d"
    assert read_source(db_source(f"sqlite:///{path}", query=cte), local_roots=[str(tmp_path)]).rows_read == 1


# ---------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------


def test_mariadb_table_query_and_row_limit(my):
    _engine, table, _ = my
    t = read_source(db_source(MY_URL, table=table), allowed_hosts=ALLOWED)
    assert t.rows_read == N_ROWS and not t.truncated
    t = read_source(db_source(MY_URL, query=f"SELECT id, amount FROM {table} ORDER BY id DESC", row_limit=5),
                    allowed_hosts=ALLOWED)
    assert t.rows_read == 5 and t.truncated and t.frame["id"].tolist() == [50, 49, 48, 47, 46]
    assert str(t.frame["amount"].iloc[0]) == "62.50"  # DECIMAL arrives exact
    t = read_source(db_source(MY_URL, query=f"SELECT region, COUNT(*) AS n FROM {table} GROUP BY region "
                                            "ORDER BY region", row_limit=2), allowed_hosts=ALLOWED)
    assert t.frame.to_dict("list") == {"region": ["EU", "US"], "n": [16, 34]} and not t.truncated


def test_mariadb_read_only_transaction_refuses_writes(my):
    engine, table, func = my
    report = test_connection(db_source(MY_URL, query=f"SELECT {func}() AS x"), allowed_hosts=ALLOWED)
    assert report.error_kind == "query_error" and "read-only" in report.message
    assert count(engine, table) == N_ROWS
    config, _ = split_secrets(db_source(MY_URL, table=table))
    raw = config.model_copy(update={"connection": config.connection.model_copy(update={  # skips validation
        "query": f"DELETE FROM {table}", "table": None})})
    with pytest.raises(ConnectorError) as e:
        read_database(raw, {}, allowed_hosts=(ALLOWED,))
    assert e.value.kind == "query_error" and e.value.details["db_code"] == 1792
    assert count(engine, table) == N_ROWS


def test_mariadb_statement_timeout(my):
    started = time.perf_counter()
    report = test_connection(db_source(MY_URL, query="SELECT SLEEP(5) AS s", timeout_seconds=0.5),
                             allowed_hosts=ALLOWED)
    assert report.error_kind == "timeout", report.message
    assert time.perf_counter() - started < 3


def test_mariadb_auth_dns_refused_and_unknown_table(my):
    _engine, _table, _ = my
    cfg = db_source(MY_URL, query="SELECT 1")
    cfg["authentication_config"] = {"type": "password", "password": "wrong-SECRET"}
    r = test_connection(cfg, allowed_hosts=ALLOWED)
    assert r.error_kind == "auth" and "wrong-SECRET" not in str(r.to_dict())
    r = test_connection(db_source(MY_URL, query="SELECT * FROM aihub_no_such_table"), allowed_hosts=ALLOWED)
    assert r.error_kind == "query_error" and "aihub_no_such_table" in r.message
    r = test_connection(db_source("mysql+pymysql://root@nonexistent.invalid:3306/test", query="SELECT 1"),
                        allowed_hosts="nonexistent.invalid")
    assert r.error_kind == "dns"
    r = test_connection(db_source(f"mysql+pymysql://root@127.0.0.1:{closed_port()}/test", query="SELECT 1"),
                        allowed_hosts=ALLOWED)
    assert r.error_kind == "refused"
