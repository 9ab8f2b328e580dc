"""Monitors, Anomalies and Risk scores screens through Streamlit's AppTest on the real database (issues 9 and 13):
state that used to go stale, non-revenue metrics in the form, schedules, alerts and record-monitor decisions."""

from __future__ import annotations

import json

import pytest

from aihub import auth
from aihub.services import anomalies as anomaly_svc
from aihub.services import datasets
from aihub.services import monitors as monitor_svc
from aihub.services import record_monitors as rm
from tests.conftest import PASSWORD, new_tenant, shared_file
from tests.fixtures import REGION_MONITOR, _app, _login, _texts, regional_csv

ANOMALIES, MONITORS, RISK = "app_pages/anomalies.py", "app_pages/monitors.py", "app_pages/record_monitors.py"


@pytest.fixture
def admin(server_database):
    return new_tenant("monscreens")


def _ok(at):
    at.run()
    assert not at.exception, at.exception
    return at


def test_guided_and_json_keep_every_field_and_the_form_takes_any_numeric_column(admin):
    datasets.save_upload(admin, "Regions", "regions.csv", regional_csv())
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(MONITORS).run()
    at.radio(key="mon_view").set_value("New monitor")
    _ok(at)
    at.text_input(key="nm_name").input("Median revenue by region")
    at.selectbox(key="nm_agg_0").set_value("median")
    at.selectbox(key="nm_split").select("Region")
    at.number_input(key="nm_top_n").set_value(2)
    _ok(at)
    at.radio(key="nm_mode").set_value("JSON")
    _ok(at)
    shown = json.loads(at.text_area(key="nm_json").value)
    assert shown["metrics"] == [{"agg": "median", "unit_value": None, "column": "revenue"}]
    assert shown["dimensions"] == ["Region"] and shown["split_top_n"] == 2
    at.radio(key="nm_mode").set_value("Guided form")
    _ok(at)
    # nothing was wiped by the round trip
    assert at.text_input(key="nm_name").value == "Median revenue by region"
    assert at.selectbox(key="nm_agg_0").value == "median" and at.selectbox(key="nm_split").value == "Region"
    assert at.number_input(key="nm_top_n").value == 2
    at.button(key="nm_create").click()
    _ok(at)
    (mon,) = monitor_svc.list_monitors(admin)
    assert mon.metrics == ["median_revenue"] and mon.config["split_top_n"] == 2
    found = anomaly_svc.list_anomalies(admin, statuses=[])
    assert found and all(a.impact is None for a in found)  # no unit value: no money impact


