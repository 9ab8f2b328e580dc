"""The Data sources page's connected-sources panel, driven through AppTest against a real HTTP API."""

from __future__ import annotations

import json

from aihub.services import sources
from tests.conftest import PASSWORD, new_tenant
from tests.fixtures import _app, _login, _rest, _texts


def test_connect_test_save_and_sync_a_rest_source(server_database, api):
    admin = new_tenant("srcpage")
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page("app_pages/data_sources.py").run()
    assert not at.exception, at.exception
    at.radio(key="src_mode").set_value("JSON").run()
    at.text_area(key="src_json").input(json.dumps(_rest(api))).run()
    at.button(key="src_test").click().run()
    assert not at.exception, at.exception
    assert any("sample row" in s.value for s in at.success), _texts(at)
    at.button(key="src_save").click().run()
    assert "Saved **Orders API**" in _texts(at)
    (src,) = sources.list_sources(admin)
    at.run()
    at.button(key="src_sync").click().run()
    assert "Sync succeeded: read 5 rows, wrote 5" in _texts(at)
    assert sources.list_syncs(admin, src.id)[0].status == "succeeded"
    assert "s3cret-bearer-token" not in json.dumps([j.value for j in at.json])
