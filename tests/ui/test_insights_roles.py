"""Insights screen under AppTest (issue 9): confirm the roles of any table, then see its insights."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from aihub.services import datasets
from aihub.services import insights as insights_service
from tests.conftest import PASSWORD, REPO, new_tenant
from tests.fixtures import credit_csv


@pytest.fixture
def admin(server_database):
    return new_tenant("insroles")


def _page(admin) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.text_input[0].input(admin.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/insights.py").run()
    assert not at.exception, at.exception
    return at


def test_roles_of_a_plain_table_are_confirmed_and_read(admin):
    data, _ = credit_csv()
    dataset_id = datasets.save_upload(admin, "credit", "credit.csv", data).version.dataset_id
    at = _page(admin)
    assert at.selectbox(key=f"troles_outcome_{dataset_id}").value == "class"
    assert any("proposed roles, not confirmed yet" in c.value for c in at.caption)
    at.text_input(key=f"troles_positive_{dataset_id}").input("bad")
    at.button(key=f"troles_save_{dataset_id}").click()
    at.run()
    assert not at.exception, at.exception
    view = insights_service.table_roles(admin, dataset_id)
    assert view.confirmed and view.roles.outcome == "class" and view.roles.positive == "bad"
    assert any("roles you confirmed" in c.value for c in at.caption)

    at.button(key="gen_run").click()
    at.run()
    assert not at.exception, at.exception
    titles = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert any("driver of class = bad" in t for t in titles), titles


def test_the_list_draws_five_cards_then_more_on_demand(admin):
    from datetime import UTC, datetime, timedelta

    from aihub.db import insight_store
    from aihub.db.session import tenant_session

    now = datetime.now(UTC)
    rows = [{"type": "trend", "category": "sales", "priority": "medium", "score": 60.0 - i, "confidence": 0.9,
             "title": f"Finding {i}", "narrative": f"Finding {i} in words.", "recommended_actions": [],
             "evidence": [], "figures": {}, "subject": f"s{i}", "period": "2026-11", "direction": "up",
             "magnitude": None, "currency": None, "method": "test rows", "valid_from": now,
             "valid_until": now + timedelta(days=7), "fingerprint": f"fp-{i}"} for i in range(13)]
    with tenant_session(admin.tenant_id) as s:
        insight_store.store_insights(s, tenant_id=admin.tenant_id, insights=rows, user_id=admin.user_id, now=now)
    at = _page(admin)
    cards = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert cards == [f"#### {i + 1}. Finding {i}" for i in range(5)]
    for shown in (10, 13):
        assert at.button(key="ins_more").label == f"Show {min(5, 13 - len(cards))} more of {13 - len(cards)}"
        at.button(key="ins_more").click()
        at.run()
        cards = [m.value for m in at.markdown if m.value.startswith("#### ")]
        assert cards == [f"#### {i + 1}. Finding {i}" for i in range(shown)]
    assert "ins_more" not in {b.key for b in at.button}
