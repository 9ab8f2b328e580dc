"""Issue 16: the dashboard's daily rollups equal the raw rows, before and after the worker's rollup step.

Predictions, outcomes and anomalies are written the ways the hub writes them (multi-row inserts, single rows,
outcome updates, status changes, deletes) into two organizations; the dashboard's figures are compared with an
aggregation in Python of the raw rows read back, at every stage: all days marked (read raw), rolled up, with late
rows for old days marked again (read mixed), and rolled up again. The second organization's rows never mix in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from aihub.db import models as m
from aihub.db.session import tenant_session
from aihub.services import dashboard
from tests.conftest import new_tenant

START = date(2024, 3, 1)


def _models(t: int) -> dict[str, tuple[int, int]]:
    """A classifier and a regressor, each with a deployed version: ``{name: (model id, version id)}``."""
    out = {}
    with tenant_session(t) as s:
        for name, task, metrics in (("Churn", "classification", {"accuracy": 0.8}), ("Value", "regression",
                                                                                     {"mae": 10.0})):
            model = m.Model(tenant_id=t, name=name, kind="ml", config={"training": {"task": task}})
            s.add(model)
            s.flush()
            v = m.ModelVersion(tenant_id=t, model_id=model.id, version=1, algorithm="rf", params={"task": task},
                               metrics=metrics, training_data_hash="0" * 64, library_versions={},
                               artifact_format="test", artifact=b"", training_seconds=1.0)
            s.add(v)
            s.flush()
            model.active_version_id = v.id
            out[name] = (model.id, v.id)
        mon = m.Monitor(tenant_id=t, name="Revenue", config={})
        s.add(mon)
        s.flush()
        out["monitor"] = (mon.id, 0)
    return out


def _bulk(t: int, ids: dict, n: int, seed: int) -> None:
    """``n`` predictions per model over 40 days (one statement each), a tenth with outcomes; anomalies likewise."""
    with tenant_session(t) as s:
        for name, labels in (("Churn", "CASE WHEN g % 3 = 0 THEN 'Yes' ELSE 'No' END"),
                             ("Value", "((g * 7 + :seed) % 200)::text")):
            mid, vid = ids[name]
            s.execute(sa.text(f"""
                INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, input, input_hash,
                    output, prediction, latency_ms, error, created_at, actual, actual_at)
                SELECT :t, :mid, :vid, 'champion', '{{}}'::jsonb, md5(g::text), '{{}}'::jsonb, {labels}, 1.0,
                       CASE WHEN g % 41 = 0 THEN 'bad row' END, ts,
                       CASE WHEN g % 10 = 0 AND g % 41 <> 0 THEN
                            CASE WHEN :name = 'Churn' THEN CASE WHEN g % 7 = 0 THEN ' yes' ELSE 'No' END
                                 ELSE ((g * 5 + :seed) % 200)::text END END,
                       CASE WHEN g % 10 = 0 AND g % 41 <> 0 THEN ts + (g % 4) * interval '1 day' END
                FROM generate_series(1, :n) g,
                     LATERAL (SELECT timestamptz '2024-03-01 00:00+00' + (g * 7919 % (40 * 86400)) * interval '1 second'
                              AS ts) x"""), {"t": t, "mid": mid, "vid": vid, "n": n, "seed": seed, "name": name})
        s.execute(sa.text("""
            INSERT INTO anomalies (tenant_id, monitor_id, metric, slice, ts, actual, expected, lower, upper, score,
                                   severity, impact, root_cause, snapshot, status)
            SELECT :t, :mon, (ARRAY['daily_revenue', 'orders'])[1 + g % 2], 'part=' || :seed, timestamp '2024-03-01'
                       + (g * 13 % (40 * 24)) * interval '1 hour', 1, 2, 1, 3, 0.9,
                   (ARRAY['low', 'medium', 'high', 'critical'])[1 + (g + :seed) % 4], -1,
                   '{}'::jsonb, '[]'::jsonb, (ARRAY['new', 'acknowledged', 'resolved'])[1 + g % 3]
            FROM generate_series(1, :n) g"""), {"t": t, "mon": ids["monitor"][0], "n": n // 4, "seed": seed})


def _raw(t: int) -> tuple[list, list]:
    with tenant_session(t) as s:
        preds = s.execute(sa.text("SELECT p.model_id, p.model_version_id, p.created_at, p.error, p.actual, "
                                  "p.actual_at, p.prediction FROM prediction_results p")).all()
        anoms = s.execute(sa.text("SELECT ts, metric, severity, status FROM anomalies")).all()
    return preds, anoms


def _trunc(ts: datetime, unit: str) -> datetime:
    d = ts.date()
    d = d if unit == "day" else d.replace(day=1)
    return datetime(d.year, d.month, d.day, tzinfo=ts.tzinfo)


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def expected(t: int, f: dashboard.Filters, names: dict[int, str], mae_versions: set[int]) -> dict:
    """The dashboard's series computed in Python from the raw rows of organization ``t``."""
    preds, anoms = _raw(t)
    unit = f.granularity

    def within(d: date) -> bool:
        return (f.date_from is None or d >= f.date_from) and (f.date_to is None or d <= f.date_to)

    vol, acc, errs, live = Counter(), defaultdict(lambda: [0, 0]), 0, defaultdict(lambda: [0.0, 0])
    for mid, vid, created, error, actual, actual_at, prediction in preds:
        created = created.astimezone(UTC)
        if within(created.date()):
            vol[(_trunc(created, unit), names[mid])] += 1
            errs += error is not None
        if actual is not None and error is None and within(actual_at.astimezone(UTC).date()):
            a = acc[(_trunc(actual_at.astimezone(UTC), unit), names[mid])]
            a[0] += 1
            a[1] += actual.strip().lower() == prediction.strip().lower()
            x, y = _number(actual), _number(prediction)
            if vid in mae_versions and x is not None and y is not None:
                live[mid][0] += abs(x - y)
                live[mid][1] += 1
    an = Counter((_trunc(ts, unit), sev, status) for ts, metric, sev, status in anoms
                 if within(ts.date()) and (not f.severities or sev in f.severities)
                 and (not f.metrics or metric in f.metrics))
    return {"volume": sorted((p, n, c) for (p, n), c in vol.items()), "errors": errs,
            "accuracy": sorted((p, n, a, c) for (p, n), (a, c) in acc.items()),
            "mae": {mid: s / n for mid, (s, n) in live.items() if n}, "anomalies": sorted((*k, c) for k, c in an.items())}


