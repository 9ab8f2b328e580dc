"""The insights service on the real database: figures against the stored data, statuses, votes, isolation, CLI.

Every figure checked in a narrative is recomputed here with plain pandas from
the dataset as the hub stored it (``datasets.load_frame``), and formatted by
this file's own helpers, not the engine's.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from aihub import auth
from aihub.db.models import InsightEvent, UsageEvent
from aihub.db.session import tenant_session
from aihub.errors import NotFound, PermissionDenied, ValidationError
from aihub.insights import feedback_factor
from aihub.services import datasets
from aihub.services import insights as insights_service
from tests.conftest import PASSWORD, new_tenant

NOW = datetime(2021, 1, 10, tzinfo=UTC)  # last complete quarter: Q4 2020
LATER = datetime(2021, 4, 10, tzinfo=UTC)  # Q1 2021 against Q4 2020


def _pct(fraction: float) -> str:
    """Percent as narratives write it: whole percent from 10%, one decimal below."""
    p = fraction * 100
    return f"{round(p):.0f}%" if abs(round(p, 1)) >= 10 else f"{round(p, 1):g}%"


def _money(x: float) -> str:
    """$ with three significant digits and k/M (independent of aihub.insights.formatting)."""
    a = abs(x)
    for unit, suffix in ((1e6, "M"), (1e3, "k")):
        if a >= unit:
            v = a / unit
            d = 2 if v < 10 else 1 if v < 100 else 0
            text = f"{round(v, d):.{d}f}"
            text = text.rstrip("0").rstrip(".") if "." in text else text
            return ("-" if x < 0 else "") + "$" + text + suffix
    return ("-" if x < 0 else "") + f"${round(a):,.0f}"


def _user(admin, role: str):
    email = f"{role}-{admin.tenant_id}@example.com"
    auth.add_user(admin, email, role.title(), role, PASSWORD)
    return auth.principal_for(email)


@pytest.fixture
def store(tenant, superstore_bytes):
    saved = datasets.save_upload(tenant, "Superstore", "superstore_orders.csv", superstore_bytes)
    return tenant, saved.version


def test_roles_are_detected_from_the_saved_schema(store):
    admin, _ = store
    (rec,) = insights_service.dataset_roles(admin)
    assert rec.roles == {"date": "Order Date", "amount": "Sales", "customer": "Customer ID",
                         "customer_name": "Customer Name", "product": "Product Name", "order": "Order ID",
                         "dimensions": ["Region", "Category", "Segment"]}
    assert not rec.stored and rec.enabled
    with pytest.raises(ValidationError) as err:
        insights_service.set_dataset_roles(admin, rec.dataset_id, {"date": "Order Date", "amount": "Region"})
    assert err.value.field == "amount"
    mine = insights_service.set_dataset_roles(admin, rec.dataset_id, {"date": "Ship Date", "amount": "Profit",
                                                                     "dimensions": ["Region"]})
    assert mine.stored and mine.roles["amount"] == "Profit" and mine.roles["dimensions"] == ["Region"]
    off = insights_service.set_dataset_roles(admin, rec.dataset_id, {"enabled": False})
    assert off.roles is None and not off.enabled
    assert insights_service.collect_sources(admin).inputs.orders == []
    assert insights_service.set_dataset_roles(admin, rec.dataset_id, None).roles == rec.roles


def test_narratives_match_the_stored_data_and_regenerating_does_not_duplicate(store):
    admin, version = store
    out = insights_service.generate(admin, categories=["sales"], now=NOW)
    assert out and all(i.category == "sales" for i in out)
    assert [i.score for i in out] == sorted((i.score for i in out), reverse=True)

    # Recompute Q4 2020 against Q3 2020 by region from the stored table.
    frame = datasets.load_frame(admin, version.id)
    q = frame.groupby([frame["Order Date"].dt.to_period("Q"), "Region"], observed=True)["Sales"].sum().unstack()
    before, after = q.loc[pd.Period("2020Q3")], q.loc[pd.Period("2020Q4")]
    delta = after - before
    west = delta["West"] / delta.sum()
    ins = next(i for i in out if i.type == "drivers" and i.subject == "sales by Region")
    assert ins.title == f"West region drove {_pct(west)} of Q4 2020 sales growth"
    assert f"Sales grew {_pct(delta.sum() / before.sum())} in Q4 2020 against Q3 2020" in ins.narrative
    assert f"from {_money(before.sum())} to {_money(after.sum())}" in ins.narrative
    assert f"West region drove {_pct(west)} of that change" in ins.narrative
    assert f"from {_money(before['West'])} to {_money(after['West'])}" in ins.narrative
    assert ins.figures["share"] == pytest.approx(west)
    assert ins.figure_text and ins.recommended_actions and ins.status == "new"
    assert {"kind": "dataset", "id": version.dataset_id, "name": "Superstore"} in ins.evidence
    assert any(e["kind"] == "chart" for e in ins.evidence)
    assert ins.valid_from == NOW and ins.valid_until > NOW

    # Regenerating the same day stores nothing new and keeps one row per finding.
    listed = insights_service.list_insights(admin, now=NOW)
    assert insights_service.generate(admin, categories=["sales"], now=NOW) == []
    assert [i.id for i in insights_service.list_insights(admin, now=NOW)] == [i.id for i in listed]
    assert len({i.fingerprint for i in listed}) == len(listed)

    # Usage is recorded.
    with tenant_session(admin.tenant_id) as s:
        n = s.scalar(sa.select(sa.func.count()).where(UsageEvent.feature == "insights",
                                                      UsageEvent.action == "generate"))
    assert n == 2


def test_trend_figures_match_scipy_and_expired_insights_are_renewed_in_place(store):
    from scipy import stats as sps

    admin, version = store
    now = datetime(2023, 1, 5, tzinfo=UTC)
    (trend,) = insights_service.generate(admin, types=["trend"], now=now)
    frame = datasets.load_frame(admin, version.id)
    m = frame.groupby(frame["Order Date"].dt.to_period("M"))["Sales"].sum().loc["2021-01":"2022-12"]
    slope = sps.theilslopes(m.to_numpy()).slope
    assert trend.figures["slope"] == pytest.approx(slope)
    assert trend.title == f"Sales trending up: +{_money(slope)} per month"
    assert f"about +{_money(slope * 12)} a year" in trend.narrative

    # The data end in December 2022: a month later the same trend is found again, after it expired.
    later = trend.valid_until + timedelta(days=1)
    assert insights_service.list_insights(admin, now=later) == []
    assert [i.id for i in insights_service.list_insights(admin, now=later, include_expired=True)] == [trend.id]
    insights_service.set_status(admin, trend.id, "dismissed", "seasonal")
    (again,) = insights_service.generate(admin, types=["trend"], now=later)
    assert again.id == trend.id and again.status == "new" and again.valid_from == later
    assert again.dismiss_reason is None
    actions = [e.action for e in insights_service.insight_events(admin, trend.id)]
    assert actions == ["status", "regenerated"]


def test_statuses_need_a_reason_to_dismiss_and_every_change_is_recorded(store):
    admin, _ = store
    out = insights_service.generate(admin, types=["drivers"], now=NOW)
    ins = out[0]
    analyst, viewer = _user(admin, "analyst"), _user(admin, "viewer")

    assert insights_service.set_status(analyst, ins.id, "acknowledged").status == "acknowledged"
    assert insights_service.set_status(analyst, ins.id, "in_progress").status == "in_progress"
    with pytest.raises(ValidationError, match="already in progress"):
        insights_service.set_status(analyst, ins.id, "in_progress")
    with pytest.raises(ValidationError) as err:
        insights_service.set_status(analyst, ins.id, "dismissed", "   ")
    assert err.value.field == "reason"
    with pytest.raises(ValidationError):
        insights_service.set_status(analyst, ins.id, "done")
    assert insights_service.set_status(admin, ins.id, "implemented").status == "implemented"
    dismissed = insights_service.set_status(analyst, out[1].id, "dismissed", "We knew this already")
    assert dismissed.dismiss_reason == "We knew this already"

    events = insights_service.insight_events(admin, ins.id)
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [
        ("new", "acknowledged", analyst.username), ("acknowledged", "in_progress", analyst.username),
        ("in_progress", "implemented", admin.username)]
    # the page's one read for every card's history gives the same events, and an empty list for a quiet insight
    quiet = next(i for i in out if i.id not in (ins.id, out[1].id))
    histories = insights_service.insight_histories(viewer, [ins.id, out[1].id, quiet.id])
    assert histories[ins.id] == events and histories[quiet.id] == []
    assert [e.to_status for e in histories[out[1].id]] == ["dismissed"]
    # open insights by default; implemented and dismissed ones on request
    open_ids = {i.id for i in insights_service.list_insights(viewer, now=NOW)}
    assert ins.id not in open_ids and out[1].id not in open_ids
    done = insights_service.list_insights(viewer, now=NOW, statuses=["implemented", "dismissed"])
    assert {i.id for i in done} == {ins.id, out[1].id}

    # permissions: a viewer reads, but neither generates nor gives feedback
    for call in (lambda: insights_service.generate(viewer, now=NOW),
                 lambda: insights_service.set_status(viewer, ins.id, "acknowledged"),
                 lambda: insights_service.vote(viewer, ins.id, True)):
        with pytest.raises(PermissionDenied):
            call()


def test_votes_count_once_per_user_and_dismissed_types_drop_in_priority(use_db, superstore_bytes):
    a, b = new_tenant("fbA"), new_tenant("fbB")
    for p in (a, b):
        datasets.save_upload(p, "Superstore", "superstore_orders.csv", superstore_bytes)
    first = insights_service.generate(a, types=["drivers"], now=NOW)
    assert len(first) == 3
    analyst = _user(a, "analyst")
    assert insights_service.vote(analyst, first[0].id, True).useful == 1
    voted = insights_service.vote(analyst, first[0].id, False, "not actionable")  # changes their mind
    assert (voted.useful, voted.not_useful) == (0, 1)
    assert insights_service.vote(a, first[0].id, False).not_useful == 2
    for ins in first:
        insights_service.set_status(analyst, ins.id, "dismissed", "Seasonal, we know")
    counts = insights_service.feedback_counts(a)
    assert counts == {"drivers": {"useful": 0, "not_useful": 2, "dismissed": 3}}
    assert insights_service.feedback_counts(b) == {}

    # Next quarter: the same kind of finding, ranked lower in A than in B (no feedback) by the feedback factor.
    ranked_a = {i.fingerprint: i for i in insights_service.generate(a, types=["drivers"], now=LATER)}
    ranked_b = {i.fingerprint: i for i in insights_service.generate(b, types=["drivers"], now=LATER)}
    assert ranked_a and set(ranked_a) == set(ranked_b)
    factor = feedback_factor(counts["drivers"])
    assert factor == pytest.approx((2 / 9) / 0.5)  # Beta(2, 2) prior, 0 useful, 5 dismissed or not useful
    for fp, ins in ranked_a.items():
        assert ins.score == pytest.approx(ranked_b[fp].score * factor, abs=0.02)
        assert ins.score < ranked_b[fp].score
    assert {i.priority for i in ranked_b.values()} == {"high"}
    assert {i.priority for i in ranked_a.values()} <= {"medium", "low"}


def test_tenants_see_and_change_only_their_own_insights(use_db, superstore_bytes):
    a, b = new_tenant("isoA"), new_tenant("isoB")
    datasets.save_upload(a, "Superstore", "superstore_orders.csv", superstore_bytes)
    (ins, *_) = insights_service.generate(a, types=["drivers"], now=NOW)
    assert insights_service.list_insights(b, now=NOW) == []
    assert insights_service.generate(b, now=NOW) == []  # b has no data
    for call in (lambda: insights_service.get_insight(b, ins.id),
                 lambda: insights_service.set_status(b, ins.id, "acknowledged"),
                 lambda: insights_service.vote(b, ins.id, False),
                 lambda: insights_service.insight_events(b, ins.id)):
        with pytest.raises(NotFound):
            call()
    insights_service.set_status(a, ins.id, "acknowledged")
    assert insights_service.insight_histories(b, [ins.id]) == {ins.id: []}  # a's events never reach b
    assert len(insights_service.insight_histories(a, [ins.id])[ins.id]) == 1
    with tenant_session(b.tenant_id) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(InsightEvent)) == 0
    assert insights_service.get_insight(a, ins.id).status == "acknowledged"


def seed_anomalies(principal, rows) -> list[int]:
    """Anomalies written directly (a monitor and one anomaly per ``(ts, severity, status, impact, metric)``)."""
    from aihub.db import models as m

    with tenant_session(principal.tenant_id) as s:
        mon = m.Monitor(tenant_id=principal.tenant_id, name=f"mon-{len(rows)}", config={})
        s.add(mon)
        s.flush()
        items = [m.Anomaly(tenant_id=principal.tenant_id, monitor_id=mon.id, metric=metric, slice=f"Region={i}",
                           ts=ts, actual=1.0, expected=2.0, lower=1.5, upper=2.5, score=0.9, severity=sev,
                           status=status, impact=impact, root_cause={}, snapshot=[])
                 for i, (ts, sev, status, impact, metric) in enumerate(rows)]
        s.add_all(items)
        s.flush()
        return [a.id for a in items]


def test_anomaly_digest_counts_the_open_anomalies(tenant):
    rows = [(datetime(2023, 4, 2), "critical", "new", -1200.0, "daily_revenue"),
            (datetime(2023, 4, 9), "high", "acknowledged", -300.5, "daily_revenue"),
            (datetime(2023, 5, 1), "high", "investigating", 250.0, "transaction_count"),
            (datetime(2023, 5, 2), "high", "resolved", -9999.0, "daily_revenue"),
            (datetime(2023, 5, 3), "medium", "new", -5000.0, "daily_revenue"),
            (datetime(2023, 5, 4), "critical", "false_positive", -7000.0, "daily_revenue")]
    ids = seed_anomalies(tenant, rows)
    out = insights_service.generate(tenant, categories=["operations"], now=datetime(2023, 7, 25, tzinfo=UTC))
    (digest,) = out
    assert digest.type == "anomaly_digest" and digest.category == "operations"
    f = digest.figures
    assert (f["n_open"], f["n_critical"], f["n_high"]) == (3, 1, 2)
    assert f["loss"] == pytest.approx(1500.5) and f["gain"] == pytest.approx(250.0)
    assert {e["id"] for e in digest.evidence if e["kind"] == "anomaly"} == set(ids[:3])
    assert "critical or high: 3 (1 critical, 2 high)" in digest.narrative
    assert f"{_money(250.0 - 1500.5)} net: {_money(1500.5)} in losses and {_money(250)} in gains" \
        in digest.narrative
    # once they are resolved, the next day's digest has nothing to report
    from aihub.db.models import Anomaly

    with tenant_session(tenant.tenant_id) as s:
        s.execute(sa.update(Anomaly).where(Anomaly.id.in_(ids[:3])).values(status="resolved"))
    assert insights_service.generate(tenant, categories=["operations"], now=datetime(2023, 7, 26, tzinfo=UTC)) == []


def test_churn_summary_from_stored_predictions_with_shap_reasons(tenant):
    """A deployed churn model's latest prediction per customer, its revenue and the top SHAP reasons."""
    from aihub.db import models as m

    t = tenant.tenant_id
    customers = [  # (id, probability, monthly charges, top_contributions as batch predictions store them)
        ("C1", 0.91, 100.0, "Contract = Month-to-month: +0.30; Tenure Months = 2: +0.20; Monthly Charges = 100: -0.01"),
        ("C2", 0.75, 80.5, "Contract = Month-to-month: +0.25; Support Calls = 4: +0.10"),
        ("C3", 0.55, 60.0, "Support Calls = 5: +0.15; Contract = Month-to-month: +0.05"),
        ("C4", 0.20, 120.0, "Tenure Months = 60: -0.30"),
        ("C5", 0.05, 30.0, "Contract = Two year: -0.40"),
    ]
    with tenant_session(t) as s:
        model = m.Model(tenant_id=t, name="Churn", kind="ml", config={"training": {"model_type": "churn_prediction"}})
        s.add(model)
        s.flush()
        common = {"tenant_id": t, "model_id": model.id, "algorithm": "random_forest", "params": {}, "metrics": {},
                  "training_data_hash": "0", "library_versions": {}, "artifact_format": "x", "artifact": b"",
                  "training_seconds": 1.0}
        old, new = m.ModelVersion(version=1, **common), m.ModelVersion(version=2, **common)
        s.add_all([old, new])
        s.flush()
        model.active_version_id = new.id

        def row(version, cid, p, monthly, tops, when):
            return m.PredictionResult(
                tenant_id=t, model_id=model.id, model_version_id=version.id, served_by="champion",
                input={"Customer ID": cid, "Monthly Charges": monthly}, input_hash=f"{cid}-{monthly}",
                output={"prediction": "Yes" if p >= 0.5 else "No", "probability": p, "top_contributions": tops},
                prediction="Yes", probability=p, latency_ms=1.0, created_at=when)

        s.add_all([row(new, *c, datetime(2024, 5, 1, tzinfo=UTC)) for c in customers])
        # an older version's prediction is not the champion's and is ignored
        s.add(row(old, "C9", 0.99, 999.0, "Contract = Month-to-month: +0.5", datetime(2024, 4, 1, tzinfo=UTC)))
    (ins,) = insights_service.generate(tenant, categories=["customer"], types=["churn_risk"])
    f = ins.figures
    high = [c for c in customers if c[1] >= 0.5]
    assert (f["n_high"], f["n_total"]) == (3, 5)
    assert f["revenue_high"] == pytest.approx(12 * sum(c[2] for c in high))
    assert f["reason1"] == "Contract = Month-to-month" and f["reason1_count"] == 3
    assert f["reason2"] == "Support Calls" and f["reason2_count"] == 2
    assert ins.title == f"3 at-risk customers hold {_money(12 * (100 + 80.5 + 60))} of annual revenue; " \
                        "top reason: Contract = Month-to-month"
    assert {"kind": "model", "id": model.id, "name": "Churn"} in ins.evidence


