"""The Anomalies page through Streamlit's AppTest on the real database (local server only: it is slow)."""

from __future__ import annotations

import json

import pytest

from aihub import auth
from aihub.services import anomalies as anomaly_svc
from aihub.services import datasets
from aihub.services import monitors as monitor_svc
from tests.conftest import PASSWORD, new_tenant
from tests.fixtures import _app, _login, _texts, regional_csv

PAGE = "app_pages/anomalies.py"


@pytest.fixture
def admin(server_database):
    return new_tenant("anompage")


def _table(at, column: str):
    """The first dataframe on the page with ``column`` (the worklist has "root cause", the audit trail "who")."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _open(at, anomaly_id: int):
    at.selectbox(key="anomaly_pick").set_value(anomaly_id)
    at.run()
    assert not at.exception, at.exception
    return at


def _apply_status(at, status: str, **fields):
    at.selectbox(key="tr_status").set_value(status)
    at.run()
    for key, value in fields.items():
        (at.text_area if key == "tr_resolution" else at.text_input)(key=key).input(value)
    at.button(key="tr_apply").click()
    at.run()
    assert not at.exception, at.exception
    return at


MONITORS = "app_pages/monitors.py"


def _new_monitor_view(at):
    at.switch_page(MONITORS).run()
    assert not at.exception, at.exception
    at.radio(key="mon_view").set_value("New monitor")
    at.run()
    return at


def test_create_run_open_and_triage_an_anomaly(admin):
    datasets.save_upload(admin, "Regions", "regions.csv", regional_csv())
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert "Anomalies" in [t.value for t in at.title]
    assert "No monitors yet" in _texts(at)

    # guided form on the Monitors screen: the error names the field, then the monitor is created and run
    _new_monitor_view(at)
    at.selectbox(key="nm_dataset").select("Regions")
    at.run()
    at.selectbox(key="nm_split").select("Region")
    at.text_input(key="nm_unit_0").input("1")  # revenue is money: 1 USD per unit
    at.button(key="nm_create").click()
    at.run()
    assert any("Monitor name" in e.value and "detection_name" in e.value for e in at.error), _texts(at)
    at.text_input(key="nm_name").input("Revenue by region")
    at.button(key="nm_create").click()
    at.run()
    assert not at.exception, at.exception
    texts = _texts(at)
    assert "Created monitor **Revenue by region**" in texts and "Run finished" in texts, texts
    (mon,) = monitor_svc.list_monitors(admin)
    assert mon.dimensions == ["Region"] and mon.metrics == ["revenue"]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    items = anomaly_svc.list_anomalies(admin)
    assert len(items) >= 4
    assert _table(at, "root cause")["id"].tolist() == [a.id for a in items]

    # open the West drop: chart, expected range, severity, root cause, money impact, audit trail
    drop = next(a for a in items if a.dimension == "total" and a.ts.strftime("%Y-%m-%d") == "2023-04-02")
    _open(at, drop.id)
    texts = _texts(at)
    assert "revenue · all rows · 2023-04-02" in [s.value for s in at.subheader]
    assert "**Type:** drop" in texts
    assert "**Root cause:** West (Region) explains" in texts
    assert "**Money impact:** Estimated loss of" in texts
    assert any(c.proto.spec for c in at.get("plotly_chart")), "snapshot chart expected"
    labels = {m.label: m for m in at.metric}
    assert labels["Expected"].delta.startswith("range ") and labels["Money impact"].value.startswith("-")

    _apply_status(at, "acknowledged", tr_note="on it")
    assert anomaly_svc.get_anomaly(admin, drop.id).status == "acknowledged"
    assert f"Anomaly {drop.id} is now acknowledged." in _texts(at)
    _apply_status(at, "resolved")  # without notes
    assert any("Resolution notes" in e.value and "required" in e.value for e in at.error), _texts(at)
    assert anomaly_svc.get_anomaly(admin, drop.id).status == "acknowledged"
    _apply_status(at, "resolved", tr_resolution="Warehouse outage in the West; fixed.")
    done = anomaly_svc.get_anomaly(admin, drop.id)
    assert done.status == "resolved" and done.resolution_notes == "Warehouse outage in the West; fixed."
    # the resolved anomaly leaves the open worklist but stays open on screen with its audit trail
    assert drop.id not in _table(at, "root cause")["id"].tolist()
    trail = _table(at, "who")
    assert trail["to"].tolist() == ["new", "acknowledged", "resolved"]
    assert trail["who"].tolist() == ["detector", admin.username, admin.username]

    # a false positive with a reason teaches the monitor; the monitor section shows it with Undo
    weak = next(a for a in anomaly_svc.list_anomalies(admin, statuses=["new"]) if a.score < 0.9)
    _open(at, weak.id)
    _apply_status(at, "false_positive", tr_reason="month-end catch-up")
    assert anomaly_svc.get_anomaly(admin, weak.id).false_positive_reason == "month-end catch-up"
    assert "The monitor learned:" in _texts(at)
    (rule,) = anomaly_svc.list_rules(admin, mon.id)
    at.switch_page(MONITORS).run()
    at.radio(key="mon_view").set_value("Monitors")
    at.run()
    at.button(key=f"undo_{rule.id}").click()
    at.run()
    assert not at.exception, at.exception
    assert not anomaly_svc.list_rules(admin, mon.id)[0].active
    assert "Undone:" in _texts(at) and at.button(key=f"redo_{rule.id}")

    # Run now again: nothing new to score
    at.button(key="mon_run").click()
    at.run()
    assert "No new periods since the last run" in _texts(at)

    # bulk acknowledge from the worklist
    at.switch_page(PAGE).run()
    open_ids = [a.id for a in anomaly_svc.list_anomalies(admin, statuses=["new"])]
    at.multiselect(key="bulk_ids").set_value(open_ids)
    at.selectbox(key="bulk_action").set_value("acknowledge")
    at.button(key="bulk_apply").click()
    at.run()
    assert not at.exception, at.exception
    assert f"Changed {len(open_ids)} anomal" in _texts(at)
    assert {anomaly_svc.get_anomaly(admin, i).status for i in open_ids} == {"acknowledged"}

    # the dashboard: open anomalies by severity, time to resolve, false-positive rate per monitor
    at.switch_page("app_pages/dashboard.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    open_now = anomaly_svc.list_anomalies(admin, statuses=list(anomaly_svc.OPEN_STATUSES))
    assert sum(int(metrics[f"Open {s}"]) for s in ("critical", "high", "medium", "low")) == len(open_now)
    assert metrics["Median time to resolve"].endswith("min")
    quality = _table(at, "false-positive rate")
    assert quality.to_dict("records")[0] == {
        "monitor": "Revenue by region", "anomalies": len(items), "open": len(open_now), "reviewed": 2,
        "false positives": 1, "false-positive rate": 50.0}


def test_json_monitor_and_a_viewer_cannot_triage(admin):
    datasets.save_upload(admin, "Regions", "regions.csv", regional_csv())
    at = _login(_app(), admin.username, PASSWORD)
    _new_monitor_view(at)
    at.radio(key="nm_mode").set_value("JSON")
    at.run()
    at.text_area(key="nm_json").input('{"detection_name": "x", ')
    at.button(key="nm_create_json").click()
    at.run()
    assert any("not valid at line 1" in e.value for e in at.error), _texts(at)
    config = {"detection_name": "json monitor", "anomaly_type": "revenue", "monitored_metrics": ["daily_revenue"],
              "dimensions": ["Region"], "algorithm": "robust_seasonal"}
    at.text_area(key="nm_json").input(json.dumps(config))
    at.button(key="nm_create_json").click()
    at.run()
    assert not at.exception, at.exception
    assert "Created monitor **json monitor**" in _texts(at)
    assert anomaly_svc.list_anomalies(admin)

    auth.add_user(admin, f"viewer-{admin.tenant_id}@example.com", "Vic", "viewer", PASSWORD)
    viewer = _login(_app(), f"viewer-{admin.tenant_id}@example.com", PASSWORD)
    viewer.switch_page(PAGE).run()
    assert not viewer.exception, viewer.exception
    assert "Your role can view anomalies but not triage them." in _texts(viewer)
    assert not [b for b in viewer.button if b.key in ("tr_apply", "bulk_apply")]
    viewer.switch_page(MONITORS).run()
    assert viewer.button(key="mon_run").disabled and viewer.button(key="mon_delete").disabled
    viewer.radio(key="mon_view").set_value("New monitor")
    viewer.run()
    assert "Your role can view monitors but not create them." in _texts(viewer)
    assert not [b for b in viewer.button if b.key == "nm_create"]


def test_an_anomaly_without_unit_value_says_so_once(admin):
    """Without a unit value, the impact sentence and its assumption are the same text: shown once, not twice."""
    ds = datasets.save_upload(admin, "Regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(admin, {
        "detection_name": "Median revenue", "anomaly_type": "revenue", "monitored_metrics": ["median_revenue"], "dimensions": ["Region"],
        "metrics": [{"name": "median_revenue", "column": "revenue", "agg": "median", "unit_value": None}],
    }, dataset_id=ds.version.dataset_id)
    monitor_svc.run_monitor(admin, mon.id)
    found = anomaly_svc.list_anomalies(admin)
    assert found and all(a.impact is None for a in found)
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page(PAGE).run()
    _open(at, found[0].id)
    texts = _texts(at)
    assert texts.count("No unit value is set for median_revenue") == 1, texts
    assert "**Money impact:** No unit value is set" in texts
