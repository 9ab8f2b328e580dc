"""Issue 10, upload items of the low list, from the service and the Data sources screen (Streamlit's AppTest).

Before: ``nested.json`` whose records sit under two lists (``data.items`` and ``data.tags``) was refused with no way
to choose; the datasets service had no ``records_path``; the same bytes read at another path counted as a duplicate.
A date column in several formats and a number column holding ``inf`` are kept as text with a note naming the rows,
and a cell past the limit gets its own message (not "an unclosed quote"); the screen shows each of these.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from aihub.errors import IngestError
from aihub.services import datasets
from tests.conftest import PASSWORD, REPO, new_tenant

NESTED = json.dumps({"meta": {"page": 1}, "data": {
    "items": [{"id": 1, "amount": "10.5"}, {"id": 2, "amount": "3"}],
    "tags": [{"tag": "x", "weight": 1}, {"tag": "y", "weight": 2}, {"tag": "z", "weight": 3}]}}).encode()


def test_the_datasets_service_reads_the_chosen_list_and_keeps_it(tenant):
    with pytest.raises(IngestError) as err:
        datasets.preview_upload(tenant, "nested.json", NESTED)
    assert err.value.field == "records_path" and err.value.details["allowed"] == ["data.items", "data.tags"]
    assert datasets.preview_upload(tenant, "nested.json", NESTED, records_path="data.items").row_count == 2

    items = datasets.save_upload(tenant, "items", "nested.json", NESTED, records_path="data.items")
    tags = datasets.save_upload(tenant, "tags", "nested.json", NESTED, records_path="data.tags")
    assert not tags.duplicate, "the same bytes read at another path are another table"
    assert (items.version.row_count, tags.version.row_count) == (2, 3)
    again = datasets.save_upload(tenant, "tags", "nested.json", NESTED, records_path="data.tags")
    assert again.duplicate and again.version.id == tags.version.id
    assert list(datasets.load_frame(tenant, tags.version.id).columns) == ["tag", "weight"]

    # Fixing the types of the 'tags' version re-reads the list it was saved from.
    schema = [dict(c) for c in tags.version.column_schema]
    schema[1]["kind"] = "text"
    retyped = datasets.edit_schema(tenant, tags.version.id, schema)
    assert not retyped.duplicate and retyped.version.row_count == 3
    assert datasets.load_frame(tenant, retyped.version.id)["weight"].tolist() == ["1", "2", "3"]


@pytest.fixture
def admin(server_database):
    return new_tenant("upscreen")


def _page(admin) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(admin.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/data_sources.py").run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest, *kinds: str) -> str:
    return "\n".join(str(e.value) for kind in kinds or ("success", "info", "error", "warning")
                     for e in getattr(at, kind))


def test_the_upload_screen_asks_which_list_and_saves_it(admin):
    at = _page(admin)
    at.file_uploader(key="upload_file").set_value(("nested.json", NESTED, "application/json"))
    at.run()
    assert not at.exception, at.exception
    assert "Lists of records in nested.json: data.items, data.tags" in _texts(at, "info")
    assert not at.error, _texts(at, "error")
    box = next(s for s in at.selectbox if s.label.startswith("This JSON file holds several lists"))
    assert box.options == ["data.items", "data.tags"]
    box.select("data.tags").run()
    assert "Read **nested.json**: 3 rows, 2 columns" in _texts(at, "success")
    at.button(key="save_dataset").click().run()
    assert "Saved **nested** version 1: 3 rows." in _texts(at, "success")
    [ds] = datasets.list_datasets(admin)
    assert list(datasets.load_frame(admin, datasets.list_versions(admin, ds.id)[0].id).columns) == ["tag", "weight"]


def test_the_upload_screen_flags_rows_and_names_a_too_long_cell(admin):
    at = _page(admin)
    lines = ["day,amount"] + [f"2024-01-{d:02d},{d * 1.5}" for d in range(1, 21)]
    lines[4] = "01/04/2024,inf"  # file row 5
    lines[9] = "Jan 9 2024,NaN"  # file row 10
    at.file_uploader(key="upload_file").set_value(("mixed.csv", "\n".join(lines).encode(), "text/csv"))
    at.run()
    warnings = _texts(at, "warning")
    assert "rows 5, 10" in warnings and "row 5 holds 'inf'" in warnings

    at.file_uploader(key="upload_file").set_value(
        ("notes.csv", b"id,note\n1," + b"x" * 11_000_000 + b"\n2,short\n", "text/csv"))
    at.run()
    errors = _texts(at, "error")
    assert errors.startswith("Row 2 of notes.csv has a cell longer than")  # the size first, not "an unclosed quote"
