"""Ready-made workflows an analyst fills in with a few choices.

Each template turns its parameters into the workflow JSON of
:mod:`aihub.workflows.definition`; :func:`aihub.workflows.create_from_template`
validates and saves it like any other workflow, so the result can be edited
afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aihub.errors import ValidationError


@dataclass(frozen=True)
class TemplateParam:
    """One input of a template: its key, label, kind (``model``, ``monitor``, ``user``, ``text``, ``secret``,
    ``url``, ``cron``, ``number``, ``severity``), default and help."""

    key: str
    label: str
    kind: str
    default: Any = None
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class Template:
    """A ready-made workflow: what it does and what it asks for."""

    key: str
    title: str
    description: str
    params: tuple[TemplateParam, ...]


TEMPLATES: dict[str, Template] = {
    t.key: t for t in (
        Template(
            "weekly_retrain_promote",
            "Retrain the churn model weekly; promote it if ROC AUC does not drop",
            "Every week the model is retrained on its newest data as a challenger. The challenger replaces the "
            "champion only if its metric (ROC AUC for classifiers, MASE for forecasts) is not worse.",
            (TemplateParam("model_id", "Model", "model"),
             TemplateParam("cron", "Schedule (cron)", "cron", "0 6 * * 1", help="Mondays at 06:00 UTC"),
             TemplateParam("metric", "Metric that must not drop", "text", None, required=False,
                           help="Empty: roc_auc for classifiers, mase for forecasts"),
             TemplateParam("max_drop", "Allowed drop", "number", 0.0, required=False)),
        ),
        Template(
            "critical_revenue_alert",
            "A critical revenue anomaly calls a webhook and assigns the on-call analyst",
            "When a monitor finds a critical anomaly on a revenue metric, the hub posts it to your webhook "
            "(signed) and gives the on-call analyst a task, assigning the anomaly to them.",
            (TemplateParam("webhook_url", "Webhook URL", "url"),
             TemplateParam("webhook_secret", "Signing secret", "secret",
                           help="At least 16 characters; your receiver checks X-AIHub-Signature with it"),
             TemplateParam("assignee", "On-call analyst", "user"),
             TemplateParam("min_severity", "Lowest severity", "severity", "critical", required=False),
             TemplateParam("metric_contains", "Metric name contains", "text", "revenue", required=False)),
        ),
        Template(
            "drift_retrain_approval",
            "Drift on a model opens an approval to retrain",
            "When drift is detected on the model's inputs, a retrain waits for a person's approval; once "
            "approved, the new version becomes the challenger and is promoted if its metric does not drop.",
            (TemplateParam("model_id", "Model", "model"),
             TemplateParam("approval_timeout_hours", "Approval expires after (hours)", "number", 72.0,
                           required=False),
             TemplateParam("metric", "Metric that must not drop", "text", None, required=False,
                           help="Empty: roc_auc for classifiers, mase for forecasts")),
        ),
    )
}


def _param(template: Template, params: Mapping[str, Any], key: str) -> Any:
    spec = next(p for p in template.params if p.key == key)
    value = params.get(key)
    if value in (None, ""):
        if spec.required and spec.default is None:
            raise ValidationError(f"{spec.label}: this template needs it.", field=key)
        return spec.default
    return value


def build(key: str, params: Mapping[str, Any], *, default_metric: str | None = None) -> dict[str, Any]:
    """The workflow JSON of template ``key`` filled with ``params``.

    Parameters
    ----------
    key : str
        One of :data:`TEMPLATES`.
    params : mapping
        Values for the template's parameters, and optionally ``name``.
    default_metric : str, optional
        The metric a promote guard compares when the parameters name none
        (the service picks it from the model's kind).

    Raises
    ------
    ValidationError
        For an unknown template or a missing parameter.
    """
    template = TEMPLATES.get(key)
    if template is None:
        raise ValidationError(f"Unknown template {key!r}; choose one of: {', '.join(TEMPLATES)}.", field="template",
                              details={"allowed": list(TEMPLATES)})
    p = {spec.key: _param(template, params, spec.key) for spec in template.params}
    name = str(params.get("name") or "").strip()
    if key == "weekly_retrain_promote":
        metric = p["metric"] or default_metric
        return {
            "name": name or f"Weekly retrain of model {p['model_id']}",
            "description": template.description,
            "trigger": {"type": "schedule", "cron": p["cron"], "timezone": "UTC"},
            "actions": [
                {"type": "retrain_model", "model_id": p["model_id"], "name": "Retrain as challenger"},
                {"type": "promote_challenger", "model_id": p["model_id"], "metric": metric,
                 "max_drop": float(p["max_drop"] or 0.0), "name": f"Promote if {metric or 'the metric'} does not drop"},
            ],
        }
    if key == "critical_revenue_alert":
        conditions = []
        if p["metric_contains"]:
            conditions.append({"field": "metric", "op": "contains", "value": p["metric_contains"]})
        return {
            "name": name or "Critical revenue anomaly alert",
            "description": template.description,
            "trigger": {"type": "anomaly_detected", "min_severity": p["min_severity"]},
            "conditions": conditions,
            "actions": [
                {"type": "call_webhook", "url": p["webhook_url"], "secret": p["webhook_secret"],
                 "name": "Post to the webhook",
                 "message": "{{event.severity}} anomaly on {{event.metric}} ({{event.slice}}) on {{event.ts}}: "
                            "impact {{event.impact}}"},
                {"type": "create_task", "assignee": p["assignee"], "assign_anomaly": True,
                 "name": "Assign the on-call analyst",
                 "title": "Investigate the {{event.severity}} {{event.metric}} anomaly of {{event.ts}}",
                 "description": "Monitor {{event.monitor}}, series {{event.slice}}: actual {{event.actual}}, "
                                "expected {{event.expected}}, impact {{event.impact}}. Anomaly {{event.anomaly_id}} "
                                "is assigned to you on the Anomalies page."},
            ],
        }
    metric = p["metric"] or default_metric
    return {
        "name": name or f"Retrain model {p['model_id']} on drift (with approval)",
        "description": template.description,
        "trigger": {"type": "drift_detected", "model_id": p["model_id"]},
        "actions": [
            {"type": "retrain_model", "model_id": p["model_id"], "require_approval": True,
             "name": "Retrain as challenger (needs approval)"},
            {"type": "promote_challenger", "model_id": p["model_id"], "metric": metric, "max_drop": 0.0,
             "name": f"Promote if {metric or 'the metric'} does not drop"},
        ],
        "approval_timeout_hours": float(p["approval_timeout_hours"] or 72.0),
    }
