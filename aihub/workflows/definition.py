"""What a workflow is: its JSON shape, validation, trigger matching, conditions and text templates.

A workflow is stored as JSON (``workflows.definition``)::

    {
      "trigger": {"type": "anomaly_detected", "min_severity": "critical"},
      "conditions": [{"field": "metric", "op": "contains", "value": "revenue"}],
      "actions": [
        {"type": "call_webhook", "url": "https://hooks.example.com/aihub", "secret": "..."},
        {"type": "create_task", "assignee": "oncall@example.com",
         "title": "Check {{event.metric}} ({{event.severity}})"}
      ],
      "approval_timeout_hours": 72
    }

The form and the JSON editor send the same shape with ``name``,
``description`` and ``enabled`` beside it. :func:`normalize` validates it
(every problem names its field, e.g. ``actions[1].url``, and the allowed
values) and fills defaults.

Triggers
--------
==================  =========================================================
``schedule``        ``cron`` (5 fields, e.g. ``0 6 * * 1``), ``timezone``
                    (IANA name, ``UTC``)
``anomaly_detected`` ``min_severity`` (low, medium, high, critical),
                    ``monitor_id`` (optional: any monitor)
``prediction``      ``model_id``, ``field`` (probability or value),
                    ``direction`` (above or below), ``threshold``
``source_synced``   ``source_id`` (optional: any source)
``drift_detected``  ``model_id`` (optional: any model)
``accuracy_drop``   ``model_id`` (optional), ``tolerance`` (0 to 1: fires when
                    live accuracy is more than this below the baseline)
``reorder_point``   ``model_id`` (optional: any inventory analytic), ``product``
                    (optional: any product)
``next_best_action`` ``model_id`` (optional: any churn model), ``feature``
                    (optional: any action)
==================  =========================================================

Conditions are all required to hold (AND). ``field`` is a dotted path into
the event (``severity``, ``impact``, ``metric``); ``op`` is one of
:data:`CONDITION_OPS`. Severities compare by rank (``severity >= high``).

Text fields of actions (task title, e-mail subject and body, webhook
message) may use ``{{event.<field>}}``, ``{{workflow.name}}``,
``{{run.id}}`` and ``{{trigger}}``; nothing else is evaluated.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import FormatException, MissingFieldException, WrongArgumentException
from cron_descriptor import Options as CronWords
from cron_descriptor import get_description as cron_description
from croniter import croniter

from aihub import events
from aihub.anomaly.severity import SEVERITIES
from aihub.connectors.config import MASK
from aihub.errors import ValidationError

#: A cron schedule, and every event a service publishes (:data:`aihub.events.EVENTS`).
TRIGGER_TYPES: tuple[str, ...] = ("schedule", *events.EVENTS)
#: Events :func:`aihub.workflows.emit` accepts: the triggers, and ``manual`` (Run now).
EVENT_TYPES: tuple[str, ...] = (*TRIGGER_TYPES, "manual")
TRIGGER_LABELS = {
    "schedule": "On a schedule", "anomaly_detected": "An anomaly is detected",
    "prediction": "A prediction crosses a threshold", "source_synced": "A data source synced",
    "drift_detected": "Drift is detected on a model", "accuracy_drop": "A model's live accuracy drops",
    "reorder_point": "A product reaches its reorder point",
    "anomaly_triaged": "Anomalies are resolved, marked false positive or reopened",
    "next_best_action": "A next best action is suggested",
}
ACTION_TYPES: tuple[str, ...] = (
    "retrain_model", "promote_challenger", "run_monitor", "generate_insights", "batch_prediction",
    "call_webhook", "send_email", "create_task",
)
ACTION_LABELS = {
    "retrain_model": "Retrain a model as a challenger", "promote_challenger": "Promote the challenger",
    "run_monitor": "Run an anomaly monitor", "generate_insights": "Generate insights",
    "batch_prediction": "Run a batch prediction", "call_webhook": "Call a webhook",
    "send_email": "Send an e-mail", "create_task": "Create a task for a user",
}
CONDITION_OPS: tuple[str, ...] = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "exists")
PREDICTION_FIELDS = ("probability", "value")
DIRECTIONS = ("above", "below")
#: Triggers whose events name a model (actions may then leave ``model_id`` out).
MODEL_TRIGGERS = ("prediction", "drift_detected", "accuracy_drop")
DEFAULT_APPROVAL_HOURS = 72.0
MAX_APPROVAL_HOURS = 24.0 * 30
MAX_ACTIONS = 20
MAX_CONDITIONS = 20
MIN_SECRET_LENGTH = 16
MAX_TEXT = 5000
TEMPLATE_ROOTS = ("event", "workflow", "run", "trigger", "steps")
_TEMPLATE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")
_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_SECRET_HEADER_RE = re.compile(r"authorization|cookie|token|secret|pass|api[-_]?key|^x-aihub-", re.IGNORECASE)

_COMMON_ACTION_KEYS = ("type", "name", "require_approval")
_ACTION_KEYS: dict[str, tuple[str, ...]] = {
    "retrain_model": ("model_id", "challenger_share"),
    "promote_challenger": ("model_id", "metric", "max_drop", "guard"),
    "run_monitor": ("monitor_id",),
    "generate_insights": ("categories",),
    "batch_prediction": ("model_id", "dataset_id"),
    "call_webhook": ("url", "secret", "secret_encrypted", "headers", "max_attempts", "timeout_seconds",
                     "backoff_seconds", "message"),
    "send_email": ("to", "subject", "body"),
    "create_task": ("assignee", "title", "description", "assign_anomaly"),
}
_TRIGGER_KEYS: dict[str, tuple[str, ...]] = {
    "schedule": ("cron", "timezone"),
    "anomaly_detected": ("min_severity", "monitor_id"),
    "prediction": ("model_id", "field", "direction", "threshold"),
    "source_synced": ("source_id", "only_changed"),
    "drift_detected": ("model_id",),
    "accuracy_drop": ("model_id", "tolerance"),
    "reorder_point": ("model_id", "product"),
    "next_best_action": ("model_id", "feature"),
}
_TOP_KEYS = ("name", "description", "enabled", "trigger", "conditions", "actions", "approval_timeout_hours")


class _Errors:
    """Collects ``{field: message}``; raises the first with all of them in ``details``."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self.allowed: dict[str, list[Any]] = {}

    def add(self, path: str, message: str, allowed: Any = None) -> None:
        self.items.setdefault(path, message)
        if allowed is not None:
            self.allowed.setdefault(path, list(allowed))

    def raise_if_any(self) -> None:
        if self.items:
            path = next(iter(self.items))
            raise ValidationError(f"{path}: {self.items[path]}", field=path,
                                  details={"errors": dict(self.items), "allowed": dict(self.allowed)})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def _keys(e: _Errors, path: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            e.add(f"{path}.{key}" if path else str(key),
                  f"unknown setting {key!r}; allowed: {', '.join(allowed)}.", allowed)


def _id(e: _Errors, path: str, value: Any, what: str, *, required: bool) -> int | None:
    if value is None or value == "":
        if required:
            e.add(path, f"choose the {what}.")
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or value <= 0:
        e.add(path, f"the {what} must be given by its id (a positive whole number); got {value!r}.")
        return None
    return value


def _number(e: _Errors, path: str, value: Any, *, default: float | None, lo: float, hi: float,
            what: str) -> float | None:
    if value is None:
        if default is None:
            e.add(path, f"give {what} (a number from {lo:g} to {hi:g}).")
        return default
    if not _is_number(value) or not lo <= float(value) <= hi:
        e.add(path, f"{what} must be a number from {lo:g} to {hi:g}; got {value!r}.")
        return default
    return float(value)


def _whole(e: _Errors, path: str, value: Any, *, default: int, lo: int, hi: int, what: str) -> int:
    if value is None:
        return default
    if not _is_int(value) or not lo <= value <= hi:
        e.add(path, f"{what} must be a whole number from {lo} to {hi}; got {value!r}.")
        return default
    return value


def _bool(e: _Errors, path: str, value: Any, *, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        e.add(path, f"must be true or false; got {value!r}.", (True, False))
        return default
    return value


def _choice(e: _Errors, path: str, value: Any, allowed: tuple[str, ...], *, default: str | None,
            what: str) -> str | None:
    if value is None:
        if default is None:
            e.add(path, f"choose {what}: one of {', '.join(allowed)}.", allowed)
        return default
    if value not in allowed:
        e.add(path, f"{what} must be one of {', '.join(allowed)}; got {value!r}.", allowed)
        return default
    return value


def _text(e: _Errors, path: str, value: Any, *, required: bool, limit: int, what: str,
          template: bool = False) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            e.add(path, f"give {what}.")
        return ""
    if not isinstance(value, str):
        e.add(path, f"{what} must be text; got {value!r}.")
        return ""
    if len(value) > limit:
        e.add(path, f"{what} must have at most {limit} characters; it has {len(value)}.")
    if template:
        for root in (m.group(1).split(".")[0] for m in _TEMPLATE_RE.finditer(value)):
            if root not in TEMPLATE_ROOTS:
                e.add(path, f"the placeholder {{{{{root}...}}}} is unknown; placeholders start with "
                            f"{', '.join(TEMPLATE_ROOTS)} (e.g. {{{{event.metric}}}}).", TEMPLATE_ROOTS)
    return value.strip() if not template else value


def check_cron(expr: Any, path: str = "trigger.cron") -> str:
    """A valid 5-field cron expression, stripped.

    Raises
    ------
    ValidationError
        Naming ``path`` and showing an example.
    """
    e = _Errors()
    out = _cron(e, path, expr)
    e.raise_if_any()
    return out


def cron_in_words(expr: str) -> str:
    """A cron expression in plain English ("0 6 * * 1" -> "At 06:00, only on Monday"), 24-hour clock.

    Rendered by ``cron-descriptor`` (the Python port of Brady Holt's
    cron-expression-descriptor, the usual library for this); an expression
    it cannot read is returned as it is, quoted.

    Parameters
    ----------
    expr : str
        A 5-field cron expression (minute hour day-of-month month day-of-week).
    """
    options = CronWords()
    options.use_24hour_time_format = True
    try:
        return cron_description(str(expr), options)
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError, IndexError, KeyError):
        return f"'{expr}'"


def _cron(e: _Errors, path: str, expr: Any) -> str:
    if not isinstance(expr, str) or not expr.strip():
        e.add(path, "give a cron expression with 5 fields: minute hour day-of-month month day-of-week, "
                    "e.g. '0 6 * * 1' for Mondays at 06:00.")
        return ""
    expr = " ".join(expr.split())
    if len(expr.split(" ")) != 5 or not croniter.is_valid(expr):
        e.add(path, f"{expr!r} is not a cron expression with 5 fields (minute hour day-of-month month "
                    "day-of-week), e.g. '0 6 * * 1' for Mondays at 06:00 or '*/15 * * * *' every 15 minutes.")
    return expr


def _timezone(e: _Errors, path: str, value: Any) -> str:
    if value in (None, ""):
        return "UTC"
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        e.add(path, f"{value!r} is not a time zone name; use an IANA name such as 'UTC' or 'Europe/Berlin'.")
        return "UTC"
    return str(value)


def _trigger(e: _Errors, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        e.add("trigger", f"choose a trigger: an object with a type, one of {', '.join(TRIGGER_TYPES)}.",
              TRIGGER_TYPES)
        return {"type": None}
    kind = _choice(e, "trigger.type", raw.get("type"), TRIGGER_TYPES, default=None, what="the trigger type")
    if kind is None:
        return {"type": None}
    _keys(e, "trigger", raw, ("type", *_TRIGGER_KEYS[kind]))
    out: dict[str, Any] = {"type": kind}
    if kind == "schedule":
        out["cron"] = _cron(e, "trigger.cron", raw.get("cron"))
        out["timezone"] = _timezone(e, "trigger.timezone", raw.get("timezone"))
    elif kind == "anomaly_detected":
        out["min_severity"] = _choice(e, "trigger.min_severity", raw.get("min_severity"), SEVERITIES,
                                      default="high", what="the lowest severity")
        out["monitor_id"] = _id(e, "trigger.monitor_id", raw.get("monitor_id"), "monitor", required=False)
    elif kind == "prediction":
        out["model_id"] = _id(e, "trigger.model_id", raw.get("model_id"), "model", required=True)
        out["field"] = _choice(e, "trigger.field", raw.get("field"), PREDICTION_FIELDS, default="probability",
                               what="the field")
        out["direction"] = _choice(e, "trigger.direction", raw.get("direction"), DIRECTIONS, default="above",
                                   what="the direction")
        out["threshold"] = _number(e, "trigger.threshold", raw.get("threshold"), default=None, lo=-1e15, hi=1e15,
                                   what="the threshold")
        if out["field"] == "probability" and out["threshold"] is not None and not 0 <= out["threshold"] <= 1:
            e.add("trigger.threshold", f"a probability threshold must be from 0 to 1; got {out['threshold']!r}.")
    elif kind == "source_synced":
        out["source_id"] = _id(e, "trigger.source_id", raw.get("source_id"), "data source", required=False)
        out["only_changed"] = _bool(e, "trigger.only_changed", raw.get("only_changed"), default=False)
    elif kind == "drift_detected":
        out["model_id"] = _id(e, "trigger.model_id", raw.get("model_id"), "model", required=False)
    elif kind == "accuracy_drop":
        out["model_id"] = _id(e, "trigger.model_id", raw.get("model_id"), "model", required=False)
        out["tolerance"] = _number(e, "trigger.tolerance", raw.get("tolerance"), default=0.05, lo=0.0, hi=1.0,
                                   what="the tolerance")
    elif kind == "reorder_point":
        out["model_id"] = _id(e, "trigger.model_id", raw.get("model_id"), "inventory model", required=False)
        product = raw.get("product")
        if product not in (None, "") and (not isinstance(product, str) or len(product) > 200):
            e.add("trigger.product", f"the product must be a name of up to 200 characters; got {product!r}.")
        out["product"] = product.strip() if isinstance(product, str) and product.strip() else None
    elif kind == "next_best_action":
        out["model_id"] = _id(e, "trigger.model_id", raw.get("model_id"), "model", required=False)
        feature = raw.get("feature")
        if feature not in (None, "") and (not isinstance(feature, str) or len(feature) > 200):
            e.add("trigger.feature", f"the feature must be a column name of up to 200 characters; got {feature!r}.")
        out["feature"] = feature.strip() if isinstance(feature, str) and feature.strip() else None
    return out


def _conditions(e: _Errors, raw: Any) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        e.add("conditions", "conditions must be a list of {field, op, value} objects.")
        return []
    if len(raw) > MAX_CONDITIONS:
        e.add("conditions", f"at most {MAX_CONDITIONS} conditions; got {len(raw)}.")
    out = []
    for i, c in enumerate(raw[:MAX_CONDITIONS]):
        path = f"conditions[{i}]"
        if not isinstance(c, Mapping):
            e.add(path, "a condition is an object with field, op and value.")
            continue
        _keys(e, path, c, ("field", "op", "value"))
        fld = c.get("field")
        if not isinstance(fld, str) or not _PATH_RE.match(fld.strip()):
            e.add(f"{path}.field", f"name a field of the event (e.g. severity, metric or impact); got {fld!r}.")
            continue
        op = _choice(e, f"{path}.op", c.get("op"), CONDITION_OPS, default=None, what="the comparison")
        value = c.get("value")
        if op in ("in", "not_in") and not isinstance(value, list):
            e.add(f"{path}.value", f"'{op}' compares with a list of values; got {value!r}.")
        if op in (">", ">=", "<", "<=") and not (_is_number(value) or value in SEVERITIES):
            e.add(f"{path}.value", f"'{op}' compares with a number or a severity ({', '.join(SEVERITIES)}); "
                                   f"got {value!r}.")
        if op not in ("exists", None) and "value" not in c:
            e.add(f"{path}.value", "give the value to compare with.")
        out.append({"field": fld.strip(), "op": op, "value": value})
    return out


def _action(e: _Errors, i: int, raw: Any, trigger_type: str | None) -> dict[str, Any]:  # noqa: C901 - over the complexity ceiling before it existed; goes with the pydantic workflow schema
    path = f"actions[{i}]"
    if not isinstance(raw, Mapping):
        e.add(path, f"an action is an object with a type, one of {', '.join(ACTION_TYPES)}.", ACTION_TYPES)
        return {}
    kind = _choice(e, f"{path}.type", raw.get("type"), ACTION_TYPES, default=None, what="the action type")
    if kind is None:
        return {}
    _keys(e, path, raw, (*_COMMON_ACTION_KEYS, *_ACTION_KEYS[kind]))
    out: dict[str, Any] = {"type": kind,
                           "name": _text(e, f"{path}.name", raw.get("name"), required=False, limit=100,
                                         what="the step name") or ACTION_LABELS[kind],
                           "require_approval": _bool(e, f"{path}.require_approval", raw.get("require_approval"),
                                                     default=False)}
    model_from_trigger = trigger_type in MODEL_TRIGGERS

    def model(key: str = "model_id") -> int | None:
        mid = _id(e, f"{path}.{key}", raw.get(key), "model", required=False)
        if mid is None and not model_from_trigger and f"{path}.{key}" not in e.items:
            e.add(f"{path}.{key}", f"choose the model (the trigger '{trigger_type}' names no model to take it "
                                   f"from; only {', '.join(MODEL_TRIGGERS)} do).")
        return mid

    if kind == "retrain_model":
        out["model_id"] = model()
        out["challenger_share"] = _number(e, f"{path}.challenger_share", raw.get("challenger_share"), default=0.2,
                                          lo=0.0, hi=1.0, what="the challenger's share of traffic")
    elif kind == "promote_challenger":
        out["model_id"] = model()
        metric = raw.get("metric")
        if metric not in (None, "") and (not isinstance(metric, str) or not _PATH_RE.match(metric)):
            e.add(f"{path}.metric", f"name a metric of the model's versions (e.g. roc_auc, mase); got {metric!r}.")
        out["metric"] = metric or None
        out["max_drop"] = _number(e, f"{path}.max_drop", raw.get("max_drop"), default=0.0, lo=0.0, hi=1e9,
                                  what="the allowed drop")
        out["guard"] = _bool(e, f"{path}.guard", raw.get("guard"), default=True)
    elif kind == "run_monitor":
        mid = _id(e, f"{path}.monitor_id", raw.get("monitor_id"), "monitor", required=False)
        if mid is None and trigger_type != "anomaly_detected" and f"{path}.monitor_id" not in e.items:
            e.add(f"{path}.monitor_id", "choose the monitor to run.")
        out["monitor_id"] = mid
    elif kind == "generate_insights":
        cats = raw.get("categories")
        if cats is not None and (not isinstance(cats, list) or not all(isinstance(c, str) and c for c in cats)):
            e.add(f"{path}.categories", f"categories must be a list of names; got {cats!r}.")
            cats = None
        out["categories"] = list(cats or [])
    elif kind == "batch_prediction":
        out["model_id"] = model()
        out["dataset_id"] = _id(e, f"{path}.dataset_id", raw.get("dataset_id"), "dataset", required=False)
    elif kind == "call_webhook":
        url = raw.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/?#]+", url.strip()):
            e.add(f"{path}.url", f"give the receiver's http:// or https:// URL; got {url!r}.")
        out["url"] = url.strip() if isinstance(url, str) else ""
        secret = raw.get("secret")
        if raw.get("secret_encrypted") and secret in (None, "", MASK):
            out["secret_encrypted"] = raw["secret_encrypted"]
        elif secret == MASK:
            out["secret"] = MASK  # the service keeps the stored secret
        elif not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            e.add(f"{path}.secret", f"give a signing secret of at least {MIN_SECRET_LENGTH} characters (the "
                                    "receiver checks X-AIHub-Signature with it).")
        else:
            out["secret"] = secret
        headers = raw.get("headers") or {}
        if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and _HEADER_RE.match(k) and isinstance(v, str) and "\n" not in v
                for k, v in headers.items()):
            e.add(f"{path}.headers", "headers must map header names to text values.")
            headers = {}
        for k in headers:
            if _SECRET_HEADER_RE.search(k):
                e.add(f"{path}.headers", f"the header {k!r} looks like a credential, and headers are stored and "
                                         "shown in clear; the receiver authenticates the hub by X-AIHub-Signature "
                                         "(the signing secret, stored encrypted).")
        out["headers"] = dict(headers)
        out["max_attempts"] = _whole(e, f"{path}.max_attempts", raw.get("max_attempts"), default=3, lo=1, hi=5,
                                     what="attempts")
        out["timeout_seconds"] = _number(e, f"{path}.timeout_seconds", raw.get("timeout_seconds"), default=10.0,
                                         lo=1.0, hi=30.0, what="the time-out")
        out["backoff_seconds"] = _number(e, f"{path}.backoff_seconds", raw.get("backoff_seconds"), default=1.0,
                                         lo=0.0, hi=30.0, what="the first back-off")
        out["message"] = _text(e, f"{path}.message", raw.get("message"), required=False, limit=MAX_TEXT,
                               what="the message", template=True)
    elif kind == "send_email":
        from aihub.notify import check_recipients

        try:
            out["to"] = check_recipients(raw.get("to") or [], field=f"{path}.to")
        except ValidationError as exc:
            e.add(f"{path}.to", str(exc))
            out["to"] = []
        out["subject"] = _text(e, f"{path}.subject", raw.get("subject"), required=True, limit=300,
                               what="the subject", template=True)
        out["body"] = _text(e, f"{path}.body", raw.get("body"), required=False, limit=MAX_TEXT, what="the body",
                            template=True)
    elif kind == "create_task":
        who = raw.get("assignee")
        if who not in (None, "") and not (isinstance(who, str) or _is_int(who)):
            e.add(f"{path}.assignee", f"name the assignee by e-mail; got {who!r}.")
        out["assignee"] = who if who not in (None, "") else None
        out["title"] = _text(e, f"{path}.title", raw.get("title"), required=True, limit=300, what="the task title",
                             template=True)
        out["description"] = _text(e, f"{path}.description", raw.get("description"), required=False,
                                   limit=MAX_TEXT, what="the description", template=True)
        out["assign_anomaly"] = _bool(e, f"{path}.assign_anomaly", raw.get("assign_anomaly"),
                                      default=trigger_type == "anomaly_detected")
    return out


def normalize(raw: Mapping[str, Any]) -> tuple[str, str, bool, dict[str, Any]]:
    """Validate a workflow from the form or JSON and fill defaults.

    Parameters
    ----------
    raw : mapping
        ``{"name", "description", "enabled", "trigger", "conditions", "actions",
        "approval_timeout_hours"}``.

    Returns
    -------
    (name, description, enabled, definition)
        ``definition`` holds ``trigger``, ``conditions``, ``actions`` and
        ``approval_timeout_hours``. Webhook secrets are still in clear text
        (key ``secret``); the service encrypts them before storing.

    Raises
    ------
    ValidationError
        ``field`` is the first bad field (``trigger.cron``, ``actions[1].url``,
        ...); ``details["errors"]`` has every problem and
        ``details["allowed"]`` the allowed values where there is a choice.
    """
    e = _Errors()
    if not isinstance(raw, Mapping):
        raise ValidationError("A workflow is a JSON object with name, trigger and actions.", field="workflow")
    _keys(e, "", raw, _TOP_KEYS)
    name = _text(e, "name", raw.get("name"), required=True, limit=200, what="the workflow a name")
    description = _text(e, "description", raw.get("description"), required=False, limit=MAX_TEXT,
                        what="the description")
    enabled = _bool(e, "enabled", raw.get("enabled"), default=True)
    trigger = _trigger(e, raw.get("trigger"))
    conditions = _conditions(e, raw.get("conditions"))
    actions_raw = raw.get("actions")
    actions: list[dict[str, Any]] = []
    if not isinstance(actions_raw, list) or not actions_raw:
        e.add("actions", f"add at least one action: {', '.join(ACTION_TYPES)}.", ACTION_TYPES)
    elif len(actions_raw) > MAX_ACTIONS:
        e.add("actions", f"at most {MAX_ACTIONS} actions; got {len(actions_raw)}.")
    else:
        actions = [_action(e, i, a, trigger.get("type")) for i, a in enumerate(actions_raw)]
    hours = _number(e, "approval_timeout_hours", raw.get("approval_timeout_hours"), default=DEFAULT_APPROVAL_HOURS,
                    lo=1.0, hi=MAX_APPROVAL_HOURS, what="the approval time-out in hours")
    e.raise_if_any()
    return name, description, enabled, {"trigger": trigger, "conditions": conditions, "actions": actions,
                                        "approval_timeout_hours": hours}


def parse_json(text: str) -> dict[str, Any]:
    """A workflow object from pasted JSON text.

    Raises
    ------
    ValidationError
        With the line and column of a syntax error.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The JSON is not valid at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                              field="json") from None
    if not isinstance(data, dict):
        raise ValidationError("The JSON must be one object with name, trigger and actions.", field="json")
    return data


def parse_conditions(text: str) -> list[dict[str, Any]]:
    """Conditions typed one per line as ``field op value`` (the form's text box).

    ``value`` is read as JSON when it parses (numbers, ``true``, ``["a", "b"]``)
    and as text otherwise; ``exists`` takes no value. Example::

        metric contains revenue
        impact < -1000
        slice in ["West", "East"]

    Raises
    ------
    ValidationError
        Naming the line (``conditions[2]``) and the allowed comparisons.
    """
    out: list[dict[str, Any]] = []
    ops = sorted(CONDITION_OPS, key=len, reverse=True)
    for n, line in enumerate((text or "").splitlines()):
        line = line.strip()
        if not line:
            continue
        m = re.match(r"^(\S+)\s+(" + "|".join(re.escape(o) for o in ops) + r")(?:\s+(.*))?$", line)
        if m is None:
            raise ValidationError(f"conditions line {n + 1}: write 'field comparison value' (e.g. 'metric contains "
                                  f"revenue'); comparisons: {', '.join(CONDITION_OPS)}. Got {line!r}.",
                                  field=f"conditions[{len(out)}]", details={"allowed": list(CONDITION_OPS)})
        fld, op, raw = m.group(1), m.group(2), (m.group(3) or "").strip()
        try:
            value: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            value = raw
        cond: dict[str, Any] = {"field": fld, "op": op}
        if op != "exists":
            cond["value"] = value
        out.append(cond)
    return out


# ====================================================================== events
def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path in nested dicts and lists, or None."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def severity_rank(value: Any) -> int | None:
    """Rank of a severity name (low 0 ... critical 3), or None."""
    return SEVERITIES.index(value) if value in SEVERITIES else None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def trigger_matches(trigger: Mapping[str, Any], event_type: str, payload: Mapping[str, Any],  # noqa: C901 - over the complexity ceiling before it existed; goes with the pydantic workflow schema
                    workflow_id: int) -> bool:
    """Whether an event of ``event_type`` with ``payload`` fires this trigger."""
    kind = trigger.get("type")
    if kind != event_type:
        return False
    if kind == "schedule":
        return payload.get("workflow_id") == workflow_id
    if kind == "anomaly_detected":
        rank, floor = severity_rank(payload.get("severity")), severity_rank(trigger.get("min_severity", "high"))
        if rank is None or floor is None or rank < floor:
            return False
        return trigger.get("monitor_id") in (None, payload.get("monitor_id"))
    if kind == "prediction":
        if payload.get("model_id") != trigger.get("model_id"):
            return False
        fld = trigger.get("field", "probability")
        value = _as_float(payload.get(fld) if fld in payload else payload.get("prediction")
                          if fld == "value" else None)
        threshold = _as_float(trigger.get("threshold"))
        if value is None or threshold is None:
            return False
        return value > threshold if trigger.get("direction", "above") == "above" else value < threshold
    if kind == "source_synced":
        if trigger.get("source_id") not in (None, payload.get("source_id")):
            return False
        return not trigger.get("only_changed") or bool(payload.get("changed", True))
    if kind == "drift_detected":
        if not payload.get("dataset_drift", payload.get("drift", True)):
            return False
        return trigger.get("model_id") in (None, payload.get("model_id"))
    if kind == "accuracy_drop":
        if trigger.get("model_id") not in (None, payload.get("model_id")):
            return False
        drop = _as_float(payload.get("drop"))
        if drop is None:
            base, live = _as_float(payload.get("baseline")), _as_float(payload.get("live"))
            if base is None or live is None:
                return False
            drop = base - live
        return drop > float(trigger.get("tolerance", 0.05))
    if kind == "reorder_point":
        if trigger.get("model_id") not in (None, payload.get("model_id")):
            return False
        return trigger.get("product") in (None, str(payload.get("product")))
    if kind == "next_best_action":
        if trigger.get("model_id") not in (None, payload.get("model_id")):
            return False
        return trigger.get("feature") in (None, str(payload.get("feature")))
    return False


def condition_holds(cond: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether one condition holds on the event (a missing field fails every op but ``!=``, ``not_in``)."""
    op, want = cond.get("op"), cond.get("value")
    have = get_path(payload, str(cond.get("field", "")))
    if op == "exists":
        return have is not None
    if op in ("==", "!="):
        same = have == want or (_as_float(have) is not None and _as_float(have) == _as_float(want))
        return same if op == "==" else not same
    if op in ("in", "not_in"):
        inside = isinstance(want, list) and have in want
        return inside if op == "in" else not inside
    if op == "contains":
        if isinstance(have, str):
            return str(want).lower() in have.lower()
        return isinstance(have, list) and want in have
    if op in (">", ">=", "<", "<="):
        a, b = severity_rank(have), severity_rank(want)
        if a is None or b is None:
            a, b = _as_float(have), _as_float(want)
        if a is None or b is None:
            return False
        return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]
    return False


def conditions_hold(conditions: list[Mapping[str, Any]], payload: Mapping[str, Any]) -> bool:
    """Whether every condition holds."""
    return all(condition_holds(c, payload) for c in conditions or [])


_ID_KEYS = ("anomaly_id", "prediction_id", "sync_id", "drift_report_id", "report_id", "id")


def dedupe_key(event_type: str, payload: Mapping[str, Any]) -> str:
    """The key that keeps one event from starting the same workflow twice.

    ``payload["dedupe_key"]`` when given; else the event's own id
    (``anomaly_id``, ``prediction_id``, ``sync_id``, ``drift_report_id``,
    ``report_id`` or ``id``);
    else a SHA-256 of the payload's canonical JSON.
    """
    if payload.get("dedupe_key"):
        return f"{event_type}:{payload['dedupe_key']}"[:300]
    for key in _ID_KEYS:
        if payload.get(key) not in (None, ""):
            return f"{event_type}:{key}={payload[key]}"[:300]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{event_type}:sha256={digest}"


def render(text: str, context: Mapping[str, Any]) -> str:
    """Fill ``{{path}}`` placeholders from ``context``; unknown paths become empty text."""
    if not text:
        return ""

    def value(m: re.Match) -> str:
        v = get_path(context, m.group(1))
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        if isinstance(v, dict | list):
            return json.dumps(v, default=str)
        return str(v)

    return _TEMPLATE_RE.sub(value, text)


def describe_trigger(trigger: Mapping[str, Any]) -> str:
    """One line an analyst reads, e.g. "An anomaly of severity critical or above"."""
    kind = trigger.get("type")
    if kind == "schedule":
        return (f"{cron_in_words(trigger.get('cron') or '')} ({trigger.get('timezone', 'UTC')}; "
                f"cron '{trigger.get('cron')}')")
    if kind == "anomaly_detected":
        where = f" on monitor {trigger['monitor_id']}" if trigger.get("monitor_id") else ""
        return f"An anomaly of severity {trigger.get('min_severity', 'high')} or above{where}"
    if kind == "prediction":
        return (f"A prediction of model {trigger.get('model_id')} with {trigger.get('field', 'probability')} "
                f"{trigger.get('direction', 'above')} {trigger.get('threshold')}")
    if kind == "source_synced":
        return f"Data source {trigger['source_id']} synced" if trigger.get("source_id") else "Any data source synced"
    if kind == "drift_detected":
        return f"Drift on model {trigger['model_id']}" if trigger.get("model_id") else "Drift on any model"
    if kind == "accuracy_drop":
        which = f"model {trigger['model_id']}" if trigger.get("model_id") else "any model"
        return f"Live accuracy of {which} more than {trigger.get('tolerance', 0.05):g} below its baseline"
    if kind == "reorder_point":
        which = f"product {trigger['product']}" if trigger.get("product") else "a product"
        where = f" of inventory model {trigger['model_id']}" if trigger.get("model_id") else ""
        return f"{which[0].upper()}{which[1:]}{where} at or below its reorder point"
    if kind == "next_best_action":
        which = f" changing {trigger['feature']}" if trigger.get("feature") else ""
        where = f" of model {trigger['model_id']}" if trigger.get("model_id") else ""
        return f"A next best action{which} suggested for an at-risk customer{where}"
    return str(kind)
