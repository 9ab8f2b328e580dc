"""The actions a workflow step can take, each run as the workflow's owner with their permissions.

Every action is a function ``(ctx, action) -> dict`` that returns what the
step records as its output, or raises an :class:`~aihub.errors.AihubError`
whose message becomes the step's error. Actions that may be repeated after
a crash are written so a repeat does no harm: a retrain resumes the training
job it started (kept with :meth:`StepContext.checkpoint`), a task is created
once per run and title, a webhook carries the same ``X-AIHub-Delivery`` id.

Model actions call the model registry: ``aihub.services.registry.set_challenger`` and
``promote_challenger`` when the installed registry has them (champion and
challenger), else the workflow store's own challenger pointer and
``registry.deploy``. Training goes through the hub's job runner
(:func:`aihub.services.jobs.run_job`) in the workflow's own thread, so a workflow on
the worker does not wait on another worker slot.

The services a step calls: :func:`aihub.services.model_training.train` (retrain a
predictive model; forecast models use :func:`aihub.services.forecasts.train`),
:func:`aihub.services.batch_predictions.predict_batch` (scores the newest version of a dataset
as CSV) and :func:`aihub.services.insights.generate`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aihub import notify
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.connectors import SecretBox
from aihub.db import store
from aihub.db import workflow_store as wstore
from aihub.db.session import tenant_session
from aihub.errors import AihubError, Conflict, NotFound, ValidationError
from aihub.services import anomalies as anomaly_svc
from aihub.services import batch_predictions, datasets, forecasts, jobs, model_training, registry
from aihub.services import insights as insights_service
from aihub.services import monitors as monitor_svc
from aihub.workflows.definition import ACTION_LABELS, get_path, render

log = logging.getLogger(__name__)

#: Longest a retrain step waits for its training job (seconds).
TRAINING_TIMEOUT_SECONDS = 3 * 3600
POLL_SECONDS = 2.0
#: Metrics where smaller is better; every other metric is compared as larger-is-better.
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "mape", "smape", "mase", "wape", "log_loss", "logloss",
                             "brier", "brier_score", "rmsle", "error_rate", "latency_ms"})
#: Metrics tried, in order, when a promote step names none.
DEFAULT_METRICS = ("roc_auc", "mase", "r2", "f1", "accuracy", "rmse", "mae")
#: Permission each action needs of the workflow's owner (the services it calls check again).
PERMISSIONS = {
    "retrain_model": "create", "promote_challenger": "update", "run_monitor": "detect",
    "generate_insights": "generate", "batch_prediction": "predict", "call_webhook": "automation",
    "send_email": "automation", "create_task": "automation",
}


class StepError(AihubError):
    """A workflow step could not do its work; the message says why and what to do."""

    code = "workflow_step_failed"


class StepSkipped(Exception):
    """Raised by an action that decided, by design, not to act (e.g. a promote guard held the champion)."""

    def __init__(self, reason: str, output: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.output = output or {}


@dataclass
class StepContext:
    """What an action sees: who it acts as, the event, earlier steps' outputs and its own checkpoint."""

    principal: Principal
    workflow_id: int
    workflow_name: str
    run_id: int
    step_index: int
    event_type: str
    payload: dict[str, Any]
    outputs: list[dict[str, Any]]
    state: dict[str, Any] = field(default_factory=dict)
    save_state: Callable[[dict[str, Any]], None] | None = None

    @property
    def tenant_id(self) -> int:
        """The tenant the run belongs to."""
        return self.principal.tenant_id

    def checkpoint(self, **values: Any) -> None:
        """Persist progress of this step so a repeat after a crash resumes instead of starting again."""
        self.state.update(values)
        if self.save_state is not None:
            self.save_state(dict(self.state))

    def template_context(self) -> dict[str, Any]:
        """What ``{{...}}`` placeholders may read."""
        return {"event": self.payload, "workflow": {"id": self.workflow_id, "name": self.workflow_name},
                "run": {"id": self.run_id}, "trigger": self.event_type, "steps": self.outputs}

    def render(self, text: str) -> str:
        """``text`` with its placeholders filled."""
        return render(text, self.template_context())

    def model_id(self, action: Mapping[str, Any]) -> int:
        """The action's model, or the event's when the action names none."""
        mid = action.get("model_id") or self.payload.get("model_id")
        if not isinstance(mid, int) or isinstance(mid, bool):
            raise StepError("This step names no model and the event that started the run carries none; "
                            "choose a model in the step.")
        return mid


