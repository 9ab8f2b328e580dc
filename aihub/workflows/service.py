"""The Workflows page's service: create, edit, list and run workflows; approvals; tasks; templates.

Every function takes the calling :class:`~aihub.auth.Principal` first:
``read`` to look, ``automation`` to change anything or decide an approval.
A workflow's actions run as the person who last saved it, with that person's
permissions (an analyst's workflow cannot do what an analyst may not).

Webhook secrets are encrypted with the hub's Fernet key before they are
stored and are never shown again: records and JSON exports carry the mask
``"********"`` (:data:`~aihub.connectors.config.MASK`) in their place, and
saving the mask back keeps the stored secret.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aihub.auth import Principal, require
from aihub.connectors.config import MASK
from aihub.db import anomaly_store as astore
from aihub.db import store
from aihub.db import workflow_store as wstore
from aihub.db.session import tenant_session
from aihub.errors import Conflict, NotFound, PermissionDenied, ValidationError
from aihub.services import usage
from aihub.workflows import actions as acts
from aihub.workflows import templates as tpl
from aihub.workflows.definition import normalize, parse_json
from aihub.workflows.engine import create_run, enqueue_run

WorkflowRecord = wstore.WorkflowRecord
RunRecord = wstore.RunRecord
ApprovalRecord = wstore.ApprovalRecord
TaskRecord = wstore.TaskRecord
RunStats = wstore.RunStats


@dataclass(frozen=True)
class WorkflowSummary:
    """A workflow with its run counts, success rate and newest runs (for the list)."""

    workflow: WorkflowRecord
    stats: RunStats

    @property
    def success_rate(self) -> float | None:
        """Succeeded / (succeeded + failed) runs; None before any ended that way."""
        return self.stats.success_rate


# ====================================================================== masking and secrets
def _public_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(definition))
    out["actions"] = [acts.public_action(a) for a in out.get("actions") or []]
    return out


def _public(record: WorkflowRecord) -> WorkflowRecord:
    return replace(record, definition=_public_definition(record.definition))


def _public_run(run: RunRecord) -> RunRecord:
    steps = []
    for st in run.steps:
        st = dict(st)
        if isinstance(st.get("action"), Mapping):
            st["action"] = acts.public_action(st["action"])
        steps.append(st)
    return replace(run, steps=steps)


def workflow_json(record: WorkflowRecord) -> str:
    """The workflow as editable JSON (secrets masked; saving the mask back keeps them)."""
    d = _public_definition(record.definition)
    data = {"name": record.name, "description": record.description, "enabled": record.enabled,
            "trigger": d["trigger"], "conditions": d.get("conditions") or [], "actions": d["actions"],
            "approval_timeout_hours": d.get("approval_timeout_hours")}
    return json.dumps(data, indent=2, ensure_ascii=False)


def _seal(definition: dict[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """Encrypt webhook secrets; the mask keeps the secret stored for the same webhook before."""
    box = None
    old = [a for a in (previous or {}).get("actions") or [] if a.get("type") == "call_webhook"]
    for i, action in enumerate(definition["actions"]):
        if action.get("type") != "call_webhook":
            continue
        secret = action.pop("secret", None)
        if secret and secret != MASK:
            box = box or acts.secret_box()
            action["secret_encrypted"] = box.encrypt({"secret": secret})
            continue
        same_index = (previous or {}).get("actions") or []
        prior = same_index[i] if i < len(same_index) and same_index[i].get("type") == "call_webhook" else None
        prior = prior or next((a for a in old if a.get("url") == action.get("url")), None)
        if prior is None or not prior.get("secret_encrypted"):
            raise ValidationError(f"actions[{i}].secret: enter the webhook's signing secret (at least 16 "
                                  "characters).", field=f"actions[{i}].secret")
        action["secret_encrypted"] = prior["secret_encrypted"]
    return definition


def _strip_stored(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``secret_encrypted`` from user input: only the hub writes it."""
    data = dict(raw)
    if isinstance(data.get("actions"), list):
        data["actions"] = [{k: v for k, v in a.items() if k != "secret_encrypted"} if isinstance(a, Mapping) else a
                           for a in data["actions"]]
    return data


