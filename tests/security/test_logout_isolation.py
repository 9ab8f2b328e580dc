"""Attack (issue 10, item 3b): the previous user's results survive logout.

The probe: in one browser tab, after the admin logged out and a viewer
logged in, the viewer saw the admin's prediction and batch and could
download the admin's CSV. Here two users log in in turn in one tab; the
second must see nothing the first left in the session.
"""

from __future__ import annotations

import re

import pytest

from aihub import auth
from aihub.demo import generate_customers
from aihub.services import datasets, jobs, registry
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from tests.conftest import PASSWORD, new_tenant
from tests.security.conftest import log_in, log_out, new_page, open_screen


@pytest.fixture
def deployed(srv):
    """A tenant with a deployed churn model, and a viewer in it."""
    admin = new_tenant("twousers")
    frame = generate_customers(600)
    saved = datasets.save_upload(admin, "Customers", "customers.csv", frame.to_csv(index=False).encode())
    cfg = template_config(admin, "churn", saved.version.dataset_id, model_name="Churn",
                                     algorithm="random_forest", hyperparameters={"n_estimators": 20})
    model, job = create_model(admin, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded"
    registry.deploy(admin, model.id, registry.list_versions(admin, model.id)[0].id)
    viewer = auth.add_user(admin, f"viewer-{admin.tenant_id}@example.com", "Vera", "viewer", PASSWORD)
    return admin, viewer


def test_the_next_user_in_the_same_tab_sees_nothing_of_the_previous_one(deployed, served_app, chromium, tmp_path):
    from playwright.sync_api import expect

    admin, viewer = deployed
    page = new_page(chromium)
    log_in(page, served_app, admin.username, PASSWORD)
    open_screen(page, "Predictions")
    expect(page.get_by_text("Champion: version 1")).to_be_visible()
    page.get_by_role("button", name="Predict").click()
    caption = page.get_by_text(re.compile(r"Prediction #\d+ · version"))
    expect(caption).to_be_visible()
    admins_prediction = re.search(r"Prediction #\d+", caption.inner_text()).group(0)

    # The admin's batch and its results download (what the viewer downloaded before the fix).
    batch_file = tmp_path / "to_score.csv"
    generate_customers(50, seed=11).drop(columns=["Churned"]).to_csv(batch_file, index=False)
    page.get_by_role("tab", name="Batch").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(batch_file))
    expect(page.get_by_role("button", name="Predict file")).to_be_enabled()
    page.get_by_role("button", name="Predict file").click()
    expect(page.get_by_role("button", name="Download results CSV")).to_be_visible()
    admins_batch = re.search(r"batch #\d+", page.inner_text("body")).group(0)

    log_out(page)
    page.get_by_role("textbox", name="E-mail").fill(viewer.username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Dashboard").first).to_be_visible()
    page.wait_for_timeout(1500)  # the run that writes the cookie finishes
    open_screen(page, "Predictions")
    expect(page.get_by_text("Your role can view predictions but not make them.")).to_be_visible()

    body = page.inner_text("body")
    assert admins_prediction not in body, "the viewer sees the admin's last prediction"
    assert page.get_by_text(re.compile(r"Prediction #\d+ · version")).count() == 0
    page.get_by_role("tab", name="Batch").click()
    expect(page.get_by_text("Earlier batches")).to_be_visible()  # the organization's list: the viewer may read it
    page.wait_for_timeout(1500)
    assert page.get_by_role("button", name="Download results CSV").count() == 0, "the admin's results download"
    assert admins_batch not in page.inner_text("body"), "the viewer sees the admin's last batch"
    assert "Vera" in body and admin.username not in body
