"""The Admin screen shows locked accounts with an unlock action and the organization's audit log (AppTest)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from aihub import auth
from aihub.errors import PermissionDenied
from tests.conftest import PASSWORD, REPO, new_tenant


def _admin_screen(email: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(email)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/admin.py").run()
    assert not at.exception, at.exception
    return at


def test_admin_sees_and_lifts_a_lock_and_reads_the_audit_log(srv):
    admin = new_tenant("adminscreen")
    victim = auth.add_user(admin, f"locked-{admin.tenant_id}@example.com", "Lou", "analyst", PASSWORD)
    policy = auth.LoginPolicy(account_backoff_after=100, account_lock_after=3, lock_for=timedelta(minutes=15))
    for _ in range(3):
        with pytest.raises(PermissionDenied):
            auth.login(victim.username, "wrong-wrong-1", client="192.0.2.70", policy=policy)

    at = _admin_screen(admin.username)
    frames = [df.value for df in at.dataframe]
    locks = next(f for f in frames if "locked until" in f.columns)
    assert list(locks["user"]) == [victim.username]
    log = next(f for f in frames if "event" in f.columns)
    assert {"user_added", "login_failed", "login_locked", "login_succeeded"} <= set(log["event"])

    at.selectbox(key="unlock_user").select(victim.username)
    at.button(key="unlock_account").click()
    at.run()
    assert not at.exception, at.exception
    assert auth.account_locks(admin) == []
    assert any("can log in again" in s.value for s in at.success)
    assert auth.login(victim.username, PASSWORD, client="192.0.2.70", policy=policy)[0].user_id == victim.id
