"""Data sources screen under AppTest: a new file gets its own name, and column types are fixed after saving."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from aihub.services import datasets
from tests.conftest import PASSWORD, REPO, new_tenant


def _credit_csv(n: int = 80) -> bytes:
    """A credit-risk-like table whose commonest other_parties value is the category 'none'."""
    rows = ["other_parties,amount,Response,opened"]
    for i in range(n):
        party = "none" if i % 10 else ("guarantor" if i % 20 else "co applicant")
        rows.append(f"{party},{100 + 7 * i},{i % 3 == 0:d},2024-{1 + i % 12:02d}-{1 + i % 28:02d}")
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def admin(server_database):
    return new_tenant("dsui")


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


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("success", "info", "error", "warning") for e in getattr(at, kind))


def test_a_new_file_gets_its_own_name_and_none_stays_a_value(admin):
    at = _page(admin)
    at.file_uploader(key="upload_file").set_value(("credit.csv", _credit_csv(), "text/csv"))
    at.run()
    assert at.text_input(key="dataset_name").value == "credit"
    box = next(c for c in at.checkbox if c.label.startswith("In 'other_parties', 'none' (72 cells)"))
    assert box.value is False
    at.file_uploader(key="upload_file").set_value(("credit_2024.csv", _credit_csv(40), "text/csv"))
    at.run()
    assert at.text_input(key="dataset_name").value == "credit_2024"
    at.button(key="save_dataset").click()
    at.run()
    assert "Saved **credit_2024** version 1: 40 rows." in _texts(at)


def test_types_are_fixed_after_saving_from_the_screen(admin):
    first = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv()).version
    at = _page(admin)
    key = f"retype_{first.id}"
    at.toggle(key=f"retype_open_{first.id}").set_value(True).run()
    at.button(key=f"{key}_save").click()
    at.run()
    assert "already has these column types; nothing changed" in _texts(at)
    at.checkbox(key=f"{key}_missing_other_parties").check()
    at.button(key=f"{key}_save").click()
    at.run()
    assert not at.exception, at.exception
    assert "Saved **credit** version 2 with the new column types: 80 rows." in _texts(at)
    v2 = datasets.list_versions(admin, first.dataset_id)[0]
    assert v2.sha256 == first.sha256 and datasets.load_frame(admin, v2.id)["other_parties"].isna().sum() == 72
