"""Object-storage sources through fsspec: local files (under an allowed root) and memory://."""

from __future__ import annotations

import gzip
import importlib.util
import json
import uuid

import fsspec
import pandas as pd
import pytest

from aihub.connectors import read_source, test_connection
from aihub.errors import ValidationError

ROWS = pd.DataFrame({
    "order_id": ["A-001", "A-002", "A-003", "A-004", "A-005"],
    "amount": [10.5, 20.0, 7.25, 0.0, 99.99],
    "region": ["EU", "US", "EU", "APAC", "US"],
    "ordered": ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"],
})


def store_source(url, **conn):
    return {"source_name": "Exports", "source_type": "object_storage", "connection_config": {"url": url, **conn}}


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "imports"
    root.mkdir()
    ROWS.to_csv(root / "orders.csv", index=False)
    ROWS.to_csv(root / "orders_semicolon.csv", index=False, sep=";")
    ROWS.to_parquet(root / "orders.parquet", index=False)
    (root / "orders.json").write_text(json.dumps({"data": {"rows": ROWS.to_dict("records")}}))
    (root / "orders.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS.to_dict("records")) + "\n")
    with gzip.open(root / "orders.csv.gz", "wt") as fh:
        fh.write(ROWS.to_csv(index=False))
    (root / "part").mkdir()
    ROWS.iloc[:2].to_csv(root / "part" / "2024-01.csv", index=False)
    ROWS.iloc[2:].to_csv(root / "part" / "2024-02.csv", index=False)
    (root / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    return root


def test_local_csv_keeps_text_exactly_and_types_follow_the_schema(files):
    cfg = store_source(str(files / "orders.csv"))
    cfg["data_schema"] = {"fields": [{"name": "order_id", "type": "id"}, {"name": "amount", "type": "number"},
                                     {"name": "ordered", "type": "date"}]}
    table = read_source(cfg, local_roots=[str(files)])
    assert table.frame["order_id"].tolist()[:2] == ["A-001", "A-002"]
    assert table.frame["amount"].sum() == pytest.approx(ROWS["amount"].sum())
    assert table.frame["ordered"].dtype == "datetime64[ns]"
    untyped = read_source(store_source(str(files / "orders.csv")), local_roots=[str(files)])
    assert untyped.frame["amount"].tolist()[0] == "10.5"  # CSV cells stay text for the upload reader to infer
    parsed = untyped.to_upload()
    assert {c.name: c.kind for c in parsed.schema}["amount"] == "number"


@pytest.mark.parametrize(
    ("name", "conn"),
    [
        ("orders.parquet", {}),
        ("orders.json", {"records_path": "data.rows"}),
        ("orders.jsonl", {}),
        ("orders.csv.gz", {}),
        ("orders_semicolon.csv", {"sep": ";"}),
    ],
)
def test_formats(files, name, conn):
    table = read_source(store_source(str(files / name), **conn), local_roots=[str(files)])
    assert table.rows_read == 5
    assert [str(x) for x in table.frame["order_id"]] == ROWS["order_id"].tolist()
    assert float(table.frame["amount"].astype(float).iloc[-1]) == 99.99


def test_glob_reads_every_match_in_order(files):
    table = read_source(store_source(str(files / "part" / "*.csv")), local_roots=[str(files)])
    assert table.frame["order_id"].tolist() == ROWS["order_id"].tolist()
    assert table.frame["_file"].str.endswith("2024-01.csv").sum() == 2


def test_row_limit(files):
    for name in ("orders.csv", "orders.parquet", "orders.jsonl", "orders.json"):
        conn = {"row_limit": 3, **({"records_path": "data.rows"} if name == "orders.json" else {})}
        table = read_source(store_source(str(files / name), **conn), local_roots=[str(files)])
        assert table.rows_read == 3 and table.truncated, name
    table = read_source(store_source(str(files / "part" / "*.csv"), row_limit=3), local_roots=[str(files)])
    assert table.rows_read == 3 and table.truncated


def test_memory_filesystem():
    folder = f"memory://aihub-test-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    try:
        with fsspec.open(f"{folder}/sales.csv", "w") as fh:
            fh.write(ROWS.to_csv(index=False))
        with fsspec.open(f"{folder}/sales.parquet", "wb") as fh:
            ROWS.to_parquet(fh, index=False)
        report = test_connection(store_source(f"{folder}/sales.csv"), sample_rows=2)
        assert report.ok and len(report.rows_sample) == 2 and report.truncated
        table = read_source(store_source(f"{folder}/sales.parquet"))
        assert table.frame["amount"].tolist() == ROWS["amount"].tolist()
        missing = test_connection(store_source(f"{folder}/nope.csv"))
        assert missing.error_kind == "not_found" and "nope.csv" in missing.message
    finally:
        fs.rm(folder.replace("memory://", "/"), recursive=True)


def test_local_paths_need_an_allowed_root(files, tmp_path, monkeypatch):
    monkeypatch.delenv("AIHUB_LOCAL_SOURCE_ROOTS", raising=False)
    report = test_connection(store_source(str(files / "orders.csv")))
    assert report.error_kind == "not_allowed" and "AIHUB_LOCAL_SOURCE_ROOTS" in report.message
    report = test_connection(store_source("/etc/passwd", format="csv"), local_roots=[str(files)])
    assert report.error_kind == "not_allowed"
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    link = files / "link.csv"
    link.symlink_to(outside)  # a link inside the root pointing outside is refused
    report = test_connection(store_source(str(link)), local_roots=[str(files)])
    assert report.error_kind == "not_allowed"
    report = test_connection(store_source(str(files / ".." / "secret.csv")), local_roots=[str(files)])
    assert report.error_kind == "not_allowed"
    monkeypatch.setenv("AIHUB_LOCAL_SOURCE_ROOTS", str(files))
    assert test_connection(store_source(f"file://{files / 'orders.csv'}")).ok


@pytest.mark.parametrize(
    ("name", "conn", "kind", "words"),
    [
        ("broken.parquet", {}, "bad_data", "cannot be read as Parquet"),
        ("missing.csv", {}, "not_found", "no file"),
        ("part/*.tsv", {}, "not_found", "no file matches"),
        ("orders.json", {"records_path": "data.items"}, "schema_mismatch", "keys there: 'rows'"),
        ("orders.json", {"max_bytes": 10}, "bad_data", "max_bytes"),
        ("orders.csv", {"format": "parquet"}, "bad_data", "Parquet"),
    ],
)
def test_failures_are_classified(files, name, conn, kind, words):
    report = test_connection(store_source(str(files / name), **conn), local_roots=[str(files)])
    assert report.error_kind == kind and words in report.message, report.message


def test_schema_mismatch_on_a_file(files):
    cfg = store_source(str(files / "orders.csv"))
    cfg["data_schema"] = {"fields": [{"name": "region", "type": "number"}]}
    report = test_connection(cfg, local_roots=[str(files)])
    assert report.error_kind == "schema_mismatch" and "'EU'" in report.message


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_cloud_url_without_its_extra_names_the_package():
    report = test_connection(store_source("s3://some-bucket/data.csv"))
    assert report.error_kind == "missing_dependency" and "pip install s3fs" in report.message


def test_url_validation():
    with pytest.raises(ValidationError) as e:
        test_connection(store_source("ftp://host/file.csv"))
    assert e.value.field == "connection_config.url" and "s3://" in str(e.value)
    with pytest.raises(ValidationError):
        test_connection(store_source("simplecache::s3://bucket/x.csv"))
    with pytest.raises(ValidationError) as e:
        test_connection(store_source("s3://b/x.csv", storage_options={"secret": "x"}))
    assert e.value.field == "connection_config.storage_options.secret"
    with pytest.raises(ValidationError):
        test_connection(store_source("/x.csv", format="xlsx"))
    report = test_connection(store_source("s3://b/x.csv", storage_options={"endpoint_url": "http://10.1.2.3:9000"}),
                             allowed_hosts="minio.example.com")
    assert report.error_kind == "not_allowed" and "10.1.2.3" in report.message
