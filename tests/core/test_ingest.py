"""Tests of :mod:`aihub.ingest`: upload reading, schema inference, apply_schema.

Real files come from the shared data folder (``../shared/data`` next to the
repository, or ``$AIHUB_SHARED_DIR/data``); messy inputs are generated in
``tmp_path`` or in memory. No database.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.errors import IngestError, ValidationError
from aihub.ingest import (
    KINDS,
    ColumnSchema,
    ParsedUpload,
    apply_schema,
    iter_table_chunks,
    read_upload,
    schema_from_json,
    schema_to_json,
)
from tests.conftest import DATA, shared_file

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")


def _read(path: Path, **kwargs) -> ParsedUpload:
    return read_upload(path.name, path.read_bytes(), **kwargs)


def _col(parsed: ParsedUpload, name: str) -> ColumnSchema:
    return next(c for c in parsed.schema if c.name == name)


def _err(filename: str, data: bytes, **kwargs) -> IngestError:
    with pytest.raises(IngestError) as info:
        read_upload(filename, data, **kwargs)
    assert info.value.details["file"] == filename
    return info.value


@pytest.fixture(scope="module")
def superstore() -> tuple[ParsedUpload, pd.DataFrame]:
    parsed = _read(DATA / "superstore" / "superstore_orders.csv")
    return parsed, parsed.typed()


# ---------------------------------------------------------------------------
# real files
# ---------------------------------------------------------------------------


@needs_data
def test_superstore_figures(superstore):
    parsed, typed = superstore
    assert parsed.encoding == "utf-8-sig"
    assert parsed.delimiter == ","
    assert parsed.row_count == len(typed) == 10_194
    assert parsed.frame.columns[0] == "Row ID"  # no byte-order mark
    assert not any("\ufeff" in c for c in typed.columns)
    assert typed["Order Date"].min() == pd.Timestamp("2019-01-03")
    assert typed["Order Date"].max() == pd.Timestamp("2022-12-30")
    assert round(float(typed["Sales"].sum()), 2) == 2_326_534.35
    assert parsed.warnings == []


@needs_data
def test_superstore_schema(superstore):
    parsed, typed = superstore
    order_date = _col(parsed, "Order Date")
    assert (order_date.kind, order_date.date_format, order_date.dayfirst) == ("date", "%d/%m/%y", True)
    assert not order_date.ambiguous  # some days are above 12
    kinds = {c.name: c.kind for c in parsed.schema}
    assert kinds["Row ID"] == kinds["Order ID"] == kinds["Customer ID"] == kinds["Product ID"] == "id"
    assert kinds["Segment"] == kinds["Region"] == "category"
    assert kinds["Sales"] == kinds["Profit"] == "number"
    assert kinds["Quantity"] == "integer"
    assert kinds["Postal Code"] != "integer"  # a code, not a quantity
    assert str(typed["Quantity"].dtype) == "Int64"
    assert pd.api.types.is_datetime64_dtype(typed["Ship Date"])
    assert isinstance(typed["Segment"].dtype, pd.CategoricalDtype)
    assert _col(parsed, "Segment").sample == ["Consumer", "Home Office", "Corporate"]


@needs_data
def test_superstore_reads_fast():
    data = (DATA / "superstore" / "superstore_orders.csv").read_bytes()
    read_upload("superstore_orders.csv", data)  # warm-up: imports, regex compilation
    # CPU time of this process, so that other jobs on a busy CI machine do not make it flaky.
    start = time.process_time()
    read_upload("superstore_orders.csv", data)
    assert time.process_time() - start < 1.0


@needs_data
def test_superstore_typed_frame_stores_as_parquet(superstore):
    pytest.importorskip("pyarrow")
    _, typed = superstore
    buf = io.BytesIO()
    typed.to_parquet(buf)
    back = pd.read_parquet(io.BytesIO(buf.getvalue()))
    assert len(back) == 10_194
    assert round(float(back["Sales"].sum()), 2) == 2_326_534.35


@needs_data
def test_air_passengers_bare_cr_line_endings():
    path = DATA / "prophet_examples" / "example_air_passengers.csv"
    assert b"\n" not in path.read_bytes()  # the file really uses old-Mac CR endings
    parsed = _read(path)
    assert parsed.row_count == 144
    assert list(parsed.frame.columns) == ["ds", "y"]
    assert [c.kind for c in parsed.schema] == ["date", "integer"]
    typed = parsed.typed()
    assert typed["ds"].iloc[0] == pd.Timestamp("1949-01-01")
    assert typed["y"].iloc[0] == 112


@needs_data
def test_telco_ids_blank_totals_and_churn():
    parsed = _read(DATA / "telco_churn" / "telco_customer_churn.csv")
    assert parsed.row_count == 7_043
    assert _col(parsed, "customerID").kind == "id"
    total = _col(parsed, "TotalCharges")
    assert total.kind == "number"
    assert total.null_count == 11  # cells holding a single space
    churn = _col(parsed, "Churn")
    assert churn.kind == "category"  # Yes/No stays a category (documented choice)
    typed = parsed.typed()
    assert typed["TotalCharges"].dtype == np.float64
    assert int(typed["TotalCharges"].isna().sum()) == 11
    assert list(typed["Churn"].cat.categories) == ["No", "Yes"]
    assert typed["customerID"].is_unique
    # The user may switch Churn to boolean: Yes/No are accepted.
    schema = [c if c.name != "Churn" else ColumnSchema(name="Churn", kind="boolean") for c in parsed.schema]
    as_bool = parsed.typed(schema)
    assert str(as_bool["Churn"].dtype) == "boolean"
    assert int(as_bool["Churn"].sum()) == int((parsed.frame["Churn"] == "Yes").sum())


# ---------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "filename"),
    [(",", "a.csv"), (";", "a.csv"), ("\t", "a.tsv"), ("|", "a.txt")],
)
def test_delimiters_are_sniffed(delimiter, filename):
    lines = ["date{d}store{d}sales", "2024-01-01{d}North{d}10.5", "2024-01-02{d}South{d}11"]
    data = "\n".join(line.format(d=delimiter) for line in lines).encode()
    parsed = read_upload(filename, data)
    assert parsed.delimiter == delimiter
    assert list(parsed.frame.columns) == ["date", "store", "sales"]
    assert [c.kind for c in parsed.schema] == ["date", "category", "number"]


def test_european_csv_decimal_comma():
    data = b"Datum;Umsatz;Menge\n31.12.2020;1.234,50;3\n01.01.2021;12,5;4\n"
    parsed = read_upload("umsatz.csv", data)
    umsatz = _col(parsed, "Umsatz")
    assert (umsatz.kind, umsatz.decimal) == ("number", ",")
    assert _col(parsed, "Datum").date_format == "%d.%m.%Y"
    typed = parsed.typed()
    assert typed["Umsatz"].tolist() == [1234.5, 12.5]
    assert typed["Datum"].tolist() == [pd.Timestamp("2020-12-31"), pd.Timestamp("2021-01-01")]


def test_currency_thousands_and_accounting_negatives():
    data = b'item,amount\na,"$1,234.50"\nb,(20.00)\nc,$-3\nd,\n'
    parsed = read_upload("money.csv", data)
    assert _col(parsed, "amount").kind == "number"
    assert parsed.typed()["amount"].tolist()[:3] == [1234.5, -20.0, -3.0]


def test_excel_first_sheet_and_named_sheet(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    import datetime as dt

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sales"
    ws.append(["date", "store", "sales", "promo"])
    for i in range(6):
        ws.append([dt.datetime(2024, 1, 1 + i), "North" if i % 2 else "South", 10.5 * i, i % 2 == 0])
    other = wb.create_sheet("Targets")
    other.append(["month", "target"])
    other.append([dt.datetime(2024, 1, 1), 100])
    path = tmp_path / "sales.xlsx"
    wb.save(path)

    parsed = _read(path)
    assert parsed.format == "excel" and parsed.encoding is None and parsed.delimiter is None
    assert parsed.sheet == "Sales" and parsed.sheet_names == ["Sales", "Targets"]
    assert any("2 sheets" in w for w in parsed.warnings)
    assert [c.kind for c in parsed.schema] == ["date", "category", "number", "boolean"]
    typed = parsed.typed()
    assert typed["date"].iloc[-1] == pd.Timestamp("2024-01-06")
    assert typed["sales"].sum() == pytest.approx(157.5)
    assert typed["promo"].tolist() == [True, False, True, False, True, False]

    targets = _read(path, sheet="Targets")
    assert targets.row_count == 1 and list(targets.frame.columns) == ["month", "target"]
    assert _read(path, sheet=1).sheet == "Targets"
    err = _err("sales.xlsx", path.read_bytes(), sheet="Budget")
    assert err.code == "unknown_sheet" and err.details["allowed"] == ["Sales", "Targets"]


def test_excel_written_by_pandas(tmp_path):
    frame = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=5, freq="D"), "y": [1.5, 2, None, 4, 5]})
    path = tmp_path / "series.xlsx"
    frame.to_excel(path, index=False)
    parsed = _read(path)
    assert [c.kind for c in parsed.schema] == ["date", "number"]
    typed = parsed.typed()
    assert typed["ds"].tolist() == frame["ds"].tolist()
    assert typed["y"].isna().sum() == 1


def test_excel_header_below_row_one_keeps_sheet_row_numbers(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A3"], ws["B3"] = "store", "sales"
    ws["A4"], ws["B4"] = "North", 1
    ws["A5"], ws["B5"] = "South", "lots"
    path = tmp_path / "offset.xlsx"
    wb.save(path)
    parsed = _read(path)
    assert parsed.row_numbers == [4, 5]
    schema = [ColumnSchema(name="store", kind="category"), ColumnSchema(name="sales", kind="number")]
    with pytest.raises(IngestError) as info:
        parsed.typed(schema)
    assert info.value.details["row"] == 5  # the row Excel shows


RECORDS = [
    {"date": "2024-01-01", "sales": 10, "region": "North", "promo": True},
    {"date": "2024-01-02", "sales": 12.5, "region": "South", "promo": False},
    {"date": "2024-01-03", "sales": None, "region": "North", "promo": False},
]


@pytest.mark.parametrize(
    ("filename", "payload"),
    [
        ("records.json", json.dumps(RECORDS)),
        ("wrapped.json", json.dumps({"data": RECORDS, "total": 3, "page": {"n": 1}})),
        ("lines.jsonl", "\n".join(json.dumps(r) for r in RECORDS) + "\n"),
        ("lines.json", "\n".join(json.dumps(r) for r in RECORDS)),
    ],
)
def test_json_inputs(filename, payload):
    parsed = read_upload(filename, payload.encode())
    assert parsed.format == "json"
    assert parsed.row_count == 3
    assert list(parsed.frame.columns) == ["date", "sales", "region", "promo"]
    assert [c.kind for c in parsed.schema] == ["date", "number", "category", "boolean"]
    typed = parsed.typed()
    assert typed["sales"].isna().tolist() == [False, False, True]
    assert typed["promo"].tolist() == [True, False, False]


def test_json_errors():
    assert _err("bad.json", b'[{"a": 1},').code == "bad_json"
    err = _err("bad.jsonl", b'{"a": 1}\n{"a": 2\n')
    assert (err.code, err.details["row"]) == ("bad_json", 2)
    assert _err("scalar.json", b"42").code == "bad_json"
    err = _err("mixed.json", b'[{"a": 1}, 5]')
    assert (err.code, err.details["row"]) == ("bad_json", 2)
    assert _err("none.json", b"[]").code == "empty_file"


def test_utf16_and_cp1252_text():
    parsed = read_upload("utf16.csv", "city\tsales\nMünchen\t1\nKöln\t2\n".encode("utf-16"))
    assert parsed.encoding == "utf-16" and parsed.frame["city"].tolist() == ["München", "Köln"]
    parsed = read_upload("latin.csv", "city,sales\nSão Paulo,1\nZürich,2\n".encode("cp1252"))
    assert parsed.encoding == "cp1252"
    assert parsed.frame["city"].tolist() == ["São Paulo", "Zürich"]
    assert any("Windows-1252" in w for w in parsed.warnings)


def test_sha256_identifies_same_bytes():
    data = b"date,sales\n2024-01-01,1\n"
    first = read_upload("a.csv", data)
    again = read_upload("renamed.csv", data)
    assert first.sha256 == again.sha256 == hashlib.sha256(data).hexdigest()
    assert read_upload("a.csv", data + b"2024-01-02,2\n").sha256 != first.sha256
    assert first.size_bytes == len(data)


def test_blank_rows_skipped_but_counted_in_row_numbers():
    data = b"store,sales\nNorth,1\n\nSouth,2\n,\nEast,x\n"
    parsed = read_upload("gaps.csv", data)
    assert parsed.row_count == 3
    assert parsed.row_numbers == [2, 4, 6]
    assert any("blank" in w for w in parsed.warnings)
    schema = [ColumnSchema(name="store", kind="category"), ColumnSchema(name="sales", kind="integer")]
    with pytest.raises(IngestError) as info:
        parsed.typed(schema)
    assert info.value.details["row"] == 6


def test_title_line_above_header_is_explained():
    err = _err("report.csv", b"Sales report 2024\n\ndate,store,sales\n2024-01-01,N,1\n")
    assert err.code == "ragged_row" and err.details["row"] == 3
    assert "title" in str(err)


def test_trailing_separator_column_is_dropped():
    parsed = read_upload("trailing.csv", b"a,b,\n1,2,\n3,4,\n")
    assert list(parsed.frame.columns) == ["a", "b"]
    assert any("no name and no values" in w for w in parsed.warnings)


# ---------------------------------------------------------------------------
# inference details
# ---------------------------------------------------------------------------


def test_ambiguous_dates_are_flagged_and_confirmable():
    data = b"date,sales\n01/02/2024,5\n02/02/2024,6\n03/02/2024,7\n"
    parsed = read_upload("amb.csv", data)
    col = _col(parsed, "date")
    assert col.kind == "date" and col.ambiguous
    assert "day-first" in col.ambiguity and "month-first" in col.ambiguity and "confirm" in col.ambiguity
    assert col.ambiguity in parsed.warnings
    # tie -> day-first, said in the message
    assert (col.date_format, col.dayfirst) == ("%d/%m/%Y", True)
    assert parsed.typed()["date"].iloc[0] == pd.Timestamp("2024-02-01")

    us = col.confirm_dayfirst(False)
    assert (us.date_format, us.dayfirst, us.ambiguous, us.ambiguity) == ("%m/%d/%Y", False, False, None)
    schema = [us if c.name == "date" else c for c in parsed.schema]
    assert parsed.typed(schema)["date"].iloc[0] == pd.Timestamp("2024-01-02")


def test_ambiguous_dates_pick_the_reading_that_runs_in_order():
    # Month-first these are 11 Jan, 12 Jan, 1 Feb, 2 Feb; day-first they jump around.
    data = b"date,sales\n01/11/2024,1\n01/12/2024,2\n02/01/2024,3\n02/02/2024,4\n"
    col = _col(read_upload("us.csv", data), "date")
    assert col.ambiguous and col.dayfirst is False and col.date_format == "%m/%d/%Y"
    assert "read as month-first" in col.ambiguity


def test_day_above_twelve_decides_without_ambiguity():
    col = _col(read_upload("d.csv", b"d,v\n01/02/24,1\n13/02/24,2\n"), "d")
    assert (col.date_format, col.dayfirst, col.ambiguous) == ("%d/%m/%y", True, False)
    col = _col(read_upload("m.csv", b"d,v\n02/01/2024,1\n02/13/2024,2\n"), "d")
    assert (col.date_format, col.dayfirst, col.ambiguous) == ("%m/%d/%Y", False, False)


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2024-01-31 13:05:00", "2024-02-01 00:00:00"], "%Y-%m-%d %H:%M:%S"),
        (["2024-01-31", "2024-02-01 10:30"], "ISO8601"),
        (["31 Jan 2024", "1 Feb 2024"], "%d %b %Y"),
        (["Jan 31, 2024", "Feb 1, 2024"], "%b %d, %Y"),
        (["Jan-24", "Feb-24"], "%b-%y"),
        (["1/31/2024 1:05 PM", "2/1/2024 11:00 AM"], "%m/%d/%Y %I:%M %p"),
        (["2024-01", "2024-02"], "%Y-%m"),
    ],
)
def test_date_formats(values, fmt):
    data = ("when,v\n" + "".join(f'"{v}",1\n' for v in values)).encode()
    col = _col(read_upload("dates.csv", data), "when")
    assert (col.kind, col.date_format) == ("date", fmt)


def test_id_category_text_and_boolean_kinds():
    n = 60
    rows = [
        f"INV-{1000 + i},{'North' if i % 3 else 'South'},{'true' if i % 2 else 'false'},{i % 4},"
        f"Customer comment number {i} that is long enough to be free text and not a label at all"
        for i in range(n)
    ]
    data = ("invoice_no,region,paid,StoreID,comment\n" + "\n".join(rows)).encode()
    kinds = {c.name: c.kind for c in read_upload("kinds.csv", data).schema}
    assert kinds == {
        "invoice_no": "id",  # unique code-like values, even without an id-like name
        "region": "category",
        "paid": "boolean",
        "StoreID": "category",  # id-like name but only 4 values
        "comment": "text",
    }


def test_leading_zero_codes_stay_strings():
    data = b"zip,amount\n01234,1\n02345,2\n10001,3\n"
    parsed = read_upload("zips.csv", data)
    assert _col(parsed, "zip").kind in ("category", "id", "text")
    assert parsed.typed()["zip"].astype(str).tolist() == ["01234", "02345", "10001"]


def test_mostly_numeric_column_falls_back_to_text_with_row():
    rows = "".join(f"{i},{i}.5\n" for i in range(1, 56)) + "56,abc\n57,9\n"
    parsed = read_upload("prices.csv", ("n,price\n" + rows).encode())
    price = _col(parsed, "price")
    assert price.kind == "text"
    assert "'price'" in price.note and "row 57" in price.note and "'abc'" in price.note
    assert price.note in parsed.warnings


def test_empty_column_is_text_with_note():
    parsed = read_upload("e.csv", b"a,b\n1,\n2,\n")
    col = _col(parsed, "b")
    assert (col.kind, col.null_count) == ("text", 2) and "empty" in col.note


def test_missing_tokens():
    parsed = read_upload("na.csv", b"v,w\n1,x\nNA,y\n n/a ,z\nnull,x\n#N/A,y\n,z\n")
    v = _col(parsed, "v")
    assert (v.kind, v.null_count, v.n_unique) == ("integer", 5, 1)


# ---------------------------------------------------------------------------
# apply_schema with user-corrected types
# ---------------------------------------------------------------------------


def _prices_upload() -> ParsedUpload:
    rows = "".join(f"{i},{i}.5,{'A' if i % 2 else 'B'}\n" for i in range(1, 56)) + "56,abc,A\n57,9,B\n"
    return read_upload("prices.csv", ("n,price,grade\n" + rows).encode())


def test_apply_schema_reports_column_row_and_value():
    parsed = _prices_upload()
    schema = [c if c.name != "price" else ColumnSchema(name="price", kind="number") for c in parsed.schema]
    with pytest.raises(IngestError) as info:
        apply_schema(parsed.frame, schema, filename="prices.csv")
    err = info.value
    assert err.code == "type_mismatch"
    assert err.details == {
        "file": "prices.csv",
        "column": "price",
        "row": 57,  # data row 56 is file row 57: the header is row 1
        "value": "abc",
        "kind": "number",
        "bad_count": 1,
    }
    assert "'price'" in str(err) and "row 57" in str(err) and "'abc'" in str(err)


def test_apply_schema_invalid_missing_and_other_corrections():
    parsed = _prices_upload()
    schema = []
    for c in parsed.schema:
        if c.name == "price":
            c = ColumnSchema(name="price", kind="number", invalid="missing")
        elif c.name == "n":
            c = ColumnSchema(name="n", kind="text")
        elif c.name == "grade":
            c = ColumnSchema(name="grade", kind="text")
        schema.append(c)
    typed = apply_schema(parsed.frame, schema)
    assert typed["price"].isna().sum() == 1 and typed["price"].iloc[0] == 1.5
    assert str(typed["n"].dtype) == "string" and typed["n"].iloc[0] == "1"
    assert str(typed["grade"].dtype) == "string"


def test_apply_schema_integer_refuses_fractions():
    frame = pd.DataFrame({"qty": ["1", "2", "2.5"]})
    with pytest.raises(IngestError) as info:
        apply_schema(frame, [ColumnSchema(name="qty", kind="integer")], filename="q.csv")
    assert (info.value.details["row"], info.value.details["value"]) == (4, "2.5")
    typed = apply_schema(pd.DataFrame({"qty": ["1", "2.0", ""]}), [ColumnSchema(name="qty", kind="integer")])
    assert typed["qty"].tolist()[:2] == [1, 2] and typed["qty"].isna().iloc[2]


def test_apply_schema_date_without_format_and_bad_date():
    frame = pd.DataFrame({"d": ["2024-01-31", "2024-02-01", "31/02/2024"]})
    with pytest.raises(IngestError) as info:
        apply_schema(frame, [ColumnSchema(name="d", kind="date")], filename="d.csv")
    assert info.value.details["row"] == 4 and info.value.details["column"] == "d"
    ok = apply_schema(frame.iloc[:2], [ColumnSchema(name="d", kind="date")])
    assert ok["d"].tolist() == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-01")]


def test_apply_schema_rejects_mismatched_columns():
    frame = pd.DataFrame({"a": ["1"], "b": ["2"]})
    with pytest.raises(ValidationError) as info:
        apply_schema(frame, [ColumnSchema(name="a", kind="integer")])
    assert info.value.details["column"] == "b"
    with pytest.raises(ValidationError) as info:
        apply_schema(frame, [ColumnSchema(name="a", kind="integer"), ColumnSchema(name="c", kind="text")])
    assert info.value.details["column"] == "c"


def test_apply_schema_accepts_already_typed_frame():
    typed = pd.DataFrame({"x": [1.0, 2.0, np.nan], "d": pd.to_datetime(["2024-01-01", None, "2024-01-03"])})
    out = apply_schema(typed, [ColumnSchema(name="x", kind="integer"), ColumnSchema(name="d", kind="date")])
    assert out["x"].tolist()[:2] == [1, 2] and out["x"].isna().iloc[2]
    assert out["d"].iloc[2] == pd.Timestamp("2024-01-03") and pd.isna(out["d"].iloc[1])


# ---------------------------------------------------------------------------
# schema JSON
# ---------------------------------------------------------------------------


@needs_data
def test_schema_json_round_trip(superstore):
    parsed, _ = superstore
    text = json.dumps(schema_to_json(parsed.schema))
    back = schema_from_json(json.loads(text))
    assert back == parsed.schema
    assert schema_from_json(text) == parsed.schema
    assert schema_from_json(schema_to_json(parsed.schema)["columns"]) == parsed.schema


def test_schema_json_round_trip_ambiguous_column():
    parsed = read_upload("amb.csv", b"date,v\n01/02/2024,1\n")
    back = schema_from_json(json.dumps(schema_to_json(parsed.schema)))
    assert back == parsed.schema and back[0].ambiguous


def test_unknown_kind_names_field_and_allowed_set():
    with pytest.raises(ValidationError) as info:
        schema_from_json([{"name": "Sales", "kind": "money"}])
    err = info.value
    assert err.field == "kind"
    assert err.details["value"] == "money" and err.details["allowed"] == list(KINDS)
    assert "'money'" in str(err) and "number" in str(err) and "'Sales'" in str(err)
    with pytest.raises(ValidationError):
        ColumnSchema(name="Sales", kind="money")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"name": "a", "kind": "number", "colour": "red"}, "colour"),
        ({"kind": "number"}, "name"),
        ({"name": "a", "kind": "number", "decimal": ";"}, "decimal"),
        ({"name": "a", "kind": "number", "invalid": "ignore"}, "invalid"),
        ({"name": "a", "kind": "date", "dayfirst": "yes"}, "dayfirst"),
        ({"name": "a", "kind": "date", "date_format": "dd/mm/yyyy"}, "date_format"),
        ({"name": "a", "kind": "date", "date_format": "%d/%Q/%Y"}, "date_format"),
        ({"name": "", "kind": "text"}, "name"),
        ({"name": "a", "kind": "text", "null_count": -1}, "null_count"),
    ],
)
def test_schema_validation_errors(item, field):
    with pytest.raises(ValidationError) as info:
        schema_from_json([item])
    assert info.value.field == field


def test_edited_date_format_decides_dayfirst():
    # The Data sources page lets the user edit only the format text.
    [col] = schema_from_json([{"name": "d", "kind": "date", "date_format": "%m/%d/%Y", "dayfirst": True}])
    assert col.dayfirst is False
    typed = apply_schema(pd.DataFrame({"d": ["01/02/2024"]}), [col])
    assert typed["d"].iloc[0] == pd.Timestamp("2024-01-02")


def test_schema_rejects_duplicates_and_bad_version():
    with pytest.raises(ValidationError):
        schema_from_json([{"name": "a", "kind": "text"}, {"name": "a", "kind": "number"}])
    with pytest.raises(ValidationError) as info:
        schema_from_json({"version": 99, "columns": []})
    assert info.value.field == "version"


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def test_empty_files():
    assert _err("empty.csv", b"").code == "empty_file"
    assert _err("blank.csv", b"  \r\n\t\n").code == "empty_file"
    assert _err("bom.csv", b"\xef\xbb\xbf\n").code == "empty_file"
    assert _err("header.csv", b"date,sales\n").code == "empty_file"


def test_binary_garbage_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    err = _err("photo.csv", png)
    assert err.code == "not_text" and "PNG" in str(err)
    assert _err("zipped.csv", b"PK\x03\x04rest").code == "not_text"
    assert _err("nul.csv", b"a,b\n1,\x002\n").code == "not_text"


def test_undecodable_text_is_refused_with_row():
    data = b"a,b\n1,2\n3,\x81\x8d\x90\x9d\n"  # bytes undefined in cp1252 and invalid in UTF-8
    err = _err("weird.csv", data)
    assert err.code == "bad_encoding"
    assert err.details["row"] == 3 and err.details["byte"] == "0x81"
    assert "UTF-8" in str(err)


def test_no_header_row():
    err = _err("noheader.csv", b"1949-01-01,112\n1949-02-01,118\n")
    assert err.code == "no_header" and err.details["row"] == 1
    assert "header" in str(err)
    # Years as column names are a legitimate (wide) header.
    assert read_upload("wide.csv", b"2023,2024\n5,6\n").row_count == 1


def test_file_over_size_limit(monkeypatch):
    data = b"a,b\n" + b"1,2\n" * 1000
    err = _err("big.csv", data, max_bytes=1024)
    assert err.code == "file_too_large"
    assert err.details["size_bytes"] == len(data) and err.details["limit_bytes"] == 1024
    assert "MB" in str(err) and "AIHUB_MAX_UPLOAD_MB" in str(err)

    monkeypatch.setenv("AIHUB_MAX_UPLOAD_MB", "0.001")  # 1,048 bytes
    assert _err("big.csv", data).details["limit_bytes"] == 1048
    monkeypatch.setenv("AIHUB_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ValidationError) as info:
        read_upload("big.csv", data)
    assert info.value.field == "AIHUB_MAX_UPLOAD_MB"


def test_ragged_rows():
    err = _err("ragged.csv", b"a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n11,12\n")
    assert err.code == "ragged_row"
    assert (err.details["row"], err.details["expected"], err.details["found"]) == (3, 3, 4)
    assert err.details["bad_rows"] == 2
    assert "Row 3" in str(err) and "4 fields" in str(err) and "header has 3" in str(err)
    short = _err("short.csv", b"a,b,c\n1,2\n")
    assert (short.details["row"], short.details["found"]) == (2, 2)


def test_unclosed_quote():
    err = _err("quote.csv", b'a,b\n1,"oops\n2,3\n')
    assert err.code == "bad_csv" and err.details["row"] == 2


@pytest.mark.parametrize("filename", ["data.xls", "data.parquet", "data", "report.pdf"])
def test_unsupported_extension_lists_allowed(filename):
    err = _err(filename, b"a,b\n1,2\n")
    assert err.code == "unsupported_format"
    assert ".csv" in str(err) and ".xlsx" in str(err) and ".json" in str(err)
    assert ".csv" in err.details["allowed"]


def test_duplicate_and_blank_column_names():
    err = _err("dup.csv", b"sales,region,sales\n1,N,2\n")
    assert err.code == "duplicate_column" and err.details["column"] == "sales"
    assert err.details["positions"] == [1, 3]
    err = _err("blank.csv", b"sales,,region\n1,2,N\n")
    assert err.code == "blank_column_name" and err.details["column"] == 2


def test_bad_arguments():
    with pytest.raises(ValidationError):
        read_upload("a.csv", "text, not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        read_upload("a.csv", b"a\n1\n", max_bytes=0)
    with pytest.raises(ValidationError) as info:
        read_upload("a.csv", b"a\n1\n", sheet="Sheet1")
    assert info.value.field == "sheet"


def test_not_an_excel_workbook():
    err = _err("fake.xlsx", b"a,b\n1,2\n")
    assert err.code == "bad_excel" and ".csv" in str(err)


def test_apply_schema_all_missing_columns_and_json_schema():
    frame = pd.DataFrame({"c": ["", " ", "NA"], "n": ["", "", ""], "t": ["", "", ""]})
    schema_json = [
        {"name": "c", "kind": "category"},
        {"name": "n", "kind": "number"},
        {"name": "t", "kind": "text"},
    ]
    typed = apply_schema(frame, schema_json)
    assert typed["c"].isna().all() and typed["n"].isna().all() and typed["t"].isna().all()
    assert isinstance(typed["c"].dtype, pd.CategoricalDtype)


# ---------------------------------------------------------------------------
# files as people export them (issues 9 and 12)
# ---------------------------------------------------------------------------


def test_a_pandas_row_index_column_is_left_out_and_the_preview_says_so():
    data = shared_file("tables", "loan_approval.csv").read_bytes()
    assert data.startswith(b",Loan_ID,")
    parsed = read_upload("loan_approval.csv", data)
    assert parsed.frame.columns[0] == "Loan_ID" and parsed.row_count == 491
    assert any("row index" in w and "left out" in w for w in parsed.warnings)
    # A nameless first column that is not 0, 1, 2, ... is still refused.
    with pytest.raises(IngestError) as err:
        read_upload("x.csv", b",a\n5,1\n7,2\n")
    assert err.value.code == "blank_column_name"


def test_the_streaming_reader_leaves_out_a_row_index_as_read_upload_does():
    """Batch prediction reads files with iter_table_chunks: the same file must not be refused there."""
    data = shared_file("tables", "loan_approval.csv").read_bytes()
    for source in (data, io.BytesIO(data)):
        chunks = list(iter_table_chunks("loan_approval.csv", source, chunk_rows=100))
        assert [len(c) for c, _ in chunks] == [100, 100, 100, 100, 91]
        assert all(list(c.columns) == list(read_upload("l.csv", data).frame.columns) for c, _ in chunks)
    for bad in (b",a\n5,1\n7,2\n", b",a\n0,1\n2,2\n"):  # not 0, 1, 2, ...: data without a name
        with pytest.raises(IngestError) as err:
            list(iter_table_chunks("x.csv", io.BytesIO(bad)))
        assert err.value.code == "blank_column_name"


def test_none_stays_a_category_unless_the_user_says_it_means_missing():
    rows = ["other_parties,amount"] + [f"{'none' if i % 10 else 'guarantor'},{i}" for i in range(50)]
    rows[3] = "co-applicant,NA"
    parsed = read_upload("credit.csv", "\n".join(rows).encode())
    parties, amount = parsed.schema
    assert parties.kind == "category" and parties.missing_tokens == [] and parties.null_count == 0
    assert parties.token_counts == {"none": 44} and parsed.missing_tokens == {"other_parties": {"none": 44},
                                                                              "amount": {"NA": 1}}
    assert amount.kind == "integer" and amount.missing_tokens == ["na"] and amount.null_count == 1
    typed = parsed.typed()
    assert (typed["other_parties"] == "none").sum() == 44 and typed["amount"].isna().sum() == 1
    confirmed = [parties.treat_tokens_as_missing(True), amount]
    assert parsed.typed(confirmed)["other_parties"].isna().sum() == 44
    again = schema_from_json(schema_to_json(confirmed))
    assert again[0].missing_tokens == ["none"] and again[0].token_counts == {"none": 44}


def test_schemas_saved_before_missing_tokens_replay_as_they_did():
    legacy = {"version": 1, "columns": [{"name": "x", "kind": "category"}]}
    schema = schema_from_json(legacy)
    assert schema[0].missing_tokens is None
    frame = pd.DataFrame({"x": ["a", "none", "NA", "-"]})
    assert apply_schema(frame, schema, filename="old.csv")["x"].isna().tolist() == [False, True, True, False]