def test_segment_snapshots_compare_like_with_like(store):
    admin, version = store
    frame = datasets.load_frame(admin, version.id)
    roles = insights_service.dataset_roles(admin)[0].roles
    before, after, d0, d1 = insights_service.rfm_snapshots(frame, roles, pd.Timestamp("2023-01-05"))
    assert (d0, d1) == (pd.Timestamp("2022-10-01"), pd.Timestamp("2022-12-31"))
    assert set(after["segment"]) == {"high-value", "loyal", "new", "at-risk", "dormant"}
    # customers' spend before the earlier snapshot, recomputed from the stored orders
    spend = frame[frame["Order Date"] < d0].groupby("Customer ID")["Sales"].sum()
    assert before.set_index("customer")["monetary"].sort_index().to_numpy() == pytest.approx(
        spend.sort_index().to_numpy())
    out = insights_service.generate(admin, types=["segment_movement"], now=datetime(2023, 1, 5, tzinfo=UTC))
    assert {i.title.split(" segment")[0] for i in out} >= {"High-value", "At-risk"}
    for ins in out:
        seg = ins.figures["segment"]
        assert ins.figures["before"] == int((before["segment"] == seg).sum())
        assert ins.figures["after"] == int((after["segment"] == seg).sum())
        assert f"from {ins.figures['before']} to {ins.figures['after']} customers" in ins.narrative