def test_triage_state_does_not_leak_between_anomalies_and_the_detail_follows_the_filter(admin):
    email = f"ana-{admin.tenant_id}@example.com"
    info = auth.add_user(admin, email, "Ana Analyst", "analyst", PASSWORD)
    saved = datasets.save_upload(admin, "Regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(admin, REGION_MONITOR, dataset_id=saved.version.dataset_id)
    monitor_svc.run_monitor(admin, mon.id)
    first, second = anomaly_svc.list_anomalies(admin)[:2]
    anomaly_svc.assign(admin, first.id, info.id)
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(ANOMALIES).run()
    at.selectbox(key="anomaly_pick").set_value(first.id)
    _ok(at)
    assert at.selectbox(key="tr_assignee").value == info.id
    at.selectbox(key="anomaly_pick").set_value(second.id)
    _ok(at)
    assert at.selectbox(key="tr_assignee").value is None  # the second anomaly's own assignee, not the first's
    # resolving shows one note field, a false positive one reason field
    at.selectbox(key="tr_status").set_value("resolved")
    _ok(at)
    fields = {w.key for w in [*at.text_input, *at.text_area]} & {"tr_note", "tr_resolution", "tr_reason"}
    assert fields == {"tr_resolution"}
    at.selectbox(key="tr_status").set_value("false_positive")
    _ok(at)
    fields = {w.key for w in [*at.text_input, *at.text_area]} & {"tr_note", "tr_resolution", "tr_reason"}
    assert fields == {"tr_reason"}
    # a filter that hides the open anomaly moves the detail to one it shows
    other = next(s for s in ("critical", "high", "medium", "low")
                 if s != second.severity and any(a.severity == s for a in anomaly_svc.list_anomalies(admin)))
    at.multiselect(key="f_severity").set_value([other])
    _ok(at)
    shown = at.selectbox(key="anomaly_pick").value
    assert shown != second.id and anomaly_svc.get_anomaly(admin, shown).severity == other


def test_the_monitors_screen_schedules_alerts_pauses_and_keeps_its_view(admin, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    saved = datasets.save_upload(admin, "Regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(admin, REGION_MONITOR, dataset_id=saved.version.dataset_id)
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(MONITORS).run()
    at.selectbox(key="sc_every").set_value("daily")
    at.text_input(key="sc_at").input("07:30")
    at.button[[b.label for b in at.button].index("Save schedule")].click()
    _ok(at)
    assert "Schedule saved: Every day at 07:30 (UTC)" in _texts(at)
    assert monitor_svc.get_monitor(admin, mon.id).next_run_at is not None
    # a webhook outside the allow-list is refused with the reason, and nothing is saved
    at.text_input(key="al_url").input("http://169.254.169.254/hook")
    at.text_input(key="al_secret").input("a-long-enough-secret-123")
    at.button[[b.label for b in at.button].index("Save alerting")].click()
    _ok(at)
    assert any("allow-list" in e.value for e in at.error), _texts(at)
    assert monitor_svc.get_monitor(admin, mon.id).alerting == {}
    at.text_input(key="al_url").input("")
    at.text_input(key="al_email").input("oncall@example.com")
    at.button[[b.label for b in at.button].index("Save alerting")].click()
    _ok(at)
    assert monitor_svc.get_monitor(admin, mon.id).alerting["email"] == ["oncall@example.com"]
    at.button(key="mon_enable").click()
    _ok(at)
    assert not monitor_svc.get_monitor(admin, mon.id).enabled and "Paused" in _texts(at)
    assert at.radio(key="mon_view").value == "Monitors"  # the view stays where the action was


def test_risk_scores_screen_creates_lists_and_takes_decisions(admin):
    import pandas as pd

    orders = pd.read_csv(shared_file("superstore", "superstore_orders.csv"), encoding="utf-8-sig").head(1500)
    datasets.save_upload(admin, "orders", "orders.csv", orders.to_csv(index=False).encode())
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(RISK).run()
    at.radio(key="rc_view").set_value("New record monitor")
    _ok(at)
    at.text_input(key="rc_name").input("Order risk")
    at.selectbox(key="rc_id_col").set_value("Row ID")
    at.selectbox(key="rc_entity_col").set_value("Customer ID")
    at.multiselect(key="rc_exclude").set_value(["Postal Code"])
    at.button(key="rc_create").click()
    _ok(at)
    assert "Scored 1,500 rows of **Order risk**" in _texts(at), _texts(at)
    at.radio(key="rc_view").set_value("Record monitors")
    _ok(at)
    (rec,) = rm.list_record_monitors(admin)
    top = rm.list_scores(admin, rec.id, limit=2)
    at.multiselect(key="rc_rows").set_value([top[0].row_key])
    at.button(key="rc_confirm").click()
    _ok(at)
    at.multiselect(key="rc_rows").set_value([top[1].row_key])
    at.button(key="rc_dismiss").click()
    _ok(at)
    decided = {r.row_key: r.label for r in rm.list_scores(admin, rec.id, limit=2)}
    assert decided == {top[0].row_key: "confirmed", top[1].row_key: "dismissed"}
    table = at.dataframe[0].value
    assert table["row"].tolist()[:2] == [top[0].row_key, top[1].row_key]
    assert table["decision"].tolist()[:2] == ["confirmed", "dismissed"]
    assert table["why"].iloc[0] == "; ".join(top[0].reasons) and top[0].reasons  # the reasons in words