def _check_references(s: Any, definition: Mapping[str, Any]) -> None:
    """Models, monitors, datasets, sources and assignees named in the workflow exist in the tenant."""

    def exists(path: str, getter: Any, ident: int | None) -> None:
        if ident is None:
            return
        try:
            getter(s, ident)
        except NotFound as exc:
            raise ValidationError(f"{path}: {exc}", field=path) from None

    trig = definition["trigger"]
    if trig.get("model_id"):
        exists("trigger.model_id", store.get_model, trig["model_id"])
    if trig.get("monitor_id"):
        exists("trigger.monitor_id", astore.get_monitor, trig["monitor_id"])
    if trig.get("source_id"):
        from aihub.db import source_store

        exists("trigger.source_id", source_store.get_source, trig["source_id"])
    for i, a in enumerate(definition["actions"]):
        path = f"actions[{i}]"
        if a.get("model_id"):
            exists(f"{path}.model_id", store.get_model, a["model_id"])
        if a.get("monitor_id"):
            exists(f"{path}.monitor_id", astore.get_monitor, a["monitor_id"])
        if a.get("dataset_id"):
            exists(f"{path}.dataset_id", store.latest_dataset_version_id, a["dataset_id"])
        if a.get("type") == "create_task" and a.get("assignee") is not None:
            user = wstore.find_user(s, a["assignee"])
            if user is None or not user.is_active:
                raise ValidationError(f"{path}.assignee: {a['assignee']!r} is not an active user of your "
                                      "organization; choose one by e-mail.", field=f"{path}.assignee")
            a["assignee"] = user.username


def _as_raw(raw: Mapping[str, Any] | str) -> dict[str, Any]:
    return parse_json(raw) if isinstance(raw, str) else dict(raw)


# ====================================================================== workflows
def validate_workflow(principal: Principal, raw: Mapping[str, Any] | str) -> dict[str, Any]:
    """Check a workflow from the form or JSON without saving it; returns the normalised definition.

    Raises
    ------
    ValidationError
        Naming the first bad field (all of them in ``details["errors"]``).
    """
    require(principal, "read")
    name, description, enabled, definition = normalize(_strip_stored(_as_raw(raw)))
    with tenant_session(principal.tenant_id) as s:
        _check_references(s, definition)
    return {"name": name, "description": description, "enabled": enabled, **_public_definition(definition)}


def create_workflow(principal: Principal, raw: Mapping[str, Any] | str) -> WorkflowRecord:
    """Create a workflow from form values or JSON (a dict or JSON text). Needs ``automation``.

    Raises
    ------
    ValidationError
        Naming the bad field (``trigger.cron``, ``actions[1].url``, ...) and the allowed values.
    Conflict
        If the organization has a workflow of that name.
    """
    require(principal, "automation")
    usage.record(principal, "workflows", "create")
    name, description, enabled, definition = normalize(_strip_stored(_as_raw(raw)))
    with tenant_session(principal.tenant_id) as s:
        _check_references(s, definition)
        definition = _seal(definition, None)
        rec = wstore.create_workflow(s, tenant_id=principal.tenant_id, name=name, description=description,
                                     definition=definition, enabled=enabled, user_id=principal.user_id)
    return _public(rec)


def update_workflow(principal: Principal, workflow_id: int, raw: Mapping[str, Any] | str) -> WorkflowRecord:
    """Replace a workflow's settings; the editor becomes its owner (its actions run as them). Needs ``automation``.

    Runs already started keep the actions they started with.
    """
    require(principal, "automation")
    name, description, enabled, definition = normalize(_strip_stored(_as_raw(raw)))
    with tenant_session(principal.tenant_id) as s:
        old = wstore.get_workflow(s, workflow_id, lock=True)
        _check_references(s, definition)
        definition = _seal(definition, old.definition)
        values: dict[str, Any] = {"name": name, "description": description, "definition": definition,
                                  "enabled": enabled, "created_by": principal.user_id}
        if definition["trigger"] != old.definition.get("trigger"):
            values["last_fired_at"] = None
        rec = wstore.update_workflow(s, workflow_id, **values)
    return _public(rec)


