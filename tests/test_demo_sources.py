"""The demo tenant's connected sources: the generated shop database and the demo orders API."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

from aihub import demo_sources
from aihub.services import datasets, sources
from tests.conftest import new_tenant


def test_demo_sources_connect_and_sync(server_database, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1,localhost")
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", demo_sources.SHOP_DATABASE)  # as `make run` sets it
    server = ThreadingHTTPServer(("127.0.0.1", 0), demo_sources._DemoApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(demo_sources, "API_PORT", server.server_port)
    try:
        admin = new_tenant("demosrc")
        assert demo_sources.seed_demo_sources(admin) == ["Shop database", "Shop orders API"]
        assert demo_sources.seed_demo_sources(admin) == []
        by_name = {s.name: s for s in sources.list_sources(admin)}
        db_sync = sources.list_syncs(admin, by_name["Shop database"].id)[0]
        assert db_sync.status == "succeeded" and db_sync.rows_written > 1000, db_sync.error
        api_sync = sources.sync(admin, by_name["Shop orders API"].id)
        assert api_sync.status == "succeeded", api_sync.error
        frame = datasets.load_frame(admin, api_sync.dataset_version_id)
        assert len(frame) == len(demo_sources.recent_orders()) and frame["sales"].sum() > 0
    finally:
        server.shutdown()
        server.server_close()
