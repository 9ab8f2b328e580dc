"""The anomaly overview (``anomaly_stats``) and the monitor list read counts, not every anomaly row; equal to the raw rows.

``anomaly_stats`` used to aggregate every anomaly of the tenant (75 ms at 100,000 anomalies, linear). It now reads
``anomaly_counts`` / ``anomaly_close_hist`` plus the pending ``anomaly_count_deltas`` (migration 0028) and one
bucket of ``ix_anomalies_tenant_closed`` for the median. Each figure is compared, at every stage (all pending,
folded by the worker's step, changed again, folded again), with two references computed for the same tenant by
the database owner with an explicit ``tenant_id`` filter (so row-level security cannot hide a leak): the old
function's SQL over the raw rows (``percentile_cont``), and the raw rows read into Python. The new figures are read
as the app role under row-level security; a second organization writes all along and never counts.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime

import pytest
import sqlalchemy as sa

from aihub.db import anomaly_store as astore
from aihub.db.session import read_session, tenant_session
from aihub.services import dashboard
from tests.conftest import new_tenant

SEVERITIES = ("critical", "high", "medium", "low")


# ---------------------------------------------------------------------------- references (owner, explicit tenant)
def old_sql_stats(db, t: int) -> astore.AnomalyStats:
    """The function as it was before migration 0028, over the raw rows, as the owner filtered to tenant ``t``."""
    with db.owner.connect() as c:
        by_sev = dict(c.execute(sa.text(
            "SELECT severity, count(*) FROM anomalies WHERE tenant_id = :t AND status = ANY(:open) GROUP BY 1"),
            {"t": t, "open": list(astore.OPEN_STATUSES)}).all())
        median, closed = c.execute(sa.text("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at)),
                   count(*)
            FROM anomalies WHERE tenant_id = :t AND resolved_at IS NOT NULL"""), {"t": t}).one()
        rows = c.execute(sa.text("""
            WITH per AS (SELECT monitor_id, status, count(*) AS n FROM anomalies WHERE tenant_id = :t GROUP BY 1, 2)
            SELECT m.id, m.name, coalesce(sum(per.n), 0),
                   coalesce(sum(per.n) FILTER (WHERE per.status = ANY(:open)), 0),
                   coalesce(sum(per.n) FILTER (WHERE per.status = ANY(:closed)), 0),
                   coalesce(sum(per.n) FILTER (WHERE per.status = 'false_positive'), 0)
            FROM monitors m LEFT JOIN per ON per.monitor_id = m.id WHERE m.tenant_id = :t
            GROUP BY m.id, m.name ORDER BY m.name, m.id"""),
            {"t": t, "open": list(astore.OPEN_STATUSES), "closed": list(astore.CLOSED_STATUSES)}).all()
    return astore.AnomalyStats({k: int(by_sev.get(k, 0)) for k in SEVERITIES},
                               float(median) / 3600.0 if median is not None else None, int(closed),
                               [astore.MonitorQuality(int(i), n, int(a), int(o), int(r), int(f))
                                for i, n, a, o, r, f in rows])


