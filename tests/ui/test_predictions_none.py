"""Predictions screen (issue 9): the category 'none' can be entered, and batch warnings show on screen by kind."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from aihub.services import datasets, jobs, registry
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from tests.conftest import PASSWORD, REPO, new_tenant


def _credit_csv(n: int = 400) -> bytes:
    rows = ["other_parties,amount,housing,class"]
    for i in range(n):
        party = "none" if i % 10 else ("guarantor" if i % 20 else "co applicant")
        housing = ("own", "rent", "free")[i % 3]
        bad = (i % 7 == 0) or (housing == "rent" and i % 3 == 0) or (party != "none" and i % 2 == 0)
        rows.append(f"{party},{100 + (37 * i) % 900},{housing},{'bad' if bad else 'good'}")
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def deployed(server_database):
    admin = new_tenant("prednone")
    saved = datasets.save_upload(admin, "credit", "credit.csv", _credit_csv())
    cfg = template_config(admin, "churn", saved.version.dataset_id, model_name="Credit", target="class",
                                     algorithm="random_forest", hyperparameters={"n_estimators": 20})
    model, job = create_model(admin, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
    registry.deploy(admin, model.id, registry.list_versions(admin, model.id)[0].id)
    return admin, model


def _login(admin) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(admin.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/predictions.py").run()
    assert not at.exception, at.exception
    return at


def test_none_is_offered_and_batch_warnings_are_counted_on_screen(deployed):
    admin, model = deployed
    at = _login(admin)
    parties = at.selectbox(key=f"f_{model.id}_other_parties")
    assert "none" in parties.options and parties.value == "none"
    at.button(key="predict_one").click()
    at.run()
    assert not at.exception, at.exception
    assert not [w.value for w in at.warning], "'none' was seen in training: no warning"

    at.session_state["pred_tab"] = "Batch"
    at.run()
    rows = ["other_parties,amount,housing"] + [f"none,{100 + i},{'castle' if i < 5 else 'own'}" for i in range(50)]
    at.file_uploader(key="batch_file").set_value(("batch.csv", ("\n".join(rows) + "\n").encode(), "text/csv"))
    at.run()
    at.button(key="batch_predict").click()
    at.run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert warnings == ["5 rows: housing = 'castle' was not seen in training; predicted as an unknown value"]
