"""Lists that page in the database (keyset: ``id < cursor`` ... ``LIMIT n + 1``), paged over HTTP through more
rows than the bounded reads they replaced (which stopped at 500 jobs, 1,000 runs or approvals, 5,000 insights):
every row comes exactly once, newest first, and a row added while a client pages neither shifts nor repeats one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from aihub.db import models as m
from aihub.db.session import tenant_session
from tests.api.conftest import client, make_key

N_RUNS = 1_050  # over the 1,000 of the old in-memory reads of monitor and workflow runs and approvals
N_JOBS = 520  # over the old 500 of a model's jobs
N_INSIGHTS = 5_020  # over the old 5,000 of insights
FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows(_server_database_session, live_api):
    from aihub.db import engine as dbengine
    from tests.conftest import new_tenant

    dbengine.set_database(_server_database_session)
    org = new_tenant("keyset")
    t = org.tenant_id
    with tenant_session(t) as s:
        monitor = m.Monitor(tenant_id=t, name="pages", dataset_id=None, config={})
        model = m.Model(tenant_id=t, name="pages", kind="ml", config={})
        workflow = m.Workflow(tenant_id=t, name="pages", definition={"trigger": {"type": "manual"},
                                                                     "conditions": [], "actions": []})
        s.add_all([monitor, model, workflow])
        s.flush()
        s.execute(sa.insert(m.MonitorRun), [{"tenant_id": t, "monitor_id": monitor.id, "status": "succeeded"}
                                            for _ in range(N_RUNS)])
        s.execute(sa.insert(m.TrainingJob), [{"tenant_id": t, "model_id": model.id, "kind": "ml", "payload": {},
                                              "status": "succeeded"} for _ in range(N_JOBS)])
        run_ids = s.scalars(sa.insert(m.WorkflowRun).returning(m.WorkflowRun.id),
                            [{"tenant_id": t, "workflow_id": workflow.id, "trigger": {}, "status": "waiting_approval",
                              "steps": []} for _ in range(N_RUNS)]).all()
        s.execute(sa.insert(m.Approval), [{"tenant_id": t, "workflow_run_id": r, "step_index": 0, "action": {},
                                           "context": {}, "status": "pending", "expires_at": FAR} for r in run_ids])
        s.execute(sa.insert(m.Insight), [{
            "tenant_id": t, "type": "trend", "category": "sales", "priority": "high", "score": float(i % 97),
            "confidence": 0.9, "title": f"t{i}", "narrative": "n", "recommended_actions": [], "evidence": [],
            "figures": {}, "fingerprint": f"{i:064d}", "valid_from": datetime(2021, 1, 1, tzinfo=UTC),
            "valid_until": FAR} for i in range(N_INSIGHTS)])
    return {"org": org, "monitor_id": monitor.id, "model_id": model.id, "workflow_id": workflow.id}


def _all_pages(c, path: str, limit: int = 500) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        r = c.get(path, params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


LISTS = [("/monitors/{monitor_id}/runs", N_RUNS), ("/models/{model_id}/jobs", N_JOBS),
         ("/workflows/{workflow_id}/runs", N_RUNS), ("/approvals", N_RUNS), ("/insights", N_INSIGHTS)]


@pytest.mark.parametrize(("path", "n"), LISTS, ids=[p for p, _ in LISTS])
def test_paging_through_more_rows_than_the_old_bounded_reads(api, rows, path, n):
    with client(api, make_key(rows["org"])) as c:
        pages = _all_pages(c, path.format(**rows))
    ids = [i for page in pages for i in page]
    assert len(ids) == n and len(set(ids)) == n, (len(ids), len(set(ids)))
    assert ids == sorted(ids, reverse=True)  # newest first across pages
    assert [len(p) for p in pages] == [500] * (n // 500) + ([n % 500] if n % 500 else [])


def test_a_row_added_between_pages_neither_shifts_nor_repeats(api, rows):
    with client(api, make_key(rows["org"])) as c:
        path = f"/monitors/{rows['monitor_id']}/runs"
        first = c.get(path, params={"limit": 10}).json()
        with tenant_session(rows["org"].tenant_id) as s:
            s.add(m.MonitorRun(tenant_id=rows["org"].tenant_id, monitor_id=rows["monitor_id"], status="running"))
        second = c.get(path, params={"limit": 10, "cursor": first["next_cursor"]}).json()
        a, b = [i["id"] for i in first["items"]], [i["id"] for i in second["items"]]
        assert not set(a) & set(b) and max(b) < min(a) and len(b) == 10
        bad = c.get(path, params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422 and bad.json()["field"] == "cursor"
