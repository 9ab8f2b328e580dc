"""Source configuration, secrets (Fernet, redaction) and field mapping: pure, no servers."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
from cryptography.fernet import Fernet

from aihub.connectors import (
    MASK,
    ConnectorError,
    SecretBox,
    SourceConfig,
    apply_mapping,
    check_secrets,
    generate_key,
    load_keys,
    parse_allowed_hosts,
    redact,
    scrub,
    select_problem,
    split_secrets,
)
from aihub.connectors.rest import host_allowed
from aihub.errors import CONNECTOR_ERROR_KINDS, ValidationError

TOKEN = "tok-7f3a9c1e-SECRET"


def rest_config(**over):
    cfg = {
        "source_name": "Orders API",
        "source_type": "rest_api",
        "description": "shop orders",
        "connection_config": {
            "base_url": "https://api.shop.example.com/v2",
            "endpoints": ["orders"],
            "records_path": "data.items",
            "pagination": {"type": "page", "size_param": "per_page", "page_size": 50},
        },
        "authentication_config": {"type": "bearer", "token": TOKEN},
        "data_schema": {"fields": [
            {"name": "order_id", "type": "id", "required": True},
            {"name": "amount", "type": "float", "default": 0},
        ]},
        "field_mapping": {"id": "order_id", "total": "amount"},
        "sync_frequency": "hourly",
    }
    cfg.update(over)
    return cfg


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------


def test_split_secrets_takes_the_token_out_and_round_trips():
    config, secrets = split_secrets(rest_config())
    assert secrets == {"token": TOKEN}
    assert TOKEN not in json.dumps(config.to_dict())
    assert config.source_type == "rest_api"
    assert config.fields[1].type == "number"  # alias "float"
    assert config.connection.pagination.page_size == 50
    again = SourceConfig.from_dict(config.to_dict())
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_from_dict_refuses_inline_secrets():
    with pytest.raises(ValidationError) as e:
        SourceConfig.from_dict(rest_config())
    assert e.value.field == "authentication_config.token"
    assert TOKEN not in str(e.value)


def test_masked_secret_means_unchanged():
    cfg = rest_config(authentication_config={"type": "bearer", "token": MASK})
    config, secrets = split_secrets(cfg)
    assert secrets == {}
    with pytest.raises(ValidationError) as e:
        check_secrets(config, secrets)
    assert e.value.field == "authentication_config.token"
    assert "enter the token" in str(e.value)
    assert check_secrets(config, {"token": "new"}) == {"token": "new"}


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"source_type": "ftp"}, "source_type",
         "should be 'file_upload', 'database', 'rest_api' or 'object_storage' (got 'ftp')"),
        ({"sync_frequency": "monthly"}, "sync_frequency",
         "should be 'realtime', 'hourly', 'daily' or 'weekly' (got 'monthly')"),
        ({"colour": "red"}, "colour", "not a known setting; remove it or check its spelling (allowed: source_name, "),
        ({"source_name": "  "}, "source_name", "should have at least 1 character"),
        ({"field_mapping": {"id": "order_id", "total": "order_id"}}, "field_mapping.total", "already does"),
        ({"field_mapping": {"x": "nope"}}, "field_mapping.x", "does not declare"),
        ({"data_schema": {"fields": [{"name": "a", "type": "money"}]}, "field_mapping": {}},
         "data_schema.fields.0.type", "should be 'date', 'number', 'integer', 'category', 'id', 'text' or 'boolean'"),
        ({"data_schema": {"fields": [{"name": "a", "type": "integer", "default": "ten"}]}, "field_mapping": {}},
         "data_schema.fields.0.default", "not a valid integer"),
        ({"data_schema": {"fields": ["a", "a"]}, "field_mapping": {}}, "data_schema.fields.1.name", "unique"),
    ],
)
def test_validation_names_field_value_and_allowed(patch, field, words):
    with pytest.raises(ValidationError) as e:
        split_secrets(rest_config(**patch))
    assert e.value.field == field
    assert words in str(e.value)
    assert "Orders API" in str(e.value) or field == "source_name"


@pytest.mark.parametrize(
    ("conn", "field", "words"),
    [
        ({"base_url": "ftp://x.example.com"}, "connection_config.base_url", "http:// or https://"),
        ({"base_url": "https://u:pw@x.example.com"}, "connection_config.base_url", "user name or password"),
        ({"base_url": "https://x.example.com", "headers": {"Authorization": "Bearer x"}},
         "connection_config.headers.Authorization", "credential"),
        ({"base_url": "https://x.example.com", "params": {"api_key": "x"}}, "connection_config.params.api_key",
         "credential"),
        ({"base_url": "https://x.example.com", "endpoints": ["https://evil.example.com/x"]},
         "connection_config.endpoints.0.path", "relative"),
        ({"base_url": "https://x.example.com", "pagination": {"type": "cursor"}},
         "connection_config.pagination.cursor_path", "required"),
        ({"base_url": "https://x.example.com", "pagination": {"type": "scroll"}},
         "connection_config.pagination.type",
         "should be 'none', 'page', 'offset', 'cursor' or 'next_link' (got 'scroll')"),
        ({"base_url": "https://x.example.com", "row_limit": 0}, "connection_config.row_limit",
         "greater than or equal to 1"),
        ({"base_url": "https://x.example.com", "timeout_seconds": -1}, "connection_config.timeout_seconds",
         "greater than 0"),
    ],
)
def test_rest_connection_validation(conn, field, words):
    with pytest.raises(ValidationError) as e:
        split_secrets(rest_config(connection_config=conn))
    assert e.value.field == field
    assert words in str(e.value)


def test_database_config_refuses_password_in_url_and_writes():
    base = {"source_name": "Sales DB", "source_type": "database"}
    with pytest.raises(ValidationError) as e:
        split_secrets({**base, "connection_config": {"url": "postgresql://u:hunter2@db/x", "table": "t"}})
    assert e.value.field == "connection_config.url" and "hunter2" not in str(e.value)
    with pytest.raises(ValidationError) as e:
        split_secrets({**base, "connection_config": {"url": "postgresql://u@db/x", "query": "DELETE FROM t"}})
    assert e.value.field == "connection_config.query" and "SELECT" in str(e.value)
    with pytest.raises(ValidationError):
        split_secrets({**base, "connection_config": {"url": "postgresql://u@db/x"}})  # neither query nor table
    config, secrets = split_secrets({
        **base, "connection_config": {"url": "postgresql+psycopg://u@db/x", "table": "sales.orders"},
        "authentication_config": {"type": "password", "password": "hunter2"},
    })
    assert (config.connection.db_schema, config.connection.table) == ("sales", "orders")
    assert secrets == {"password": "hunter2"}


@pytest.mark.parametrize(
    "bad",
    [
        {"authentication_config": {"type": "bearer", "tokn": TOKEN}},  # misspelt key: its value may be the secret
        {"authentication_config": {"type": "bearer", "token": {"value": TOKEN}}},
        {"authentication_config": TOKEN},
        {"authentication_config": {"type": "header", "header": "Host", "value": TOKEN}},
        {"authentication_config": {"type": "oauth2_client_credentials", "client_id": "c", "client_secret": TOKEN,
                                   "token_url": f"https://u:{TOKEN}@id.example.com"}},
        {"connection_config": {"base_url": f"https://u:{TOKEN}@x.example.com"}},
        {"connection_config": {"base_url": "https://x.example.com", "headers": {"X-API-Key": TOKEN}}},
        {"connection_config": {"base_url": "https://x.example.com", "params": {"token": TOKEN}}},
        {"connection_config": {"base_url": "https://x.example.com", "headers": {"X-Other": [TOKEN]}}},
        {"connection_config": {"base_url": f"https://x.example.com/?api_key={TOKEN}" + "x" * 2000}},
        {"source_type": "database", "connection_config": {"url": f"postgresql://u:{TOKEN}@db/x", "table": "t"}},
        {"source_type": "database", "connection_config": {"url": f"postgresql://u:{TOKEN}@db:port/x", "table": "t"}},
        {"source_type": "object_storage", "connection_config": {"url": f"s3://AKIA:{TOKEN}@bucket/x.csv"}},
        {"source_type": "object_storage",
         "connection_config": {"url": "s3://b/x.csv", "storage_options": {"key": TOKEN}}},
        {"source_type": "object_storage", "connection_config": "s3://b/x.csv",
         "authentication_config": {"type": "storage_options", "anything": TOKEN}},
    ],
)
def test_validation_errors_never_show_a_secret(bad):
    with pytest.raises(ValidationError) as e:
        split_secrets(rest_config(**bad))
    assert TOKEN not in str(e.value) and TOKEN not in json.dumps(e.value.to_dict(), default=str)
    assert e.value.field and e.value.field.split(".")[0] in ("authentication_config", "connection_config")


def test_every_problem_is_listed_with_its_dotted_path():
    bad = rest_config(sync_frequency="monthly", connection_config={
        "base_url": "https://x.example.com", "endpoints": ["a", {"path": "b", "records_path": "x..y"}],
        "pagination": {"type": "page", "cursor_path": "next"}, "row_limit": 0})
    with pytest.raises(ValidationError) as e:
        split_secrets(bad)
    fields = [err["field"] for err in e.value.details["errors"]]
    assert fields == ["connection_config.endpoints.1.records_path", "connection_config.pagination.cursor_path",
                      "connection_config.row_limit", "sync_frequency"]
    assert e.value.details["source"] == "Orders API"
    assert "(3 more problems listed with it)" in str(e.value)
    pagination = e.value.details["errors"][1]["message"]
    assert "allowed: type, max_pages, page_param, start_page, size_param, page_size" in pagination


def test_null_means_default_and_limits_are_the_models_bounds():
    from aihub.connectors.config import DEFAULT_ROW_LIMIT, MAX_ROW_LIMIT, RestConnection
    from aihub.userconfig import limits

    config, _ = split_secrets(rest_config(description=None, connection_config={
        "base_url": "https://x.example.com", "row_limit": None, "pagination": None, "verify_tls": None}))
    conn = config.connection
    assert (config.description, conn.row_limit, conn.pagination.type, conn.verify_tls) == \
        ("", DEFAULT_ROW_LIMIT, "none", True)
    assert limits(RestConnection, "row_limit") == {"ge": 1, "le": MAX_ROW_LIMIT, "default": DEFAULT_ROW_LIMIT}
    for limit in (1, MAX_ROW_LIMIT):
        ok, _ = split_secrets(rest_config(connection_config={"base_url": "https://x.example.com", "row_limit": limit}))
        assert ok.connection.row_limit == limit
    with pytest.raises(ValidationError) as e:
        split_secrets(rest_config(connection_config={"base_url": "https://x.example.com",
                                                     "row_limit": MAX_ROW_LIMIT + 1}))
    assert e.value.field == "connection_config.row_limit" and f"less than or equal to {MAX_ROW_LIMIT}" in str(e.value)


def test_text_and_flags_are_not_coerced():
    for conn, field in (({"row_limit": "5"}, "row_limit"), ({"row_limit": True}, "row_limit"),
                        ({"timeout_seconds": "3"}, "timeout_seconds"), ({"verify_tls": "yes"}, "verify_tls")):
        with pytest.raises(ValidationError) as e:
            split_secrets(rest_config(connection_config={"base_url": "https://x.example.com", **conn}))
        assert e.value.field == f"connection_config.{field}"
    config, _ = split_secrets(rest_config(connection_config={"base_url": "https://x.example.com", "row_limit": 5.0,
                                                             "headers": {"X-Pad": " a "}}))
    assert config.connection.row_limit == 5 and config.connection.headers == {"X-Pad": " a "}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select * from t;",
        "  -- a comment; with a semicolon\nSELECT ';' AS x, 'it''s' AS y",
        "WITH a AS (SELECT 1 AS n) SELECT * FROM a",
        "(SELECT 1) UNION (SELECT 2)",
        "SELECT $$;$$ AS dollar, \"weird;name\" FROM t",
        "SELECT 'a%' LIKE 'a%%' /* ; */",
    ],
)
def test_select_problem_accepts_reads(sql):
    assert select_problem(sql) is None


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM t", "must be a SELECT"),
        ("UPDATE t SET a = 1", "must be a SELECT"),
        ("SELECT 1; DROP TABLE t", "more than one statement"),
        ("SELECT 1; COMMIT", "more than one statement"),
        ("SELECT * INTO new_t FROM t", "INTO"),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT * FROM t FOR UPDATE", "locks rows"),
        ("SELECT 'unterminated", "never closed"),
        ("SELECT 'a\\'; DELETE FROM t; SELECT '\\''", ""),  # refused under one of the two quoting rules
        ("SELECT 'a\\'' ; DELETE FROM t; SELECT 1", ""),
        ("", "must be a SELECT"),
    ],
)
def test_select_problem_refuses_everything_else(sql, words):
    problem = select_problem(sql)
    assert problem is not None and words in problem


def test_every_connector_error_kind_is_documented():
    assert {"dns", "refused", "auth", "timeout", "schema_mismatch", "not_allowed", "http_error",
            "query_error"} <= set(CONNECTOR_ERROR_KINDS)
    e = ConnectorError("x", kind="dns", details={"source": "s"})
    assert e.kind == "dns" and e.code == "connector_failed" and e.to_dict()["details"]["kind"] == "dns"
    with pytest.raises(ValueError):
        ConnectorError("x", kind="weird")


def test_allow_list_patterns():
    allowed = parse_allowed_hosts("api.example.com, *.corp.example.com 127.0.0.1:8080 [::1]")
    assert allowed == ("api.example.com", "*.corp.example.com", "127.0.0.1:8080", "::1")
    assert host_allowed("API.example.com", 443, allowed)
    assert not host_allowed("evil-api.example.com", 443, allowed)
    assert host_allowed("a.b.corp.example.com", 443, allowed)
    assert not host_allowed("corp.example.com", 443, allowed)
    assert host_allowed("127.0.0.1", 8080, allowed) and not host_allowed("127.0.0.1", 8081, allowed)
    assert host_allowed("[::1]", 1, allowed)
    assert not host_allowed("anything", 1, parse_allowed_hosts(""))
    assert host_allowed("anything", 1, parse_allowed_hosts("*"))
    with pytest.raises(ValidationError) as e:
        parse_allowed_hosts("https://api.example.com/path")
    assert e.value.field == "AIHUB_ALLOWED_HOSTS"


# ---------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------


def test_fernet_round_trip_and_tokens_differ():
    box = SecretBox([generate_key()])
    secrets = {"token": TOKEN, "nested": {"a": [1, "two"]}}
    t1, t2 = box.encrypt(secrets), box.encrypt(secrets)
    assert t1 != t2 and TOKEN not in t1
    assert box.decrypt(t1) == secrets
    assert "keys hidden" in repr(box)


def test_wrong_key_and_tampering_are_reported_not_crashing():
    token = SecretBox([generate_key()]).encrypt({"token": TOKEN})
    other = SecretBox([generate_key()])
    with pytest.raises(ConnectorError) as e:
        other.decrypt(token, source="Orders API")
    assert e.value.kind == "auth" and e.value.code == "secret_undecryptable"
    assert "Orders API" in str(e.value) and "AIHUB_SECRET_KEY" in str(e.value)
    with pytest.raises(ConnectorError):
        other.decrypt(token[:-4] + "AAAA")


def test_key_rotation_reads_old_tokens_and_rewrites_with_new_key():
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt({"token": TOKEN})
    both = SecretBox([new, old])
    assert both.decrypt(token) == {"token": TOKEN}
    rotated = both.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == {"token": TOKEN}
    with pytest.raises(ConnectorError):
        SecretBox([old]).decrypt(rotated)


def test_keys_from_env_or_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv("AIHUB_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError) as e:
        load_keys()
    assert e.value.field == "AIHUB_SECRET_KEY"
    path = tmp_path / "keys" / "secret.key"
    with pytest.raises(ValidationError):
        load_keys(path)
    keys = load_keys(path, create=True)
    assert len(keys) == 1 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keys(path) == keys  # stable
    env_key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIHUB_SECRET_KEY", env_key)
    assert load_keys(path) == [env_key.encode()]  # the environment wins
    monkeypatch.setenv("AIHUB_SECRET_KEY", "not-a-key-but-secretish")
    with pytest.raises(ValidationError) as e:
        SecretBox.from_env(path)
    assert "not-a-key-but-secretish" not in str(e.value)


def test_redact_never_shows_secrets():
    cfg = {
        **rest_config(),
        "authentication_config": {"type": "oauth2_client_credentials", "token_url": "https://auth.example.com/t",
                                  "client_id": "hub", "client_secret": "cs-SECRET-123", "scope": "read"},
    }
    db = {"source_name": "db", "source_type": "database",
          "connection_config": {"url": "postgresql://reader:pw-SECRET-9@db.example.com/sales", "table": "t"},
          "authentication_config": {"type": "password", "username": "reader", "password": "pw-SECRET-9"}}
    store = {"source_name": "s3", "source_type": "object_storage",
             "connection_config": {"url": "s3://bucket/x.csv?X-Amz-Signature=sig-SECRET-5",
                                   "storage_options": {"anon": False, "aws_secret_access_key": "ak-SECRET-1"}},
             "authentication_config": {"type": "storage_options", "key": "AKIA-SECRET", "secret": "sk-SECRET"}}
    for raw in (cfg, db, store, rest_config()):
        shown = json.dumps(redact(raw))
        assert "SECRET" not in shown, shown
        assert TOKEN not in shown
    red = redact(cfg)
    assert red["authentication_config"]["client_id"] == "hub"
    assert red["authentication_config"]["token_url"] == "https://auth.example.com/t"
    assert red["authentication_config"]["client_secret"] == MASK
    assert red["connection_config"]["base_url"] == cfg["connection_config"]["base_url"]
    config, secrets = split_secrets(rest_config())
    assert redact(config) == config.to_dict()  # nothing secret in a SourceConfig
    assert TOKEN not in json.dumps(redact({"log": f"called with {TOKEN}"}, secrets))
    assert scrub(f"GET https://h/x?api_key=abc123&page=2 failed; token {TOKEN}", secrets) == \
        f"GET https://h/x?api_key={MASK}&page=2 failed; token {MASK}"


# ---------------------------------------------------------------------------
# mapping
# ---------------------------------------------------------------------------


def _fields(*specs):
    return tuple(split_secrets({"source_name": "m", "source_type": "rest_api",
                                "connection_config": {"base_url": "https://x.example.com"},
                                "data_schema": {"fields": list(specs)}})[0].fields)


def test_mapping_renames_converts_and_defaults():
    raw = pd.DataFrame({
        "ID": ["A1", "A2", "A3", "A4"],
        "Total": ["1,234.50", "$20", None, "7"],
        "Qty": [1, 2.0, None, "4"],
        "Paid": ["yes", "No", "", "TRUE"],
        "When": ["2024-03-01T10:00:00Z", "2024-03-02", "2024-03-03 08:30", None],
        "Region": ["EU", "US", "EU", None],
        "extra": [1, 2, 3, 4],
    })
    fields = _fields(
        {"name": "order_id", "type": "id", "required": True},
        {"name": "amount", "type": "number", "default": 0},
        {"name": "quantity", "type": "integer", "default": 1},
        {"name": "paid", "type": "boolean", "default": False},
        {"name": "ordered_at", "type": "date", "format": "ISO8601"},
        {"name": "region", "type": "category", "default": "unknown"},
        {"name": "channel", "type": "text", "default": "web"},
    )
    mapping = {"ID": "order_id", "Total": "amount", "Qty": "quantity", "Paid": "paid", "When": "ordered_at",
               "Region": "region", "Channel": "channel"}
    out = apply_mapping(raw, mapping, fields, source="Orders")
    f = out.frame
    assert list(f.columns) == ["order_id", "amount", "quantity", "paid", "ordered_at", "region", "channel"]
    assert f["amount"].tolist() == [1234.5, 20.0, 0.0, 7.0]
    assert str(f["quantity"].dtype) == "Int64" and f["quantity"].tolist() == [1, 2, 1, 4]
    assert str(f["paid"].dtype) == "boolean" and f["paid"].tolist() == [True, False, False, True]
    assert f["ordered_at"].dtype == "datetime64[ns]"
    assert f["ordered_at"].iloc[0] == pd.Timestamp("2024-03-01 10:00") and pd.isna(f["ordered_at"].iloc[3])
    assert isinstance(f["region"].dtype, pd.CategoricalDtype) and f["region"].tolist()[3] == "unknown"
    assert f["channel"].tolist() == ["web"] * 4  # absent optional column: created and defaulted
    assert out.defaults_used == {"amount": 1, "quantity": 1, "paid": 1, "region": 1, "channel": 4}
    assert any("'extra'" in w for w in out.warnings)


def test_mapping_without_schema_keeps_columns_and_renames():
    raw = pd.DataFrame({"a": [1, 2], "nested": [{"x": 1}, [1, 2]]})
    out = apply_mapping(raw, {"a": "alpha"}, ())
    assert list(out.frame.columns) == ["alpha", "nested"]
    assert out.frame["alpha"].tolist() == [1, 2]
    assert out.frame["nested"].tolist() == ['{"x": 1}', "[1, 2]"]


def test_mapping_schema_mismatches_name_the_field():
    fields = _fields({"name": "amount", "type": "number", "required": True}, {"name": "n", "type": "integer"})
    with pytest.raises(ConnectorError) as e:
        apply_mapping(pd.DataFrame({"x": [1]}), {"Total": "amount"}, fields, source="Orders")
    assert e.value.kind == "schema_mismatch" and "'Total'" in str(e.value) and "'x'" in str(e.value)
    with pytest.raises(ConnectorError) as e:
        apply_mapping(pd.DataFrame({"amount": ["1", "2", "oops", "bad"]}), {}, fields, source="Orders")
    assert e.value.kind == "schema_mismatch"
    assert e.value.details["row"] == 3 and e.value.details["value"] == "oops" and e.value.details["bad_count"] == 2
    assert "record 3" in str(e.value) and "'invalid' to 'missing'" in str(e.value)
    with pytest.raises(ConnectorError) as e:
        apply_mapping(pd.DataFrame({"amount": [1], "n": ["2.5"]}), {}, fields)
    assert e.value.details["column"] == "n"
    with pytest.raises(ConnectorError) as e:  # rename onto an existing column
        apply_mapping(pd.DataFrame({"a": [1], "amount": [2]}), {"a": "amount"}, fields)
    assert "clashes" in str(e.value)
    lenient = _fields({"name": "amount", "type": "number", "invalid": "missing"})
    out = apply_mapping(pd.DataFrame({"amount": ["1", "oops"]}), {}, lenient)
    assert out.frame["amount"].iloc[0] == 1.0 and np.isnan(out.frame["amount"].iloc[1])


def test_numpy_and_python_values_become_exact_text():
    from aihub.connectors import to_text_frame

    frame = pd.DataFrame({
        "f": np.array([0.1, np.nan]), "i": pd.array([3, None], dtype="Int64"), "b": [np.bool_(True), None],
        "t": pd.to_datetime(["2024-01-02 03:04:05+02:00", None], utc=True),
    })
    text = to_text_frame(frame)
    assert text.to_dict("list") == {"f": ["0.1", ""], "i": ["3", ""], "b": ["true", ""],
                                    "t": ["2024-01-02 01:04:05", ""]}
