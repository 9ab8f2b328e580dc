"""Builders from the Workflows screen's form values to a workflow definition (validated by :func:`normalize`).

The screen keeps each widget's value under a short key (``type``, ``model``,
``cron`` ...); these functions turn them into the JSON a workflow is stored as,
so the screen only lays out widgets and the rules live here, with unit tests.
Neither validates: :func:`aihub.workflows.create_workflow` does, naming each bad
field (``actions[1].url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aihub.workflows.definition import parse_conditions

#: Step types that act on a model.
MODEL_STEPS = ("retrain_model", "promote_challenger", "batch_prediction")


def action_from_form(v: Mapping[str, Any]) -> dict[str, Any]:
    """One step from the form's step fields.

    Parameters
    ----------
    v : mapping
        ``type`` (an action type), ``approval``, ``name`` and the type's own fields:
        ``model``, ``share``, ``metric``, ``max_drop``, ``monitor``, ``categories``
        (comma-separated), ``dataset``, ``url``, ``secret``, ``message``, ``to``,
        ``subject``, ``body``, ``assignee``, ``title``, ``description``, ``assign_anomaly``.

    Returns
    -------
    dict
        The action as :func:`aihub.workflows.normalize` reads it.
    """
    kind = v.get("type")
    action: dict[str, Any] = {"type": kind, "require_approval": bool(v.get("approval"))}
    if v.get("name"):
        action["name"] = v["name"]
    if kind in MODEL_STEPS and v.get("model") is not None:
        action["model_id"] = v["model"]
    if kind == "retrain_model":
        action["challenger_share"] = v.get("share", 0.2)
    elif kind == "promote_challenger":
        if v.get("metric"):
            action["metric"] = v["metric"]
        action["max_drop"] = v.get("max_drop", 0.0)
    elif kind == "run_monitor" and v.get("monitor") is not None:
        action["monitor_id"] = v["monitor"]
    elif kind == "generate_insights":
        action["categories"] = [c.strip() for c in (v.get("categories") or "").split(",") if c.strip()]
    elif kind == "batch_prediction" and v.get("dataset") is not None:
        action["dataset_id"] = v["dataset"]
    elif kind == "call_webhook":
        action.update(url=v.get("url") or "", secret=v.get("secret") or "", message=v.get("message") or "")
    elif kind == "send_email":
        action.update(to=v.get("to") or "", subject=v.get("subject") or "", body=v.get("body") or "")
    elif kind == "create_task":
        action.update(assignee=v.get("assignee"), title=v.get("title") or "",
                      description=v.get("description") or "", assign_anomaly=bool(v.get("assign_anomaly")))
    return action


def trigger_from_form(v: Mapping[str, Any]) -> dict[str, Any]:
    """The trigger from the form's ``trigger`` type and that type's fields (``cron``, ``tz``, ``model`` ...)."""
    kind = v.get("trigger")
    trigger: dict[str, Any] = {"type": kind}
    if kind == "schedule":
        trigger.update(cron=v.get("cron") or "", timezone=v.get("tz") or "UTC")
    elif kind == "anomaly_detected":
        trigger.update(min_severity=v.get("severity"), monitor_id=v.get("monitor"))
    elif kind == "prediction":
        trigger.update(model_id=v.get("model"), field=v.get("field"), direction=v.get("direction"),
                       threshold=v.get("threshold"))
    elif kind == "source_synced":
        trigger.update(source_id=v.get("source"), only_changed=bool(v.get("changed")))
    elif kind == "drift_detected":
        trigger.update(model_id=v.get("model"))
    elif kind == "accuracy_drop":
        trigger.update(model_id=v.get("model"), tolerance=v.get("tolerance"))
    elif kind == "reorder_point":
        trigger.update(model_id=v.get("model"), product=v.get("product") or None)
    elif kind == "next_best_action":
        trigger.update(model_id=v.get("model"), feature=v.get("feature") or None)
    return trigger


def workflow_from_form(v: Mapping[str, Any]) -> dict[str, Any]:
    """The whole workflow from the form: ``name``, ``description``, ``enabled``, the trigger's fields,
    ``conditions`` (one ``field op value`` a line), ``actions`` (built by :func:`action_from_form`) and ``hours``.

    Raises
    ------
    aihub.errors.ValidationError
        For a condition line that cannot be read (it names the line).
    """
    return {"name": v.get("name") or "", "description": v.get("description") or "",
            "enabled": bool(v.get("enabled", True)), "trigger": trigger_from_form(v),
            "conditions": parse_conditions(v.get("conditions") or ""),
            "actions": list(v.get("actions") or []), "approval_timeout_hours": v.get("hours", 72.0)}