def python_stats(db, t: int) -> astore.AnomalyStats:
    """The same figures from every raw row of tenant ``t`` read into Python (``percentile_cont``'s interpolation)."""
    with db.owner.connect() as c:
        rows = c.execute(sa.text("SELECT monitor_id, severity, status, resolved_at, created_at FROM anomalies "
                                 "WHERE tenant_id = :t"), {"t": t}).all()
        monitors = c.execute(sa.text("SELECT id, name FROM monitors WHERE tenant_id = :t ORDER BY name, id"),
                             {"t": t}).all()
    open_sev = Counter(sev for _, sev, st, _, _ in rows if st in astore.OPEN_STATUSES)
    secs = sorted((r - c).total_seconds() for _, _, _, r, c in rows if r is not None)
    median = None
    if secs:
        lo, hi = secs[(len(secs) - 1) // 2], secs[len(secs) // 2]
        median = lo if len(secs) % 2 else lo + (hi - lo) * 0.5
    per: dict[int, Counter] = {}
    for mid, _, st, _, _ in rows:
        per.setdefault(mid, Counter())[st] += 1
    quality = []
    for mid, name in monitors:
        c = per.get(mid, Counter())
        quality.append(astore.MonitorQuality(
            mid, name, sum(c.values()), sum(c[s] for s in astore.OPEN_STATUSES),
            sum(c[s] for s in astore.CLOSED_STATUSES), c["false_positive"]))
    return astore.AnomalyStats({k: open_sev[k] for k in SEVERITIES},
                               median / 3600.0 if median is not None else None, len(secs), quality)


def check(db, t: int) -> astore.AnomalyStats:
    """The new figures (app role, row-level security) equal both references, field by field."""
    with read_session(t) as s:
        got = astore.anomaly_stats(s)
    old = old_sql_stats(db, t)
    assert got == old  # identical, the median to the last bit
    py = python_stats(db, t)
    assert (got.open_by_severity, got.closed, got.monitors) == (py.open_by_severity, py.closed, py.monitors)
    assert (got.median_hours_to_resolve is None) == (py.median_hours_to_resolve is None)
    if py.median_hours_to_resolve is not None:  # Python's seconds come from microseconds: equal to 1e-9 s
        assert got.median_hours_to_resolve == pytest.approx(py.median_hours_to_resolve, rel=0, abs=1e-12)
    with tenant_session(t) as s:  # the monitor list's counts too
        listed = {m.id: (m.anomalies, m.open_anomalies) for m in astore.list_monitors(s)}
    want = {q.monitor_id: (q.anomalies, q.open) for q in old.monitors}
    assert all(listed[i] == want[i] for i in listed)
    return got


# ---------------------------------------------------------------------------- writers (app role)
def _monitors(t: int, names: list[str]) -> list[int]:
    with tenant_session(t) as s:
        ids = []
        for name in names:
            ids.append(s.execute(sa.text("INSERT INTO monitors (tenant_id, name, config) VALUES (:t, :n, '{}') "
                                         "RETURNING id"), {"t": t, "n": name}).scalar_one())
    return ids


def _detect(t: int, monitor_id: int, n: int, seed: int) -> list[int]:
    """``n`` anomalies of a monitor over three metrics and two slices, through the store's insert (one statement)."""
    rows = [{"metric": ("revenue", "orders", "aov")[i % 3], "slice": f"Region=R{i % 2}",
             "ts": datetime(2024, 1, 1 + i % 28, i % 24, i % 60), "actual": 1.0, "expected": 2.0, "lower": 1.5,
             "upper": 2.5, "score": 0.9, "severity": SEVERITIES[(i + seed) % 4], "impact": -1.0, "impact_note": "",
             "root_cause": {}, "snapshot": []} for i in range(n)]
    with tenant_session(t) as s:
        run = astore.start_run(s, tenant_id=t, monitor_id=monitor_id)
        return astore.insert_anomalies(s, tenant_id=t, monitor_id=monitor_id, run_id=run.id, rows=rows)


def _close(t: int, ids: list[int], status: str, seconds: list[float]) -> None:
    """Close anomalies as triage does (``resolved_at = now()``), then set their close times (seconds after detection)."""
    with tenant_session(t) as s:
        for i, sec in zip(ids, seconds, strict=True):
            astore.update_anomaly(s, i, {"status": status, "resolved_at": "now()",
                                         "is_false_positive": status == "false_positive"})
            s.execute(sa.text("UPDATE anomalies SET resolved_at = created_at + make_interval(secs => :sec) "
                              "WHERE id = :i"), {"i": i, "sec": sec})


def _set(t: int, sql: str, **params) -> None:
    with tenant_session(t) as s:
        s.execute(sa.text(sql), params)


def _pending(t: int) -> int:
    with tenant_session(t) as s:
        return s.scalar(sa.text("SELECT count(*) FROM anomaly_count_deltas"))


# ---------------------------------------------------------------------------- tests
def test_no_anomalies_and_no_monitors(use_db):
    t = new_tenant("cntEmpty").tenant_id
    got = check(use_db, t)
    assert got == astore.AnomalyStats(dict.fromkeys(SEVERITIES, 0), None, 0, [])
    _monitors(t, ["Idle"])
    got = check(use_db, t)
    assert got.monitors[0].anomalies == 0 and got.median_hours_to_resolve is None


def test_counts_equal_the_raw_rows_through_triage_deletes_and_the_workers_fold(use_db):
    rnd = random.Random(7)
    a, b = new_tenant("cntA").tenant_id, new_tenant("cntB").tenant_id
    ma = _monitors(a, ["Revenue", "Orders", "Quiet"])  # "Quiet" never has an anomaly
    mb = _monitors(b, ["Revenue"])
    ids = {m: _detect(a, m, 60, seed=k) for k, m in enumerate(ma[:2])}
    b_ids = _detect(b, mb[0], 80, seed=5)
    _close(b, b_ids[:40], "resolved", [7.0] * 40)  # b's close times would move a's median if they leaked

    # 1. every status, severities, close times below a second, equal ones, hours and days; nothing folded yet
    first = ids[ma[0]]
    _close(a, first[:5], "resolved", [0.0, 0.25, 0.999999, 1.0, 1.000001])
    _close(a, first[5:15], "resolved", [3600.0] * 10)
    _close(a, first[15:25], "false_positive", [rnd.uniform(1, 40 * 86400) for _ in range(10)])
    _set(a, "UPDATE anomalies SET status = 'acknowledged' WHERE id = ANY(:i)", i=first[25:35])
    _set(a, "UPDATE anomalies SET status = 'investigating' WHERE id = ANY(:i)", i=first[35:40])
    assert _pending(a) > 0
    stats = check(use_db, a)
    assert stats.closed == 25 and sum(stats.open_by_severity.values()) == 95
    assert [q.name for q in stats.monitors] == ["Orders", "Quiet", "Revenue"]
    check(use_db, b)

    # 2. the worker folds every tenant's deltas; figures unchanged, deltas gone, each reads only its own rows
    dashboard.refresh_all_rollups()
    assert _pending(a) == _pending(b) == 0
    assert check(use_db, a) == stats
    with tenant_session(a) as s:
        for table in ("anomaly_counts", "anomaly_close_hist"):
            assert set(s.scalars(sa.text(f"SELECT DISTINCT tenant_id FROM {table}"))) == {a}, table
    check(use_db, b)

    # 3. reopened, re-closed, severity changed, deleted rows, an archived monitor, a deleted one (cascade);
    #    b writes too. Read mixed (folded + pending), then folded again.
    second = ids[ma[1]]
    _set(a, "UPDATE anomalies SET status = 'acknowledged', resolved_at = NULL WHERE id = ANY(:i)", i=first[:3])
    _close(a, second[:21], "resolved", [rnd.choice([60.0, 61.5, 3600.0, 86400.0 * 3]) for _ in range(21)])
    _set(a, "UPDATE anomalies SET severity = 'critical' WHERE id = ANY(:i)", i=second[30:50])
    _set(a, "DELETE FROM anomalies WHERE id = ANY(:i)", i=first[40:45] + second[:2])
    with tenant_session(a) as s:
        astore.archive_monitor(s, ma[1])
    _close(b, b_ids[40:], "false_positive", [1.0] * 40)
    check(use_db, a)
    doomed = _monitors(a, ["Doomed"])[0]
    _close(a, _detect(a, doomed, 9, seed=3), "resolved", [0.5] * 9)
    check(use_db, a)
    with tenant_session(a) as s:
        astore.delete_monitor(s, doomed)  # its anomalies go by cascade
    check(use_db, a)
    dashboard.refresh_all_rollups()
    final = check(use_db, a)
    check(use_db, b)
    assert final.closed == 25 - 3 + 21 - 2
    with tenant_session(a) as s:  # zero counts are removed, and what is folded sums to the rows
        assert s.scalar(sa.text("SELECT count(*) FROM anomaly_counts WHERE n = 0")) == 0
        assert s.scalar(sa.text("SELECT sum(n) FROM anomaly_counts")) == s.scalar(
            sa.text("SELECT count(*) FROM anomalies"))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 17, 64, 301])