def shown(p, f: dashboard.Filters) -> dict:
    o = dashboard.overview(p, f)
    return {"volume": sorted(o.prediction_volume), "errors": o.figures.prediction_errors,
            "accuracy": sorted(tuple(r) for r in o.accuracy_trend),
            "mae": {r.model_id: r.live for r in o.models if r.metric == "MAE" and r.live is not None},
            "anomalies": sorted(tuple(r) for r in o.anomaly_trend)}


FILTERS = [dashboard.Filters(START, START + timedelta(days=45)),  # by day
           dashboard.Filters(),  # all dates, by month
           dashboard.Filters(START + timedelta(days=5), START + timedelta(days=12), severities=("high",),
                             metrics=("orders",))]


def check(p, ids: dict) -> None:
    names = {mid: name for name, (mid, _) in ids.items() if name != "monitor"}
    for f in FILTERS:
        want, got = expected(p.tenant_id, f, names, {ids["Value"][1]}), shown(p, f)
        if f is FILTERS[0]:
            assert got["volume"] and got["accuracy"] and got["anomalies"] and got["mae"], "data must reach every series"
        for key in ("volume", "errors", "accuracy", "anomalies"):
            assert got[key] == want[key], (f, key)
        assert got["mae"].keys() == want["mae"].keys() and all(
            got["mae"][k] == pytest.approx(want["mae"][k]) for k in want["mae"]), f


def _marks(t: int) -> int:
    with tenant_session(t) as s:
        return s.scalar(sa.text("SELECT count(*) FROM rollup_marks"))


