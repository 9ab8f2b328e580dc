"""aihub.workflows.forms: the Workflows screen's form values become a definition that normalize accepts."""

from __future__ import annotations

import pytest

from aihub import workflows
from aihub.errors import ValidationError
from aihub.workflows.forms import action_from_form, trigger_from_form, workflow_from_form


def test_a_webhook_step_and_an_anomaly_trigger_build_a_valid_workflow():
    step = action_from_form({"type": "call_webhook", "approval": 1, "url": "https://hooks.example.com/x",
                             "secret": "s" * 24, "message": "{{event.metric}}", "model": 5})
    assert step == {"type": "call_webhook", "require_approval": True, "url": "https://hooks.example.com/x",
                    "secret": "s" * 24, "message": "{{event.metric}}"}  # a model means nothing to a webhook
    raw = workflow_from_form({"name": "On-call", "trigger": "anomaly_detected", "severity": "critical",
                              "monitor": None, "conditions": "metric contains revenue", "actions": [step]})
    assert raw["trigger"] == {"type": "anomaly_detected", "min_severity": "critical", "monitor_id": None}
    assert raw["enabled"] is True and raw["approval_timeout_hours"] == 72.0
    assert raw["conditions"] == [{"field": "metric", "op": "contains", "value": "revenue"}]
    name, _, enabled, definition = workflows.normalize(raw)
    assert (name, enabled) == ("On-call", True)
    assert definition["actions"][0]["url"] == "https://hooks.example.com/x"
    assert definition["actions"][0]["require_approval"] is True


@pytest.mark.parametrize(("values", "expected"), [
    ({"type": "retrain_model", "model": 3}, {"model_id": 3, "challenger_share": 0.2}),
    ({"type": "promote_challenger", "model": 3, "metric": "roc_auc", "max_drop": 0.01},
     {"model_id": 3, "metric": "roc_auc", "max_drop": 0.01}),
    ({"type": "generate_insights", "categories": " sales, ,customers "}, {"categories": ["sales", "customers"]}),
    ({"type": "batch_prediction", "model": 2, "dataset": 9}, {"model_id": 2, "dataset_id": 9}),
    ({"type": "run_monitor", "monitor": 4}, {"monitor_id": 4}),
    ({"type": "create_task", "assignee": "a@example.com", "title": "Check", "assign_anomaly": True},
     {"assignee": "a@example.com", "title": "Check", "description": "", "assign_anomaly": True}),
])
def test_each_step_type_takes_its_own_fields(values, expected):
    step = action_from_form(values)
    assert step == {"type": values["type"], "require_approval": False, **expected}


def test_triggers_take_their_own_fields():
    assert trigger_from_form({"trigger": "schedule", "cron": "0 6 * * 1"}) == {
        "type": "schedule", "cron": "0 6 * * 1", "timezone": "UTC"}
    assert trigger_from_form({"trigger": "source_synced", "source": 7, "changed": 1}) == {
        "type": "source_synced", "source_id": 7, "only_changed": True}
    assert trigger_from_form({"trigger": "accuracy_drop", "model": 2, "tolerance": 0.1, "cron": "x"}) == {
        "type": "accuracy_drop", "model_id": 2, "tolerance": 0.1}


def test_a_condition_that_cannot_be_read_is_named():
    with pytest.raises(ValidationError):
        workflow_from_form({"trigger": "schedule", "cron": "0 6 * * 1", "conditions": "metric"})
