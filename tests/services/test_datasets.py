"""Dataset service: fixing column types after saving (issue 9), and the word 'none' kept as a category."""

from __future__ import annotations

import pandas as pd
import pytest

from aihub import auth
from aihub.errors import IngestError, NotFound, PermissionDenied, ValidationError
from aihub.services import datasets
from tests.conftest import PASSWORD, new_tenant


def _credit_csv(n: int = 80) -> bytes:
    """A credit-risk-like table: 'none' is the commonest category of other_parties; Response is 0/1."""
    rows = ["other_parties,amount,Response,opened"]
    for i in range(n):
        party = "none" if i % 10 else ("guarantor" if i % 20 else "co applicant")
        rows.append(f"{party},{100 + 7 * i},{i % 3 == 0:d},2024-{1 + i % 12:02d}-{1 + i % 28:02d}")
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def admin(server_database):
    return new_tenant("datasets")


def _kinds(schema: list[dict]) -> dict[str, str]:
    return {c["name"]: c["kind"] for c in schema}


def test_none_is_a_category_value_by_default(admin):
    saved = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv())
    frame = datasets.load_frame(admin, saved.version.id)
    assert _kinds(saved.version.column_schema)["other_parties"] == "category"
    assert (frame["other_parties"] == "none").sum() == 72 and frame["other_parties"].isna().sum() == 0


def test_column_types_are_fixed_after_saving_as_a_new_version_of_the_same_bytes(admin):
    first = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv()).version
    assert _kinds(first.column_schema)["Response"] in ("integer", "boolean")
    schema = [dict(c) for c in first.column_schema]
    for c in schema:
        if c["name"] == "Response":
            c["kind"] = "category"
        if c["name"] == "other_parties":
            c["missing_tokens"] = ["none"]
    result = datasets.edit_schema(admin, first.id, schema)
    v2 = result.version
    assert not result.duplicate and v2.version == 2 and v2.dataset_id == first.dataset_id
    assert v2.sha256 == first.sha256 and v2.row_count == first.row_count
    assert _kinds(v2.column_schema)["Response"] == "category"
    new, old = datasets.load_frame(admin, v2.id), datasets.load_frame(admin, first.id)
    assert set(new["Response"].dropna().astype(str)) == {"0", "1"} and not pd.api.types.is_numeric_dtype(new["Response"])
    assert new["other_parties"].isna().sum() == 72 and old["other_parties"].isna().sum() == 0  # v1 untouched
    assert [v.version for v in datasets.list_versions(admin, first.dataset_id)] == [2, 1]

    again = datasets.edit_schema(admin, v2.id, v2.column_schema)
    assert again.duplicate and again.version.id == v2.id
    assert len(datasets.list_versions(admin, first.dataset_id)) == 2


def test_reuploading_the_same_bytes_with_other_types_says_so(admin):
    first = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv()).version
    same = datasets.save_upload(admin, "credit again", "credit.csv", _credit_csv(), schema=first.column_schema)
    assert same.duplicate and not same.types_differ
    schema = [dict(c, kind="text") if c["name"] == "amount" else dict(c) for c in first.column_schema]
    other = datasets.save_upload(admin, "credit again", "credit.csv", _credit_csv(), schema=schema)
    assert other.duplicate and other.types_differ and other.version.id == first.id
    assert datasets.edit_schema(admin, other.version.id, schema).version.version == 2


def test_a_type_that_does_not_fit_names_the_column_and_stores_nothing(admin):
    first = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv()).version
    schema = [dict(c, kind="number", invalid="raise") if c["name"] == "other_parties" else dict(c)
              for c in first.column_schema]
    with pytest.raises(IngestError) as err:
        datasets.edit_schema(admin, first.id, schema)
    assert "other_parties" in str(err.value)
    assert len(datasets.list_versions(admin, first.dataset_id)) == 1
    with pytest.raises(ValidationError) as bad:
        datasets.edit_schema(admin, first.id, first.column_schema[:2])
    assert bad.value.field == "schema" and "other_parties, amount, Response, opened" in str(bad.value)


def test_editing_types_needs_create_and_stays_in_the_tenant(admin):
    first = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv()).version
    auth.add_user(admin, f"viewer-{admin.tenant_id}@datasets.example.com", "Viewer", "viewer", PASSWORD)
    viewer = auth.login(f"viewer-{admin.tenant_id}@datasets.example.com", PASSWORD, client="test")[0]
    with pytest.raises(PermissionDenied):
        datasets.edit_schema(viewer, first.id, first.column_schema)
    other = new_tenant("other")
    with pytest.raises(NotFound):
        datasets.edit_schema(other, first.id, first.column_schema)