def test_rollups_equal_the_raw_rows_through_late_rows_updates_and_deletes(use_db):
    a, b = new_tenant("rollA"), new_tenant("rollB")
    ids_a, ids_b = _models(a.tenant_id), _models(b.tenant_id)
    _bulk(a.tenant_id, ids_a, 3000, seed=1)
    _bulk(b.tenant_id, ids_b, 2000, seed=2)

    # 1. nothing rolled up yet: every day is marked and read raw
    assert _marks(a.tenant_id) > 0
    check(a, ids_a)
    check(b, ids_b)

    # 2. the worker's step rolls up every marked day of every organization; then the rollups answer alone
    done = dashboard.refresh_all_rollups()
    assert done["rollup_tenants"] >= 2 and _marks(a.tenant_id) == _marks(b.tenant_id) == 0
    with tenant_session(a.tenant_id) as s:
        for table in ("prediction_daily", "outcome_daily", "anomaly_daily"):
            tenants = set(s.scalars(sa.text(f"SELECT DISTINCT tenant_id FROM {table}")))
            assert tenants == {a.tenant_id}, table  # a reads only its own rollup rows (row-level security)
    check(a, ids_a)
    check(b, ids_b)

    # 3. late and changed rows: a prediction for a day long rolled up, outcomes recorded on old predictions,
    #    anomaly triage, a deleted prediction; b writes too. Before the next step the marked days are read raw.
    churn, churn_v = ids_a["Churn"]
    with tenant_session(a.tenant_id) as s:
        s.add(m.PredictionResult(tenant_id=a.tenant_id, model_id=churn, model_version_id=churn_v, served_by="champion",
                                 input={}, input_hash="1" * 64, output={}, prediction="Yes", latency_ms=1.0,
                                 created_at=datetime(2024, 3, 2, 5, tzinfo=UTC), actual="Yes",
                                 actual_at=datetime(2024, 3, 3, 5, tzinfo=UTC)))
        s.execute(sa.text("UPDATE prediction_results SET actual = prediction, actual_at = created_at + interval '2 days' "
                          "WHERE actual IS NULL AND error IS NULL AND id % 17 = 0"))
        s.execute(sa.text("UPDATE anomalies SET status = 'resolved' WHERE id % 5 = 0 AND status <> 'resolved'"))
        s.execute(sa.text("DELETE FROM prediction_results WHERE id % 97 = 0"))
    _bulk(b.tenant_id, ids_b, 500, seed=3)
    assert _marks(a.tenant_id) > 0
    check(a, ids_a)
    check(b, ids_b)

    # 4. rolled up again: equal again, and nothing of b in a's figures (b's counts differ from a's)
    dashboard.refresh_all_rollups()
    assert _marks(a.tenant_id) == 0
    check(a, ids_a)
    check(b, ids_b)
    assert dashboard.refresh_rollups(a.tenant_id) == {"predictions": 0, "outcomes": 0, "anomalies": 0}


def test_a_mark_committed_after_the_step_began_is_kept_for_the_next_step(use_db):
    """A writer whose transaction commits while the rollup step runs is not lost (its mark survives the step)."""
    a = new_tenant("rollC")
    ids = _models(a.tenant_id)
    _bulk(a.tenant_id, ids, 200, seed=4)
    dashboard.refresh_rollups(a.tenant_id)
    churn, churn_v = ids["Churn"]
    with tenant_session(a.tenant_id) as writer:  # uncommitted while the step runs
        writer.add(m.PredictionResult(tenant_id=a.tenant_id, model_id=churn, model_version_id=churn_v,
                                      served_by="champion", input={}, input_hash="2" * 64, output={},
                                      prediction="No", latency_ms=1.0, created_at=datetime(2024, 3, 4, tzinfo=UTC)))
        writer.flush()
        assert dashboard.refresh_rollups(a.tenant_id)["predictions"] == 0  # the step cannot see it yet
    assert _marks(a.tenant_id) == 1  # committed after the step: still marked, so read raw, then rolled up
    check(a, ids)
    dashboard.refresh_rollups(a.tenant_id)
    check(a, ids)