def set_enabled(principal: Principal, workflow_id: int, enabled: bool) -> WorkflowRecord:
    """Turn a workflow on or off (off: no new runs; started runs finish). Needs ``automation``."""
    require(principal, "automation")
    if not isinstance(enabled, bool):
        raise ValidationError(f"enabled must be true or false; got {enabled!r}.", field="enabled")
    with tenant_session(principal.tenant_id) as s:
        return _public(wstore.update_workflow(s, workflow_id, enabled=enabled))


def enable_workflow(principal: Principal, workflow_id: int) -> WorkflowRecord:
    """Turn a workflow on. Needs ``automation``."""
    return set_enabled(principal, workflow_id, True)


def disable_workflow(principal: Principal, workflow_id: int) -> WorkflowRecord:
    """Turn a workflow off. Needs ``automation``."""
    return set_enabled(principal, workflow_id, False)


def delete_workflow(principal: Principal, workflow_id: int) -> None:
    """Delete a workflow with its runs and approvals (tasks it created stay). Needs ``automation``."""
    require(principal, "automation")
    with tenant_session(principal.tenant_id) as s:
        wstore.delete_workflow(s, workflow_id)


def get_workflow(principal: Principal, workflow_id: int) -> WorkflowRecord:
    """One workflow (secrets masked). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return _public(wstore.get_workflow(s, workflow_id))


def list_workflows(principal: Principal, *, last_runs: int = 5) -> list[WorkflowSummary]:
    """Workflows by name with their success rate and newest runs. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        records = wstore.list_workflows(s)
        stats = wstore.run_stats(s, [w.id for w in records], last=last_runs)
    return [WorkflowSummary(_public(w), stats.get(w.id, RunStats())) for w in records]


def run_now(principal: Principal, workflow_id: int) -> int:
    """Start a workflow by hand (trigger ``manual``); returns the run id. Needs ``automation``."""
    require(principal, "automation")
    with tenant_session(principal.tenant_id) as s:
        wf = wstore.get_workflow(s, workflow_id)
        rid = create_run(s, principal.tenant_id, wf, "manual", {"by": principal.username},
                         f"manual:{uuid.uuid4().hex}")
    enqueue_run(principal.tenant_id, rid)
    return rid


# ====================================================================== runs
def list_runs(principal: Principal, workflow_id: int | None = None, *, statuses: list[str] | None = None,
              limit: int = 50, before_id: int | None = None, by_id: bool = False) -> list[RunRecord]:
    """Runs, newest first, with their steps (``by_id``/``before_id``: a keyset page by id). Needs ``read``."""
    require(principal, "read")
    for i, st in enumerate(statuses or []):
        if st not in wstore.RUN_STATUSES:
            raise ValidationError(f"Unknown run status {st!r}; allowed: {', '.join(wstore.RUN_STATUSES)}.",
                                  field=f"statuses[{i}]")
    with tenant_session(principal.tenant_id) as s:
        return [_public_run(r) for r in wstore.list_runs(s, workflow_id=workflow_id, statuses=statuses,
                                                         limit=limit, before_id=before_id, by_id=by_id)]


def get_run(principal: Principal, run_id: int) -> RunRecord:
    """One run with its steps. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return _public_run(wstore.get_run(s, run_id))


# ====================================================================== approvals
def list_approvals(principal: Principal, *, pending_only: bool = True, limit: int = 100,
                   before_id: int | None = None, by_id: bool = False) -> list[ApprovalRecord]:
    """The approvals queue (pending, soonest to expire first) or all decisions (``by_id``/``before_id``: a keyset
    page by id, newest first). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return wstore.list_approvals(s, statuses=["pending"] if pending_only else None, limit=limit,
                                     before_id=before_id, by_id=by_id)


