"""No screen shows a traceback (issue 9): an unforeseen error shows a short message with a reference id, the
traceback goes to the log; foreseen errors read as sentences."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from aihub.services import insights
from app_pages._common import message
from tests.conftest import PASSWORD, REPO, new_tenant


@pytest.fixture
def admin(server_database):
    return new_tenant("errors")


def test_an_unforeseen_error_shows_a_reference_not_a_traceback(admin, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in a service")

    monkeypatch.setattr(insights, "list_insights", broken)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(admin.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    with caplog.at_level(logging.ERROR, logger="aihub.screens"):
        at.run()
    assert not at.exception, "no traceback on screen"
    (shown,) = [e.value for e in at.error if "reference" in e.value]
    ref = shown.split("reference **")[1].split("**")[0]
    assert "boom" not in shown and len(ref) == 8
    (record,) = [r for r in caplog.records if ref in r.getMessage()]
    assert "boom in a service" in str(record.exc_info[1])


def test_messages_read_as_sentences():
    assert message(ValueError("input must be a table")) == "Input must be a table"
    assert message("Already a sentence.") == "Already a sentence."
    assert message("") == ""


def test_large_numbers_are_shown_compactly_by_the_one_rule():
    from aihub.insights.formatting import format_compact
    from app_pages._common import compact

    assert compact(138_459_571.23) == "138.5 M" == format_compact(138_459_571.23)  # was cut off as "138,459,571…"
    assert compact(46_090_211.02) == "46.1 M" and compact(31) == "31" and compact(None) == "—"
    assert compact(1234.4, "ms") == "1,234 ms"
