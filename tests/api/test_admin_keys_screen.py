"""The Admin screen creates an API key (shown once), lists it with its use, and revokes it (AppTest)."""

from __future__ import annotations

import httpx
from streamlit.testing.v1 import AppTest

from aihub import apikeys
from tests.conftest import PASSWORD, REPO, new_tenant
from tests.security.conftest import reset_throttle


def test_admin_creates_sees_and_revokes_a_key(api, server_database):
    reset_throttle(server_database)
    admin = new_tenant("keyscreen")
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(admin.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/admin.py").run()
    assert not at.exception, at.exception

    at.text_input(key="api_key_name").input("BI export")
    at.multiselect(key="api_key_scopes").set_value(["read", "detect"])
    next(b for b in at.button if b.label == "Create key").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    token = at.code[0].value
    assert token.startswith("aihub_") and any("shown only once" in s.value for s in at.success)
    key = apikeys.list_keys(admin)[0]
    assert key.name == "BI export" and key.scopes == ["read", "detect"]
    r = httpx.get(api.url + "/api/v1/datasets", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200

    at.run()
    table = next(df.value for df in at.dataframe if "scopes" in df.value.columns)
    assert list(table["name"]) == ["BI export"] and token not in table.to_string()
    at.button(key="revoke_key").click()
    at.run()
    assert not at.exception, at.exception
    assert apikeys.list_keys(admin)[0].revoked_at is not None
    r = httpx.get(api.url + "/api/v1/datasets", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