def get_approval(principal: Principal, approval_id: int) -> ApprovalRecord:
    """One approval with its context. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return wstore.get_approval(s, approval_id)


# ====================================================================== tasks
def list_tasks(principal: Principal, *, mine: bool = False, open_only: bool = True, limit: int = 200
               ) -> list[TaskRecord]:
    """Tasks workflows created (open first). ``mine``: only the caller's. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return wstore.list_tasks(s, assignee_id=principal.user_id if mine else None,
                                 statuses=["open"] if open_only else None, limit=limit)


def complete_task(principal: Principal, task_id: int, note: str = "") -> TaskRecord:
    """Mark a task done. The assignee may always; others need ``automation``.

    Raises
    ------
    Conflict
        If it is already done.
    PermissionDenied
        For someone else's task without ``automation``.
    """
    require(principal, "read")
    note = (note or "").strip()
    if len(note) > 5000:
        raise ValidationError("The note must have at most 5000 characters.", field="note")
    with tenant_session(principal.tenant_id) as s:
        task = wstore.get_task(s, task_id, lock=True)
        if task.assignee_id != principal.user_id:
            require(principal, "automation")
        if task.status == "done":
            raise Conflict(f"Task {task_id} is already done.")
        return wstore.complete_task(s, task_id, note or None)


def assignable_users(principal: Principal) -> list[wstore.UserRecord]:
    """Active users of the organization (for task assignees). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return wstore.list_users(s)


# ====================================================================== templates
def list_templates() -> list[tpl.Template]:
    """The ready-made workflows."""
    return list(tpl.TEMPLATES.values())


def template_workflow(principal: Principal, key: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow JSON a template makes with ``params`` (not saved). Needs ``read``.

    A promote step compares ``mase`` for forecasts and ``roc_auc`` for
    classifiers unless the parameters name a metric (other models: the first
    metric both versions have, see :data:`aihub.workflows.actions.DEFAULT_METRICS`).
    """
    require(principal, "read")
    default_metric = None
    model_id = params.get("model_id")
    if model_id not in (None, ""):
        with tenant_session(principal.tenant_id) as s:
            try:
                model = store.get_model(s, int(model_id))
            except (NotFound, TypeError, ValueError):
                raise ValidationError(f"Model: no model {model_id!r} in your organization.", field="model_id") \
                    from None
        task = (model.config.get("training") or {}).get("task") if isinstance(model.config, dict) else None
        default_metric = "mase" if model.kind == "forecast" else "roc_auc" if task == "classification" else None
        params = {**params, "model_id": model.id}
        if not params.get("name"):
            names = {"weekly_retrain_promote": f"Weekly retrain of {model.name}",
                     "drift_retrain_approval": f"Retrain {model.name} on drift (with approval)"}
            params = {**params, "name": names.get(key, "")}
    return tpl.build(key, params, default_metric=default_metric)


def create_from_template(principal: Principal, key: str, params: Mapping[str, Any]) -> WorkflowRecord:
    """Create a workflow from a template. Needs ``automation``.

    Raises
    ------
    ValidationError
        For an unknown template or a missing or bad parameter.
    """
    require(principal, "automation")
    return create_workflow(principal, template_workflow(principal, key, params))


__all__ = [
    "ApprovalRecord", "PermissionDenied", "RunRecord", "RunStats", "TaskRecord", "WorkflowRecord", "WorkflowSummary",
    "assignable_users", "complete_task", "create_from_template", "create_workflow", "delete_workflow",
    "disable_workflow", "enable_workflow", "get_approval", "get_run", "get_workflow", "list_approvals",
    "list_runs", "list_tasks", "list_templates", "list_workflows", "run_now", "set_enabled", "template_workflow",
    "update_workflow", "validate_workflow", "workflow_json",
]