def test_median_across_bucket_edges_equals_percentile_cont(use_db, n):
    """Odd and even counts, the two middle values in one bucket or in two, many equal values, folded or not."""
    rnd = random.Random(n)
    t = new_tenant("cntMed").tenant_id
    mon = _monitors(t, ["M"])[0]
    ids = _detect(t, mon, max(n, 28), seed=n)  # a few stay open
    spread = [rnd.choice([0.0, 0.5, 2.0, 59.9, 60.0, 3600.0]) if rnd.random() < 0.3 else 10 ** rnd.uniform(0, 7)
              for _ in range(n)]
    _close(t, ids[:n], rnd.choice(["resolved", "false_positive"]), spread)
    check(use_db, t)
    dashboard.refresh_rollups(t)
    check(use_db, t)
    _set(t, "UPDATE anomalies SET resolved_at = resolved_at + interval '90 minutes' WHERE id = ANY(:i)",
         i=ids[: n // 2])  # close times move across buckets
    check(use_db, t)


def test_the_median_reads_one_bucket_by_index_under_row_level_security(use_db):
    """The median's index condition is on ``close_bucket`` as the app role (leakproof), not a filter after RLS."""
    t = new_tenant("cntPlan").tenant_id
    mon = _monitors(t, ["M"])[0]
    ids = _detect(t, mon, 40, seed=1)
    _close(t, ids, "resolved", [float(i * 100) for i in range(40)])
    with read_session(t) as s:
        s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in s.execute(sa.text("EXPLAIN " + astore._MEDIAN)).all())
        others = "\n".join(r[0] for sql in (astore._OPEN_BY_SEVERITY, astore._PER_MONITOR)
                           for r in s.execute(sa.text("EXPLAIN " + sql),
                                              {"open": ["new"], "closed": ["resolved"]}).all())
    assert "ix_anomalies_tenant_closed" in plan, plan
    cond = [line for line in plan.splitlines() if "Index Cond" in line and "close_bucket" in line]
    assert cond, plan
    assert " on anomalies " not in others and "anomalies a" not in others, others  # counts only


def test_the_dashboards_metric_choices_skip_through_the_index(use_db):
    """``filter_choices`` lists a tenant's anomaly metrics by one index probe per metric, equal to ``DISTINCT``."""
    from aihub.db import dashboard_store

    a, b = new_tenant("cntMetA").tenant_id, new_tenant("cntMetB").tenant_id
    with read_session(a) as s:
        assert dashboard_store.filter_choices(s)[1] == []
    _detect(a, _monitors(a, ["M"])[0], 50, seed=1)  # revenue, orders, aov
    _set(a, "UPDATE anomalies SET metric = 'Zeta rate' WHERE id % 7 = 0")
    _set(a, "UPDATE anomalies SET metric = 'ärger' WHERE id % 11 = 0")
    _detect(b, _monitors(b, ["M"])[0], 5, seed=1)
    _set(b, "UPDATE anomalies SET metric = 'b only'")
    with use_db.owner.connect() as c:
        want = list(c.scalars(sa.text("SELECT DISTINCT metric FROM anomalies WHERE tenant_id = :t ORDER BY 1"),
                              {"t": a}))
    with read_session(a) as s:
        assert dashboard_store.filter_choices(s)[1] == want
        s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in s.execute(sa.text("EXPLAIN (ANALYZE, COSTS OFF) " + dashboard_store.DISTINCT_METRICS)).all())
    assert "b only" not in want and len(want) == 5
    assert any("Index Cond" in line and "metric >" in line for line in plan.splitlines()), plan


