"""The prediction model form on the Models screen (AppTest on PostgreSQL, shared tables).

Issues 9 and 12: a 0/1 target trains through the form end to end and its
score is named after the positive class; the positive class is shown with its
default and can be changed; a few-valued numeric target asks "classes or
amounts?"; the form keeps its values after a failed training and across tabs.
"""

from __future__ import annotations

import time

import pandas as pd
from streamlit.testing.v1 import AppTest

from aihub import ml
from aihub.services import datasets, model_training, registry
from tests.conftest import PASSWORD, REPO, new_tenant, shared_file


def _login(username: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/models.py").run()
    assert not at.error, [e.value for e in at.error]  # nothing red before anything is touched
    at.session_state["models_tab"] = "New prediction model"
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "success", "info", "error", "warning", "caption")
                     for e in getattr(at, kind))


def _wait(principal, job_id: int, seconds: float = 180):
    deadline = time.time() + seconds
    while not registry.get_job(principal, job_id).done and time.time() < deadline:
        time.sleep(0.3)
    return registry.get_job(principal, job_id)


def _upload(admin, name: str, filename: str) -> None:
    path = shared_file("tables", filename)
    datasets.save_upload(admin, name, path.name, path.read_bytes())


def _train_click(at: AppTest, admin):
    at.button(key="ml_train").click()
    at.run()
    assert not at.exception, at.exception
    model = model_training.list_models(admin)[0]
    return model, _wait(admin, registry.list_jobs(admin, model.id)[0].id)


def test_a_0_1_target_trains_through_the_form_and_predicts_with_a_named_score(server_database):
    admin = new_tenant("form01")
    _upload(admin, "Heart", "heart_disease.csv")
    at = _login(admin.username)
    assert at.selectbox(key="ml_target").value is None, "no outcome column guessed when the template finds none"
    assert "could not find the outcome column" in _texts(at).lower()
    at.selectbox(key="ml_target").select("target")
    at.run()
    positive = at.selectbox(key="ml_positive")
    assert positive.value == 1 and positive.options == ["0", "1"]
    assert "Default: **1**, because its name marks the outcome of interest." in _texts(at)
    assert at.text_input(key="ml_score_label").placeholder == "P(target)"
    at.selectbox(key="ml_algorithm").select("logistic_regression")
    at.run()
    model, job = _train_click(at, admin)
    assert job.status == "succeeded", job.error
    at.run()
    assert "Training of **Churn prediction on Heart** finished" in _texts(at)
    version = registry.list_versions(admin, model.id)[0]
    assert version.params["positive_class"] == 1 and version.params["target_kind"] == "binary"
    assert "The score **P(target)** is the probability of **1**" in _texts(at)
    assert any(m.label == "Test Brier score" for m in at.metric)
    at.button(key="deploy").click()
    at.run()
    assert "Version 1 of **Churn prediction on Heart** is deployed" in _texts(at)
    assert registry.get_model(admin, model.id).active_version == 1

    at.switch_page("app_pages/predictions.py").run()
    at.button(key="predict_one").click()
    at.run()
    assert not at.exception, at.exception
    labels = {m.label for m in at.metric}
    assert "P(target)" in labels and not any("churn" in label.lower() for label in labels)


def test_the_positive_class_can_be_changed_and_is_stored(server_database):
    admin = new_tenant("formpos")
    heart = pd.read_csv(shared_file("tables", "heart_disease.csv"))
    heart["target"] = heart["target"].map({0: "good", 1: "bad"})
    datasets.save_upload(admin, "Credit", "credit.csv", heart.to_csv(index=False).encode())
    at = _login(admin.username)
    at.selectbox(key="ml_target").select("target")
    at.run()
    assert at.selectbox(key="ml_positive").value == "bad"
    at.selectbox(key="ml_positive").select("good")
    at.run()
    assert "You chose **good**." in _texts(at)
    assert at.text_input(key="ml_score_label").placeholder == "P(good)"
    at.text_input(key="ml_score_label").input("Chance of good")
    at.selectbox(key="ml_algorithm").select("logistic_regression")
    at.run()
    model, job = _train_click(at, admin)
    assert job.status == "succeeded", job.error
    version = registry.list_versions(admin, model.id)[0]
    assert version.params["positive_class"] == "good" and version.params["positive_reason"] == "configured"
    assert version.params["score_name"] == "Chance of good"


def test_a_few_valued_number_asks_classes_or_amounts(server_database):
    admin = new_tenant("formwine")
    _upload(admin, "Wine", "winequality_red.csv")
    at = _login(admin.username)
    at.selectbox(key="ml_target").select("quality")
    at.run()
    answer = at.radio(key="ml_task_answer")
    assert answer.value == "classification", "a churn template reads it as classes unless told otherwise"
    assert "quality holds 6 distinct numbers, from 3 to 8" in _texts(at)
    assert "6 classes: 3, 4, 5, 6, 7, 8" in _texts(at)
    answer.set_value("regression")
    at.run()
    assert "linear_regression" in at.selectbox(key="ml_algorithm").options
    assert at.selectbox(key="ml_model_type").value == "(general)"
    assert '"task": "regression"' in at.code[0].value and "positive_class" not in at.code[0].value


def test_the_form_keeps_its_values_after_a_failed_training(server_database, monkeypatch):
    admin = new_tenant("formkeep")
    _upload(admin, "Cars", "car_evaluation.csv")
    _upload(admin, "Heart", "heart_disease.csv")  # listed first: a reset would land on it
    at = _login(admin.username)
    at.selectbox(key="ml_template").select("lead_scoring")
    at.selectbox(key="ml_dataset").select("Cars")
    at.run()
    at.selectbox(key="ml_target").select("class")
    at.run()
    at.selectbox(key="ml_algorithm").select("random_forest")
    at.run()
    at.number_input(key="ml_hp_random_forest_n_estimators").set_value(25)
    at.text_input(key="ml_name").input("Car acceptance")
    at.run()

    def broken(*args, **kwargs):
        raise RuntimeError("The classes, [0, 1], are not in class_weight")

    monkeypatch.setattr(ml, "train_model", broken)
    model, job = _train_click(at, admin)
    assert job.status == "failed" and job.error.startswith("Training could not finish")
    at.run()
    text = _texts(at)
    assert "Training of **Car acceptance** failed: Training could not finish" in text
    assert "class_weight" not in text and "Traceback" not in text
    at.session_state["models_tab"] = "New prediction model"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ml_template").value == "lead_scoring"
    assert at.selectbox(key="ml_dataset").value == "Cars"
    assert at.selectbox(key="ml_target").value == "class"
    assert at.selectbox(key="ml_algorithm").value == "random_forest"
    assert at.number_input(key="ml_hp_random_forest_n_estimators").value == 25
    assert at.text_input(key="ml_name").value == "Car acceptance"

    monkeypatch.undo()
    again, job2 = _train_click(at, admin)
    assert again.id == model.id and job2.status == "succeeded", job2.error
    version = registry.list_versions(admin, model.id)[0]
    assert version.params["target_kind"] == "multiclass" and version.algorithm == "random_forest"
