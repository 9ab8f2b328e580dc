"""The demo tenant as `make run` seeds it: data, models, monitor, sources, insights and automations."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer

from aihub import demo, demo_automation, demo_sources, workflows
from aihub.db import engine as dbengine
from aihub.services import anomalies as anomaly_svc
from aihub.services import datasets, health, registry, sources
from aihub.services import insights as insights_service


def test_the_demo_tenant_is_complete_and_seeding_twice_loses_nothing(server_database, monkeypatch):
    dbengine.set_database(server_database)
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1,localhost")
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", demo_sources.SHOP_DATABASE)  # as `make run` sets it
    server = ThreadingHTTPServer(("127.0.0.1", 0), demo_sources._DemoApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(demo_sources, "API_PORT", server.server_port)
    try:
        admin = demo.seed_demo()
        demo_sources.seed_demo_sources(admin)
        created = demo_automation.seed_demo_workflows(admin)
        assert len(created) == 3

        names = {d.name for d in datasets.list_datasets(admin)}
        assert {"Demo orders", "Demo customers", "Shop database"} <= names
        models = {m.name: m for m in registry.list_models(admin)}
        assert models["Demo monthly sales"].active_version_id and models["Demo churn"].active_version_id
        for name in ("Demo recommendations", "Demo customer value", "Demo prices", "Demo stock", "Demo reviews"):
            assert models[name].active_version_id, name  # every business analytic trained and serving
        assert anomaly_svc.list_anomalies(admin)
        assert insights_service.list_insights(admin)
        assert {s.name for s in sources.list_sources(admin)} == {"Shop database", "Shop orders API"}

        drift = health.latest_drift(admin, models["Demo churn"].id)
        assert drift is not None and drift.dataset_drift, drift and drift.share_drifted
        deadline = time.time() + 60  # the drift workflow runs in the background until it waits for approval
        while not (pending := workflows.list_approvals(admin)) and time.time() < deadline:
            time.sleep(0.5)
        assert pending and pending[0].status == "pending"
        assert "retrain" in str(pending[0].action).lower()

        again = demo.seed_demo()
        assert again.tenant_id == admin.tenant_id
        assert demo_sources.seed_demo_sources(again) == [] and demo_automation.seed_demo_workflows(again) == []
        assert {d.name for d in datasets.list_datasets(admin)} == names
    finally:
        server.shutdown()
        server.server_close()