# ====================================================================== helpers
def secret_box() -> SecretBox:
    """The Fernet box for webhook secrets (the data-source key: ``AIHUB_SECRET_KEY`` or ``secret.key``)."""
    return SecretBox.from_env(load_settings().data_dir / "secret.key", create=True)


def find_metric(metrics: Mapping[str, Any], name: str) -> float | None:
    """A metric's value by (dotted) name, also one level down (``{"test": {"roc_auc": ...}}``)."""
    for candidate in (get_path(metrics, name), *[get_path(v, name) for v in metrics.values()
                                                 if isinstance(v, Mapping)]):
        if isinstance(candidate, int | float) and not isinstance(candidate, bool):
            return float(candidate)
    return None


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better."""
    return metric.split(".")[-1].lower() in LOWER_IS_BETTER


def choose_metric(metric: str | None, champion: Mapping[str, Any], challenger: Mapping[str, Any]) -> str:
    """The metric a promote guard compares: the one named, else the first of :data:`DEFAULT_METRICS` both have.

    Raises
    ------
    StepError
        If the named metric is missing from either version, or no default metric is shared.
    """
    if metric:
        missing = [who for who, m in (("champion", champion), ("challenger", challenger))
                   if find_metric(m, metric) is None]
        if missing:
            known = sorted(k for k, v in {**champion, **challenger}.items() if isinstance(v, int | float))
            raise StepError(f"The {' and '.join(missing)} has no metric {metric!r}; choose one of: "
                            f"{', '.join(known) or 'none recorded'}.")
        return metric
    for name in DEFAULT_METRICS:
        if find_metric(champion, name) is not None and find_metric(challenger, name) is not None:
            return name
    raise StepError("The champion and the challenger share none of the metrics "
                    f"{', '.join(DEFAULT_METRICS)}; name the metric to compare in the step.")


def compare(metric: str, champion: float, challenger: float, max_drop: float) -> tuple[bool, float, str]:
    """Whether promoting keeps ``metric`` within ``max_drop`` of the champion.

    Returns
    -------
    (passes, drop, sentence)
        ``drop`` is how much worse the challenger is (negative: better).
    """
    drop = (challenger - champion) if lower_is_better(metric) else (champion - challenger)
    way = "lower is better" if lower_is_better(metric) else "higher is better"
    passes = drop <= max_drop + 1e-12
    sentence = (f"{metric} champion {champion:.4g}, challenger {challenger:.4g} ({way}); "
                + (f"the challenger is not worse by more than {max_drop:g}." if passes
                   else f"it would get worse by {drop:.4g}, more than the allowed {max_drop:g}."))
    return passes, drop, sentence


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The top-level numeric metrics (what a person compares; nested reports are left out)."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _version_summary(principal: Principal, version_id: int | None, *, full: bool = False) -> dict[str, Any] | None:
    if version_id is None:
        return None
    v = registry.get_version(principal, version_id)
    return {"version_id": v.id, "version": v.version, "algorithm": v.algorithm,
            "metrics": v.metrics if full else numeric_metrics(v.metrics), "created_at": v.created_at.isoformat()}


def _challenger_id(ctx: StepContext, model: store.ModelRecord) -> int | None:
    for out in reversed(ctx.outputs):
        if out and out.get("type") == "retrain_model" and out.get("model_id") == model.id and out.get("version_id"):
            return int(out["version_id"])
    cid = getattr(model, "challenger_version_id", None)
    if cid is None:
        with tenant_session(ctx.tenant_id) as s:
            cid = wstore.challenger_of(s, model.id)
    return cid


# ====================================================================== model actions
def _start_training(principal: Principal, model: store.ModelRecord) -> store.JobRecord:
    if model.kind == "forecast":
        return forecasts.train(principal, model.id, run=False)
    return model_training.train(principal, model.id, run=False)


def _wait_for_job(ctx: StepContext, job_id: int, timeout: float = TRAINING_TIMEOUT_SECONDS) -> store.JobRecord:
    """Run the job here if nobody holds it, else wait for its runner; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        jobs.run_job(ctx.tenant_id, job_id)
        job = registry.get_job(ctx.principal, job_id)
        if job.done:
            return job
        if time.monotonic() > deadline:
            raise StepError(f"Training job {job_id} did not finish within {timeout / 60:.0f} minutes; it keeps "
                            "running and the model page shows its progress. Start the workflow again later.")
        time.sleep(POLL_SECONDS)