def test_the_worklist_reads_open_anomalies_in_index_order_with_one_query(use_db):
    """The worklist (open anomalies, most severe first, then |impact|) equals a Python sort of the raw rows, comes
    from ``ix_anomalies_tenant_open_worklist`` as the app role, and reads each anomaly's type with the row (one
    query, not one more per anomaly)."""
    from aihub.db import models

    assert models.SEVERITY_RANK_SQL == "CASE severity " + " ".join(
        f"WHEN '{k}' THEN {v}" for k, v in astore.SEVERITY_RANK.items()) + " ELSE 0 END"
    a, b = new_tenant("cntWlA").tenant_id, new_tenant("cntWlB").tenant_id
    ids = _detect(a, _monitors(a, ["M"])[0], 120, seed=2)
    _detect(b, _monitors(b, ["M"])[0], 30, seed=1)
    _set(a, "UPDATE anomalies SET impact = CASE WHEN id % 9 = 0 THEN NULL ELSE (id % 13 - 6) * 10.0 END, "
            "root_cause = jsonb_build_object('shape', jsonb_build_object('type', 'spike', 'evidence', 'e' || id))")
    _set(a, "UPDATE anomalies SET severity = 'unknown' WHERE id = :i", i=ids[0])
    _close(a, ids[1:40], "resolved", [60.0] * 39)
    with use_db.owner.connect() as c:
        rows = c.execute(sa.text("SELECT id, severity, impact, ts FROM anomalies WHERE tenant_id = :t "
                                 "AND status IN ('new', 'acknowledged', 'investigating')"), {"t": a}).all()
    want = [r.id for r in sorted(rows, key=lambda r: (-astore.SEVERITY_RANK.get(r.severity, 0),
                                                       -(abs(r.impact) if r.impact is not None else -1.0),
                                                       -r.ts.timestamp(), -r.id))][:50]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(use_db.app, "before_cursor_execute", seen)
    try:
        with tenant_session(a) as s:
            got = astore.list_anomalies(s, statuses=list(astore.OPEN_STATUSES), limit=50)
    finally:
        sa.event.remove(use_db.app, "before_cursor_execute", seen)
    assert [r.id for r in got] == want
    assert all(r.kind == "spike" and r.kind_evidence == f"e{r.id}" for r in got)
    assert sum("FROM anomalies" in st for st in statements) == 1, statements
    with tenant_session(a) as s:
        s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        s.execute(sa.text("SET LOCAL enable_sort = off"))
        q = astore._anomaly_select().where(models.Anomaly.status.in_(["new", "investigating"])).order_by(
            astore._severity_rank().desc(), sa.func.abs(models.Anomaly.impact).desc().nulls_last(),
            models.Anomaly.ts.desc(), models.Anomaly.id.desc()).limit(50)
        sql = str(q.compile(dialect=s.bind.dialect, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[0] for r in s.execute(sa.text("EXPLAIN " + sql)).all())
    assert "ix_anomalies_tenant_open_worklist" in plan and "Sort Key" not in plan, plan