def test_generate_for_tenant_and_the_cli(store, capsys):
    from aihub.cli import main

    admin, _ = store
    assert insights_service.generate_for_tenant(admin.tenant_id, categories=["operations"]) == 0
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["insights", "generate", "--tenant", admin.tenant_name, "--category", "sales",
                     "--priority", "medium", "--limit", "2"])
    text = buf.getvalue()
    assert code == 0, capsys.readouterr().err
    stored = insights_service.list_insights(admin)
    assert len(stored) == 2 and all(i.category == "sales" for i in stored)
    for ins in stored:
        assert ins.title in text and ins.narrative in text and ins.created_by == admin.user_id
    assert "2 new insight(s) stored" in text
    # nothing new on a second run; the worker's entry point agrees
    assert insights_service.generate_for_tenant(admin.tenant_id, categories=["sales"]) > 0  # the rest of them
    before = len(insights_service.list_insights(admin, statuses=None, include_expired=True, limit=10_000))
    added = insights_service.generate_for_tenant(admin.tenant_id)  # every category: the others' insights are new
    after = len(insights_service.list_insights(admin, statuses=None, include_expired=True, limit=10_000))
    assert added == after - before
    assert insights_service.generate_for_tenant(admin.tenant_id, categories=["sales"]) == 0

    # the worker's daily task: every tenant as its first admin; one tenant's failure does not stop the others
    from aihub.db import insight_store
    from aihub.db.session import owner_session

    other = new_tenant("daily")
    with owner_session() as s:
        assert {admin.tenant_id, other.tenant_id} <= set(insight_store.tenant_ids(s))
    assert insights_service.generate_all(tenant_ids=[admin.tenant_id, other.tenant_id, 0]) == {
        "tenants": 2, "insights": 0, "failed": 1}

    viewer = _user(admin, "viewer")
    assert main(["insights", "generate", "--tenant", admin.tenant_name, "--user", viewer.username]) == 2
    assert "lacks the permission ai_analytics:generate" in capsys.readouterr().err
    assert main(["insights", "generate", "--tenant", "no such org"]) == 2
