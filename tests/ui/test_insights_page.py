"""The Insights page through Streamlit's AppTest on the real database (local server only: it is slow)."""

from __future__ import annotations

import pytest

from aihub import auth
from aihub.services import datasets
from aihub.services import insights as insights_service
from tests.conftest import PASSWORD, new_tenant
from tests.fixtures import _app, _login, _texts

PAGE = "app_pages/insights.py"


@pytest.fixture
def admin(server_database):
    return new_tenant("inspage")


def _click(at, key: str):
    at.button(key=key).click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_generate_read_act_dismiss_and_vote(admin, superstore_bytes):
    datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert "Insights" in [t.value for t in at.title]
    assert "No insights match" in _texts(at)

    # Generate now for the sales category
    at.multiselect(key="gen_categories").set_value(["sales"])
    _click(at, "gen_run")
    items = insights_service.list_insights(admin)
    assert len(items) >= 3 and {i.category for i in items} == {"sales"}
    assert any("new insights" in s.value for s in at.success), _texts(at)
    while any(b.key == "ins_more" for b in at.button):  # every insight is reachable, five cards at a time
        _click(at, "ins_more")
    texts = _texts(at)
    for rank, ins in enumerate(items, 1):
        assert f"#### {rank}. {ins.title}" in texts
        assert ins.narrative in texts
        for action in ins.recommended_actions:
            assert f"- {action}" in texts
    assert sum(1 for c in at.get("plotly_chart") if c.proto.spec) >= len(items), "an evidence chart per insight"
    # Each card's figures: a Markdown table beside the chart, every quoted number in a row of its own.
    tables = [m.value for m in at.markdown if m.value.startswith("| figure | value |")]
    rows = {line.rsplit("|", 2)[-2].strip().replace("\\", "") for line in tables[0].splitlines()[2:]
            if line.startswith("| ")}
    numbers = {v for v in items[0].figure_text.values() if any(c.isdigit() for c in v)}
    assert len(tables) == len(items) and rows == numbers and numbers

    # Acknowledge, then implement; votes; dismissal needs a reason
    first, second = items[0], items[1]
    _click(at, f"ins_acknowledged_{first.id}")
    assert insights_service.get_insight(admin, first.id).status == "acknowledged"
    _click(at, f"ins_notuseful_{first.id}")
    assert insights_service.get_insight(admin, first.id).not_useful == 1
    _click(at, f"ins_useful_{first.id}")  # changes the vote
    got = insights_service.get_insight(admin, first.id)
    assert (got.useful, got.not_useful) == (1, 0)
    _click(at, f"ins_implemented_{first.id}")
    assert insights_service.get_insight(admin, first.id).status == "implemented"

    _click(at, f"ins_dismiss_{second.id}")
    assert any("Say why you dismiss" in e.value for e in at.error)
    assert insights_service.get_insight(admin, second.id).status == "new"
    at.text_input(key=f"ins_reason_{second.id}").input("Seasonal, we plan for it")
    _click(at, f"ins_dismiss_{second.id}")
    got = insights_service.get_insight(admin, second.id)
    assert (got.status, got.dismiss_reason) == ("dismissed", "Seasonal, we plan for it")
    open_titles = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert not any(first.title in t or second.title in t for t in open_titles), "closed insights leave the list"

    at.selectbox(key="f_status").select("Dismissed")
    at.run()
    texts = _texts(at)
    assert f"#### 1. {second.title}" in texts and "Dismissed because: Seasonal, we plan for it" in texts
    _click(at, f"ins_reopen_{second.id}")
    assert insights_service.get_insight(admin, second.id).status == "new"

    # Filters: a priority no insight reaches
    at.selectbox(key="f_status").select("All")
    at.selectbox(key="f_priority").select("critical")
    at.run()
    assert "No insights match" in _texts(at)


def test_viewer_reads_but_cannot_generate_or_act(admin, superstore_bytes):
    datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    (ins, *_) = insights_service.generate(admin, types=["drivers"])
    auth.add_user(admin, f"viewer-{admin.tenant_id}@example.com", "Vic", "viewer", PASSWORD)
    at = _login(_app(), f"viewer-{admin.tenant_id}@example.com", PASSWORD)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert f"#### 1. {ins.title}" in _texts(at)
    keys = {b.key for b in at.button}
    assert "gen_run" not in keys and f"ins_acknowledged_{ins.id}" not in keys and f"ins_useful_{ins.id}" not in keys


def test_dataset_roles_can_be_changed_on_the_page(admin, superstore_bytes):
    saved = datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    dataset_id = saved.version.dataset_id
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(PAGE).run()
    assert "**Superstore** · detected" in _texts(at)
    at.multiselect(key=f"roles_dimensions_{dataset_id}").set_value(["Region"])
    _click(at, f"roles_save_{dataset_id}")
    (rec,) = insights_service.dataset_roles(admin)
    assert rec.stored and rec.roles["dimensions"] == ["Region"] and rec.roles["amount"] == "Sales"
    assert "**Superstore** · your choice" in _texts(at)
    _click(at, f"roles_reset_{dataset_id}")
    assert not insights_service.dataset_roles(admin)[0].stored
