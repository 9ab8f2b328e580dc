"""The dashboard's figures against rows written directly into the database, and the page through AppTest."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from aihub import auth
from aihub.db import models as m
from aihub.db.session import tenant_session
from aihub.errors import PermissionDenied, ValidationError
from aihub.services import dashboard
from tests.conftest import PASSWORD, new_tenant
from tests.fixtures import _app, _login, _texts


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


def seed(p) -> dict[str, int]:
    """Two deployed predictive models and an undeployed forecast, with predictions, outcomes, anomalies,
    usage events, data sources, deployments and insights of known counts and dates."""
    t = p.tenant_id
    analyst = auth.add_user(p, f"analyst-{t}@example.com", "Ana", "analyst", PASSWORD)
    with tenant_session(t) as s:
        churn = m.Model(tenant_id=t, name="Churn", kind="ml",
                        config={"training": {"model_type": "churn_prediction"}})
        ltv = m.Model(tenant_id=t, name="Value", kind="ml",
                      config={"training": {"model_type": "customer_lifetime_value"}})
        fc = m.Model(tenant_id=t, name="Monthly sales", kind="forecast", config={})
        s.add_all([churn, ltv, fc])
        s.flush()
        common = {"tenant_id": t, "version": 1, "algorithm": "random_forest", "training_data_hash": "0" * 64,
                  "library_versions": {}, "artifact_format": "test", "artifact": b"", "training_seconds": 1.0}
        v_churn = m.ModelVersion(model_id=churn.id, params={"task": "classification"}, metrics={"accuracy": 0.81},
                                 **common)
        v_ltv = m.ModelVersion(model_id=ltv.id, params={"task": "regression"}, metrics={"mae": 12.5}, **common)
        s.add_all([v_churn, v_ltv])
        s.flush()
        churn.active_version_id, ltv.active_version_id = v_churn.id, v_ltv.id
        s.add_all([m.Deployment(tenant_id=t, model_id=churn.id, model_version_id=v_churn.id, action="deploy",
                                created_at=_at(1, 9)),
                   m.Deployment(tenant_id=t, model_id=ltv.id, model_version_id=v_ltv.id, action="deploy",
                                created_at=_at(2, 9))])

        def pred(model, version, day, prediction, actual=None, error=None, k=0):
            return m.PredictionResult(
                tenant_id=t, model_id=model.id, model_version_id=version.id, served_by="champion",
                input={"k": k}, input_hash=f"{k:064d}", output={}, prediction=prediction, latency_ms=1.0,
                error=error, created_at=_at(day), actual=actual, actual_at=_at(3) if actual is not None else None,
                probability=0.7 if model is churn else None)

        rows = [pred(churn, v_churn, 1, "Yes", k=i) for i in range(10)]
        rows += [pred(churn, v_churn, 2, "No", k=10 + i) for i in range(4)]
        rows += [pred(churn, v_churn, 2, "", error="bad row", k=99)]
        rows += [pred(ltv, v_ltv, 2, "100.0", k=200 + i) for i in range(4)]
        for i, actual in enumerate(["Yes", "yes ", "No", "Yes"]):  # 3 of 4 agree (case and blanks ignored)
            rows[i].actual, rows[i].actual_at = actual, _at(3)
        rows[10].actual, rows[10].actual_at = "No", _at(4)  # a 2nd day of feedback: 1 of 1
        rows[15].actual, rows[15].actual_at = "110", _at(3)  # ltv: |110 - 100| and |90 - 100|
        rows[16].actual, rows[16].actual_at = "90", _at(3)
        s.add_all(rows)

        mon = m.Monitor(tenant_id=t, name="Revenue", config={})
        s.add(mon)
        s.flush()
        for i, (ts, sev, status, metric) in enumerate([
            (datetime(2024, 2, 27), "critical", "new", "daily_revenue"),
            (datetime(2024, 3, 1), "high", "resolved", "daily_revenue"),
            (datetime(2024, 3, 2), "high", "acknowledged", "transaction_count"),
            (datetime(2024, 3, 2), "low", "false_positive", "daily_revenue"),
            (datetime(2024, 3, 3), "medium", "investigating", "daily_revenue"),
        ]):
            s.add(m.Anomaly(tenant_id=t, monitor_id=mon.id, metric=metric, slice="" if i else "Region=West", ts=ts,
                            actual=1, expected=2, lower=1.5, upper=2.5, score=0.9, severity=sev, status=status,
                            impact=-100.0 * (i + 1), root_cause={}, snapshot=[]))
        s.add_all([m.UsageEvent(tenant_id=t, user_id=p.user_id, feature="insights", action="generate",
                                created_at=_at(1)),
                   m.UsageEvent(tenant_id=t, user_id=analyst.id, feature="insights", action="vote", created_at=_at(1)),
                   m.UsageEvent(tenant_id=t, user_id=analyst.id, feature="predict", action="batch", created_at=_at(2)),
                   m.UsageEvent(tenant_id=t, user_id=analyst.id, feature="predict", action="batch", created_at=_at(2))])
        s.add_all([m.DataSource(tenant_id=t, name="shop db", source_type="database", config={},
                                sync_frequency="daily"),
                   m.DataSource(tenant_id=t, name="old api", source_type="rest", config={}, sync_frequency="daily",
                                enabled=False)])
        base = {"tenant_id": t, "type": "trend", "category": "sales", "score": 50.0, "confidence": 0.9,
                "title": "t", "narrative": "n", "recommended_actions": [], "evidence": [], "figures": {},
                "valid_from": datetime(2024, 1, 1, tzinfo=UTC)}
        future = datetime.now(UTC) + timedelta(days=30)
        s.add_all([m.Insight(fingerprint="a", priority="high", status="new", valid_until=future, **base),
                   m.Insight(fingerprint="b", priority="medium", status="in_progress", valid_until=future, **base),
                   m.Insight(fingerprint="c", priority="high", status="dismissed", valid_until=future, **base),
                   m.Insight(fingerprint="d", priority="high", status="new", valid_until=datetime(2024, 2, 1,
                                                                                                 tzinfo=UTC), **base)])
        s.flush()
        return {"churn": churn.id, "ltv": ltv.id, "forecast": fc.id}


@pytest.fixture
def seeded(tenant):
    return tenant, seed(tenant)


def test_key_figures_and_model_performance_match_the_rows(seeded):
    p, _ids = seeded
    opts = dashboard.filter_options(p)
    assert opts.model_types == ["churn_prediction", "customer_lifetime_value", "forecast"]
    assert opts.metrics == ["daily_revenue", "transaction_count"]
    assert opts.first_day == date(2024, 2, 27) and opts.last_day >= date(2024, 3, 3)

    o = dashboard.overview(p, dashboard.Filters(date(2024, 2, 1), date(2024, 3, 31)))
    f = o.figures
    assert (f.models_active, f.models_inactive) == (2, 1)
    assert (f.predictions, f.prediction_errors) == (19, 1)
    assert f.anomalies_detected == 5
    assert f.detected_by_severity == {"critical": 1, "high": 2, "medium": 1, "low": 1}
    assert f.unresolved_by_severity == {"critical": 1, "high": 1, "medium": 1, "low": 0}
    assert (f.data_sources_active, f.data_sources, f.datasets) == (1, 2, 0)
    assert f.insights_open == 2 and f.insights_by_priority == {"high": 1, "medium": 1}

    rows = {r.name: r for r in o.models}
    assert set(rows) == {"Churn", "Value"}
    churn, ltv = rows["Churn"], rows["Value"]
    assert (churn.metric, churn.test, churn.outcomes, churn.predictions) == ("accuracy", 0.81, 5, 15)
    assert churn.live == pytest.approx(4 / 5)
    assert (ltv.metric, ltv.test, ltv.outcomes, ltv.predictions) == ("MAE", 12.5, 2, 4)
    assert ltv.live == pytest.approx(10.0)
    assert churn.deployed_at == _at(1, 9)

    assert o.granularity == "day"
    volume = {(period.date(), name): n for period, name, n in o.prediction_volume}
    assert volume == {(date(2024, 3, 1), "Churn"): 10, (date(2024, 3, 2), "Churn"): 5,
                      (date(2024, 3, 2), "Value"): 4}
    acc = {(period.date(), name): (n, c) for period, name, n, c in o.accuracy_trend}
    assert acc[(date(2024, 3, 3), "Churn")] == (4, 3) and acc[(date(2024, 3, 4), "Churn")] == (1, 1)
    assert [d[1] for d in o.deployments] == ["Value", "Churn"]
    assert o.anomalies_by_status == {"new": 1, "resolved": 1, "acknowledged": 1, "false_positive": 1,
                                     "investigating": 1}
    assert [a["ts"].date() for a in o.latest_anomalies] == [date(2024, 3, 3), date(2024, 3, 2), date(2024, 3, 2),
                                                              date(2024, 3, 1), date(2024, 2, 27)]
    assert o.latest_anomalies[-1]["series"] == "Region = West"
    assert {(feat, n, u) for feat, n, u in o.usage_by_feature} == {("insights", 2, 2), ("predict", 2, 1)}
    assert o.usage_users == 2
    assert sum(n for _, _, n, _ in o.usage) == 4


def test_filters_narrow_every_section(seeded):
    p, _ids = seeded
    day2 = dashboard.overview(p, dashboard.Filters(date(2024, 3, 2), date(2024, 3, 2)))
    assert (day2.figures.predictions, day2.figures.anomalies_detected) == (9, 2)
    assert {feat for feat, _, _ in day2.usage_by_feature} == {"predict"}
    assert [d[1] for d in day2.deployments] == ["Value"]
    assert {r.name: r.live for r in day2.models} == {"Churn": None, "Value": None}  # outcomes came on day 3

    churn_only = dashboard.overview(p, dashboard.Filters(model_types=("churn_prediction",)))
    assert churn_only.figures.predictions == 15 and [r.name for r in churn_only.models] == ["Churn"]
    assert (churn_only.figures.models_active, churn_only.figures.models_inactive) == (1, 0)
    assert {name for _, name, _ in churn_only.prediction_volume} == {"Churn"}
    assert churn_only.granularity == "month"

    severe = dashboard.overview(p, dashboard.Filters(severities=("critical", "high"), metrics=("daily_revenue",)))
    assert severe.figures.anomalies_detected == 2
    assert severe.figures.detected_by_severity == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert {a["metric"] for a in severe.latest_anomalies} == {"daily_revenue"}

    with pytest.raises(ValidationError):
        dashboard.overview(p, dashboard.Filters(severities=("urgent",)))
    with pytest.raises(ValidationError):
        dashboard.overview(p, dashboard.Filters(date(2024, 3, 5), date(2024, 3, 1)))


def test_another_tenant_sees_none_of_it(seeded, use_db):
    other = new_tenant("dashother")
    o = dashboard.overview(other)
    f = o.figures
    assert (f.models_active, f.predictions, f.anomalies_detected, f.insights_open, f.data_sources) == (0, 0, 0, 0, 0)
    assert o.models == [] and o.usage == [] and o.latest_anomalies == [] and o.deployments == []
    opts = dashboard.filter_options(other)
    assert (opts.model_types, opts.metrics, opts.first_day) == ([], [], None)
    with pytest.raises(PermissionDenied):
        dashboard.overview(auth.Principal(other.tenant_id, None, "nobody", "none"))


# ---------------------------------------------------------------------------------------------- the page
@pytest.fixture
def page_admin(server_database):
    admin = new_tenant("dashpage")
    seed(admin)
    return admin


def test_the_page_renders_every_section_from_the_database(page_admin):

    at = _login(_app(), page_admin.username, PASSWORD)
    assert not at.exception, at.exception
    assert "Dashboard" in [t.value for t in at.title]
    subheaders = [s.value for s in at.subheader]
    for section in ("Key figures", "Model performance", "Recent anomalies", "Prediction trends", "Usage of AI features",
                    "Active forecasts", "Latest training runs"):
        assert section in subheaders, subheaders
    o = dashboard.overview(page_admin, dashboard.Filters(date(2024, 2, 27), at.date_input(key="dash_dates").value[1]))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Active models"] == "2" and metrics["Inactive models"] == "1"
    assert metrics["Predictions made"] == f"{o.figures.predictions:,}" == "19"
    assert metrics["Anomalies detected"] == "5" and metrics["Unresolved anomalies"] == "3"
    assert metrics["Active data sources"] == "1" and metrics["Open insights"] == "2"
    assert metrics["Datasets"] == "0"
    charts = [c for c in at.get("plotly_chart") if c.proto.spec]
    assert len(charts) >= 6, "volume, model usage, accuracy, severity, status, trend, usage charts"
    perf = next(d.value for d in at.dataframe if "live" in d.value.columns)
    assert perf.set_index("model").loc["Churn", "live"] == pytest.approx(0.8)
    assert "No deployed forecast yet." in _texts(at)

    # filters: one day, one model type, one severity
    at.date_input(key="dash_dates").set_value((date(2024, 3, 2), date(2024, 3, 2)))
    at.multiselect(key="dash_types").set_value(["churn_prediction"])
    at.multiselect(key="dash_severity").set_value(["high"])
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Predictions made"] == "5" and metrics["Anomalies detected"] == "1"
    assert metrics["Active models"] == "1"

    # a cached rerun is quick
    t0 = time.perf_counter()
    at.run()
    assert not at.exception
    assert time.perf_counter() - t0 < 3.0