def retrain_model(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Train a new version on the model's newest data and make it the challenger beside the champion."""
    model = registry.get_model(ctx.principal, ctx.model_id(action))
    job_id = ctx.state.get("job_id")
    if job_id is None:
        job = _start_training(ctx.principal, model)
        job_id = job.id
        ctx.checkpoint(job_id=job_id)
    job = _wait_for_job(ctx, job_id)
    if job.status != "succeeded" or job.model_version_id is None:
        raise StepError(f"Retraining '{model.name}' {job.status}: {job.error or job.message or 'no reason given'}")
    version = registry.get_version(ctx.principal, job.model_version_id)
    out = {"type": "retrain_model", "model_id": model.id, "model": model.name, "job_id": job_id,
           "version_id": version.id, "version": version.version, "metrics": numeric_metrics(version.metrics)}
    model = registry.get_model(ctx.principal, model.id)
    if model.active_version_id is None:
        out["note"] = "The model has no champion yet; the new version waits for a promote step or a deploy."
        return out
    share = float(action.get("challenger_share", 0.2))
    set_challenger = getattr(registry, "set_challenger", None)
    if set_challenger is not None:
        set_challenger(ctx.principal, model.id, version.id, share)
        out["challenger_share"] = share
    else:
        require(ctx.principal, "update")
        with tenant_session(ctx.tenant_id) as s:
            wstore.set_challenger(s, model.id, version.id)
    out["note"] = f"Version {version.version} is the challenger of '{model.name}'."
    return out


def promote_context(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Champion and challenger side by side, with the guard's verdict (what an approver decides on)."""
    model = registry.get_model(ctx.principal, ctx.model_id(action))
    champion = _version_summary(ctx.principal, model.active_version_id, full=True)
    challenger = _version_summary(ctx.principal, _challenger_id(ctx, model), full=True)
    out: dict[str, Any] = {"model_id": model.id, "model": model.name, "kind": model.kind,
                           "champion": champion, "challenger": challenger}
    if champion and challenger:
        try:
            metric = choose_metric(action.get("metric"), champion["metrics"], challenger["metrics"])
            passes, drop, sentence = compare(metric, find_metric(champion["metrics"], metric),
                                             find_metric(challenger["metrics"], metric),
                                             float(action.get("max_drop", 0.0)))
            out["guard"] = {"metric": metric, "passes": passes, "drop": drop, "summary": sentence,
                            "enforced": bool(action.get("guard", True))}
        except StepError as exc:
            out["guard"] = {"passes": False, "summary": str(exc), "enforced": bool(action.get("guard", True))}
    for side in ("champion", "challenger"):
        if out[side]:
            out[side] = {**out[side], "metrics": numeric_metrics(out[side]["metrics"])}
    return out


def promote_challenger(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Make the challenger the champion, unless the guard finds its metric would drop."""
    info = promote_context(ctx, action)
    model_id, name = info["model_id"], info["model"]
    challenger, champion = info["challenger"], info["champion"]
    if challenger is None:
        raise StepError(f"Model '{name}' has no challenger to promote; put a 'Retrain a model as a challenger' "
                        "step before this one.")
    out = {"type": "promote_challenger", "model_id": model_id, "model": name,
           "challenger_version": challenger["version"], "champion_version": champion and champion["version"],
           "guard": info.get("guard")}
    if champion is not None and champion["version_id"] == challenger["version_id"]:
        return {**out, "promoted": False, "note": f"Version {challenger['version']} already serves."}
    guard = info.get("guard")
    if champion is not None and action.get("guard", True):
        if guard is None or guard.get("metric") is None:
            raise StepError(guard["summary"] if guard else "The guard could not compare the versions.")
        if not guard["passes"]:
            raise StepSkipped(f"Not promoted: {guard['summary']} The champion keeps serving.",
                              {**out, "promoted": False})
    model = registry.get_model(ctx.principal, model_id)
    promote = getattr(registry, "promote_challenger", None)
    if promote is not None and getattr(model, "challenger_version_id", None) == challenger["version_id"]:
        promote(ctx.principal, model_id)
    else:
        registry.deploy(ctx.principal, model_id, challenger["version_id"])
        if getattr(registry, "set_challenger", None) is None:
            with tenant_session(ctx.tenant_id) as s:
                if wstore.challenger_of(s, model_id) == challenger["version_id"]:
                    wstore.set_challenger(s, model_id, None)
    return {**out, "promoted": True,
            "note": f"Version {challenger['version']} of '{name}' is now the champion"
                    + (f" (was version {champion['version']})." if champion else ".")}


def retrain_context(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """The model, its champion's metrics and why the run wants to retrain it."""
    model = registry.get_model(ctx.principal, ctx.model_id(action))
    return {"model_id": model.id, "model": model.name, "kind": model.kind,
            "champion": _version_summary(ctx.principal, model.active_version_id),
            "challenger": _version_summary(ctx.principal, getattr(model, "challenger_version_id", None)),
            "reason": {"event": ctx.event_type, **{k: v for k, v in ctx.payload.items() if k != "dedupe_key"}}}


def batch_prediction(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Score the newest version of a dataset with the model's champion (extension point: aihub.services.batch_predictions)."""
    model = registry.get_model(ctx.principal, ctx.model_id(action))
    if model.kind == "forecast":
        raise StepError(f"'{model.name}' is a forecast model: each trained version already stores its forecast. "
                        "Batch predictions are for predictive models.")
    dataset_id = action.get("dataset_id") or model.dataset_id
    if dataset_id is None:
        raise StepError(f"Model '{model.name}' has no dataset; choose the dataset to score in the step.")
    version_id = datasets.latest_version_id(ctx.principal, dataset_id)
    version = datasets.get_version(ctx.principal, version_id)
    data = datasets.load_frame(ctx.principal, version_id).to_csv(index=False).encode("utf-8")
    result = batch_predictions.predict_batch(ctx.principal, model.id,
                                             f"{version.dataset_name} v{version.version}.csv", data)
    batch = getattr(result, "batch", result)
    summary = {k: getattr(batch, k) for k in ("id", "rows_total", "rows_predicted", "rows_failed", "seconds")
               if hasattr(batch, k)}
    if "id" in summary:
        summary["batch_id"] = summary.pop("id")
    return {"type": "batch_prediction", "model_id": model.id, "model": model.name, "dataset_id": dataset_id,
            "dataset_version": version.version, **summary}


# ====================================================================== other actions
def run_monitor(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Run an anomaly monitor now (its new anomalies may start other workflows)."""
    monitor_id = action.get("monitor_id") or ctx.payload.get("monitor_id")
    if not isinstance(monitor_id, int):
        raise StepError("This step names no monitor and the event carries none; choose a monitor in the step.")
    run = monitor_svc.run_monitor(ctx.principal, monitor_id, trigger="workflow")
    if run.status != "succeeded":
        raise StepError(f"Monitor run {run.id} failed: {run.error}")
    return {"type": "run_monitor", "monitor_id": monitor_id, "monitor_run_id": run.id,
            "points_scored": run.points_scored, "anomalies_found": run.anomalies_found,
            "suppressed": run.suppressed}


def generate_insights(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Generate insights with :func:`aihub.services.insights.generate` (the categories the step names, else all)."""
    result = insights_service.generate(ctx.principal, list(action.get("categories") or []) or None)
    out: dict[str, Any] = {"type": "generate_insights", "categories": list(action.get("categories") or [])}
    if isinstance(result, list | tuple):
        out["insights"] = len(result)
        out["titles"] = [str(getattr(i, "title", i))[:200] for i in list(result)[:10]]
    elif result is not None:
        out["result"] = str(result)[:500]
    return out


def call_webhook(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """POST the event and earlier steps' outcomes as signed JSON to the receiver."""
    token = action.get("secret_encrypted")
    if not token:
        raise StepError("The webhook step has no stored secret; edit the workflow and enter one.")
    secret = secret_box().decrypt(token, source=ctx.workflow_name).get("secret", "")
    body = {
        "event": ctx.event_type,
        "workflow": {"id": ctx.workflow_id, "name": ctx.workflow_name},
        "run_id": ctx.run_id,
        "step": ctx.step_index,
        "tenant": ctx.principal.tenant_name,
        "data": {k: v for k, v in ctx.payload.items() if k != "dedupe_key"},
        "steps": [{k: v for k, v in (o or {}).items() if k != "metrics"} for o in ctx.outputs],
    }
    if action.get("message"):
        body["message"] = ctx.render(action["message"])
    result = notify.send_webhook(
        action["url"], body, secret=secret, event=ctx.event_type,
        delivery_id=f"aihub-{ctx.tenant_id}-{ctx.run_id}-{ctx.step_index}", headers=action.get("headers") or {},
        max_attempts=int(action.get("max_attempts", 3)), backoff_seconds=float(action.get("backoff_seconds", 1.0)),
        timeout_seconds=float(action.get("timeout_seconds", 10.0)), name=f"webhook of '{ctx.workflow_name}'")
    return {"type": "call_webhook", "url": action["url"], **result.to_dict()}


def _default_body(ctx: StepContext) -> str:
    lines = [f"Workflow '{ctx.workflow_name}' (run {ctx.run_id}) was started by {ctx.event_type}."]
    lines += [f"  {k}: {v}" for k, v in ctx.payload.items() if k != "dedupe_key" and not isinstance(v, dict | list)]
    return "\n".join(lines)


def send_email(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Send an e-mail through the configured SMTP server."""
    if ctx.state.get("message_id"):
        return {"type": "send_email", "message_id": ctx.state["message_id"], "note": "already sent"}
    result = notify.send_email(action["to"], ctx.render(action["subject"]),
                               ctx.render(action.get("body") or "") or _default_body(ctx))
    ctx.checkpoint(message_id=result.message_id)
    return {"type": "send_email", **result.to_dict()}


def _anomaly_id(ctx: StepContext) -> int | None:
    if ctx.event_type != "anomaly_detected":
        return None
    aid = ctx.payload.get("anomaly_id", ctx.payload.get("id"))
    return aid if isinstance(aid, int) and not isinstance(aid, bool) else None


def create_task(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """Create a to-do for a user (once per run and title); on an anomaly, also assign it to them."""
    title = ctx.render(action["title"])[:300] or ACTION_LABELS["create_task"]
    description = ctx.render(action.get("description") or "") or _default_body(ctx)
    with tenant_session(ctx.tenant_id) as s:
        assignee = None
        if action.get("assignee") is not None:
            assignee = wstore.find_user(s, action["assignee"])
            if assignee is None or not assignee.is_active:
                raise StepError(f"The assignee {action['assignee']!r} is not an active user of your organization; "
                                "edit the workflow.")
        task = wstore.find_task(s, ctx.run_id, title) or wstore.create_task(
            s, tenant_id=ctx.tenant_id, title=title, description=description,
            assignee_id=assignee.id if assignee else None, run_id=ctx.run_id)
    out: dict[str, Any] = {"type": "create_task", "task_id": task.id, "title": task.title,
                           "assignee": task.assignee}
    anomaly_id = _anomaly_id(ctx)
    if action.get("assign_anomaly") and anomaly_id is not None and assignee is not None:
        assign = getattr(anomaly_svc, "assign", None)
        if assign is not None:
            try:
                assign(ctx.principal, anomaly_id, assignee.id,
                       note=f"Assigned by workflow '{ctx.workflow_name}' (run {ctx.run_id}).")
                out["anomaly_assigned"] = anomaly_id
            except ValidationError as exc:
                if "already assigned" not in str(exc):
                    raise
                out["anomaly_assigned"] = anomaly_id
    return out


#: Action type -> function.
ACTIONS: dict[str, Callable[[StepContext, Mapping[str, Any]], dict[str, Any]]] = {
    "retrain_model": retrain_model, "promote_challenger": promote_challenger, "run_monitor": run_monitor,
    "generate_insights": generate_insights, "batch_prediction": batch_prediction, "call_webhook": call_webhook,
    "send_email": send_email, "create_task": create_task,
}


def approval_context(ctx: StepContext, action: Mapping[str, Any]) -> dict[str, Any]:
    """What an approver sees beside the step: for model steps the versions and metrics, else the step's settings."""
    kind = action.get("type")
    base = {"step": action.get("name") or ACTION_LABELS.get(kind, kind), "type": kind,
            "event": ctx.event_type, "trigger": {k: v for k, v in ctx.payload.items() if k != "dedupe_key"}}
    try:
        if kind == "promote_challenger":
            return {**base, **promote_context(ctx, action)}
        if kind in ("retrain_model", "batch_prediction"):
            return {**base, **retrain_context(ctx, action)}
    except (NotFound, Conflict, StepError) as exc:
        return {**base, "problem": str(exc)}
    return {**base, "settings": public_action(action)}


def public_action(action: Mapping[str, Any]) -> dict[str, Any]:
    """An action safe to show: a webhook's secret is masked."""
    from aihub.connectors.config import MASK

    out = {k: v for k, v in action.items() if k not in ("secret", "secret_encrypted")}
    if action.get("type") == "call_webhook":
        out["secret"] = MASK if action.get("secret_encrypted") or action.get("secret") else ""
    return out
