"""services.model_config: the guided form's widget values -> a training configuration (pure, no database)."""

from __future__ import annotations

import pytest

from aihub.errors import ValidationError
from aihub.ml import TrainingConfig
from aihub.services.model_config import build_config, sentence, worded

CHURN_BASE = {"model_name": "churn_model", "model_type": "churn_prediction", "algorithm": "auto",
              "hyperparameters": {"class_weight": "balanced"}, "excluded_columns": ["Customer ID"],
              "feature_engineering": {"normalize": True, "handle_missing": "median"},
              "validation_split": 0.1, "test_split": 0.2}


def _form(**changes):
    form = {"model_name": "Credit risk", "task": "classification", "model_type": "churn_prediction",
            "target": "class", "features": ["amount", "housing"], "data_prep": None, "positive_class": "bad",
            "score_label": "", "handle_missing": "mean", "normalize": False, "max_categories": 12,
            "algorithm": "random_forest", "hyperparameters": {"n_estimators": 30},
            "validation_split": 0.15, "test_split": 0.25, "random_seed": 7}
    form.update(changes)
    return form


def test_classification_keeps_the_template_type_and_the_chosen_positive_class():
    cfg = build_config(CHURN_BASE, _form())
    assert cfg["model_type"] == "churn_prediction" and "task" not in cfg
    assert cfg["positive_class"] == "bad" and "score_label" not in cfg
    assert cfg["target"] == "class" and cfg["features"] == ["amount", "housing"]
    assert cfg["excluded_columns"] == ["Customer ID"], "keys the form does not show are kept"
    assert cfg["feature_engineering"] == {"normalize": False, "handle_missing": "mean", "max_categories": 12}
    assert cfg["hyperparameters"] == {"n_estimators": 30}, "the template's class weight belongs to its algorithm"
    assert (cfg["validation_split"], cfg["test_split"], cfg["random_seed"]) == (0.15, 0.25, 7)
    parsed = TrainingConfig.from_dict(cfg)
    assert parsed.task == "classification" and parsed.positive_class == "bad"


def test_a_score_name_is_kept_only_when_given():
    cfg = build_config(CHURN_BASE, _form(score_label="  Risk of bad "))
    assert cfg["score_label"] == "Risk of bad"
    assert TrainingConfig.from_dict(cfg).score_label == "Risk of bad"


def test_amounts_answer_turns_a_churn_template_into_a_general_regression():
    cfg = build_config(CHURN_BASE, _form(task="regression", target="quality", positive_class=5, score_label="x",
                                         algorithm="auto", hyperparameters={}))
    assert "model_type" not in cfg and cfg["task"] == "regression"
    assert "positive_class" not in cfg and "score_label" not in cfg
    assert TrainingConfig.from_dict(cfg).task == "regression"


def test_no_business_type_sets_the_task_itself():
    cfg = build_config(CHURN_BASE, _form(model_type=None, positive_class=1))
    assert cfg["task"] == "classification" and "model_type" not in cfg and cfg["positive_class"] == 1


def test_orders_templates_keep_their_columns_and_clustering_has_no_target():
    base = {"model_name": "rfm", "model_type": "customer_segmentation", "algorithm": "kmeans",
            "hyperparameters": {"n_clusters": 5}, "validation_split": 0.0, "test_split": 0.2}
    prep = {"kind": "rfm", "customer_column": "Customer ID", "date_column": "Order Date",
            "amount_column": "Sales", "order_column": None}
    cfg = build_config(base, _form(task="clustering", model_type="customer_segmentation", data_prep=prep,
                                   target=None, features=None, algorithm="kmeans",
                                   hyperparameters={"n_clusters": 4}, validation_split=0.0))
    assert cfg["data_prep"] == prep and "target" not in cfg and "positive_class" not in cfg
    assert TrainingConfig.from_dict(cfg).hyperparameters["n_clusters"] == 4


def test_messages_read_as_sentences_and_keep_configuration_keys():
    assert sentence("target column 'x' cannot be used: it is empty") == "Target column 'x' cannot be used: it is empty."
    assert sentence("hyperparameters.max_depth must be an integer; got 0") == (
        "The setting hyperparameters.max_depth must be an integer; got 0.")
    err = worded(ValidationError("positive_class must be one of 0, 1; got 2", field="positive_class",
                                 details={"allowed": ["0", "1"]}))
    assert str(err) == "The setting positive_class must be one of 0, 1; got 2."
    assert err.field == "positive_class" and err.details == {"allowed": ["0", "1"]}


@pytest.mark.parametrize("bad", [{"model_name": ""}, {"validation_split": 0.6}])
def test_bad_form_values_fail_validation_by_field(bad):
    with pytest.raises(ValidationError) as err:
        TrainingConfig.from_dict(build_config(CHURN_BASE, _form(**bad)))
    assert err.value.field in ("model_name", "validation_split")
