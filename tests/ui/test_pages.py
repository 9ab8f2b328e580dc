"""The pages, driven through Streamlit's AppTest on the real database.

The login form is driven as a user would; the cookie component cannot run
under AppTest, so the session is carried by AppTest's own session_state.
"""

from __future__ import annotations

import time

import pytest

from aihub import auth
from aihub.services import registry
from tests.conftest import PASSWORD, new_tenant
from tests.fixtures import _app, _login, _texts


@pytest.fixture
def admin(server_database):
    return new_tenant("pages")


def test_wrong_password_is_refused(admin):
    at = _login(_app(), admin.username, "not-the-password")
    assert not at.exception
    assert any("Wrong e-mail or password" in e.value for e in at.error)
    assert "principal" not in at.session_state


def test_navigation_follows_the_role(admin):
    at = _login(_app(), admin.username, PASSWORD)
    assert not at.exception, at.exception
    assert at.session_state["principal"].tenant_id == admin.tenant_id
    assert "Dashboard" in [t.value for t in at.title]
    at.switch_page("app_pages/admin.py").run()
    assert "Admin" in [t.value for t in at.title]

    auth.add_user(admin, "viewer-pages@example.com", "Viewer", "viewer", PASSWORD)
    viewer = _login(_app(), "viewer-pages@example.com", PASSWORD)
    assert viewer.session_state["principal"].role == "viewer"
    viewer.switch_page("app_pages/data_sources.py").run()
    assert not viewer.exception
    assert "Your role can view datasets but not upload them." in _texts(viewer)


def test_upload_train_deploy_and_see_the_forecast(admin, superstore_bytes):
    at = _login(_app(), admin.username, PASSWORD)
    at.switch_page("app_pages/data_sources.py").run()
    at.file_uploader(key="upload_file").set_value(("superstore_orders.csv", superstore_bytes, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert "10,194 rows" in _texts(at)
    at.text_input(key="dataset_name").input("Superstore")
    at.button(key="save_dataset").click()
    at.run()
    assert "Saved **Superstore** version 1: 10,194 rows." in _texts(at)

    at.switch_page("app_pages/forecasts.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="fc_dataset").select("Superstore")
    at.run()
    at.selectbox(key="fc_date").select("Order Date")
    at.selectbox(key="fc_value").select("Sales")
    at.selectbox(key="fc_freq").select("M")
    at.number_input(key="fc_horizon").set_value(0)
    at.text_input(key="fc_name").input("Monthly sales")
    at.button(key="fc_train").click()
    at.run()
    assert any("Horizon must be a whole number" in e.value for e in at.error), "per-field error expected"

    at.number_input(key="fc_horizon").set_value(6)
    at.button(key="fc_train").click()
    at.run()
    model = registry.list_models(admin)[0]
    job = registry.list_jobs(admin, model.id)[0]
    deadline = time.time() + 180
    while not registry.get_job(admin, job.id).done and time.time() < deadline:
        time.sleep(0.5)
    assert registry.get_job(admin, job.id).status == "succeeded", registry.get_job(admin, job.id).error
    at.run()
    assert not at.exception, at.exception
    assert "Training of **Monthly sales** finished" in _texts(at)
    at.button(key="deploy").click()
    at.run()
    assert registry.get_model(admin, model.id).active_version == 1
    assert any(c.proto.spec for c in at.get("plotly_chart")), "forecast chart expected"

    at.switch_page("app_pages/dashboard.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Datasets"] == "1" and metrics["Active models"] == "1"
    assert "**Monthly sales** · version 1" in _texts(at)
