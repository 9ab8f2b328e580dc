"""Automation workflows: a trigger, optional conditions and ordered actions, with people approving where it matters.

Modules
-------
definition
    The JSON shape, validation, trigger matching, conditions, placeholders.
actions
    What a step does (retrain, promote, run a monitor, insights, batch
    prediction, webhook, e-mail, task), run as the workflow's owner.
engine
    :func:`emit`, :func:`enqueue_run`, :func:`execute_run`, :func:`tick`,
    :func:`decide` (what the worker and the page call).
service
    The Workflows page's API (create, list, runs, approvals, tasks, templates).
templates
    The ready-made workflows.

Worker tasks (in :mod:`aihub.runtime.worker`): ``aihub.run_workflow`` calls
:func:`execute_run`; the minute tick calls :func:`tick`. Services publish
events (:mod:`aihub.events`: monitor runs, source syncs, drift, predictions,
accuracy); :func:`on_event` is subscribed to them by :func:`aihub.runtime.wiring.wire`.
"""

from aihub.workflows.definition import (
    ACTION_LABELS,
    ACTION_TYPES,
    CONDITION_OPS,
    EVENT_TYPES,
    TRIGGER_LABELS,
    TRIGGER_TYPES,
    cron_in_words,
    describe_trigger,
    normalize,
    parse_conditions,
    parse_json,
)
from aihub.workflows.engine import (
    decide,
    due_time,
    emit,
    enqueue_run,
    execute_run,
    on_event,
    on_event_in,
    tick,
    wait_for_run,
)
from aihub.workflows.service import (
    ApprovalRecord,
    RunRecord,
    RunStats,
    TaskRecord,
    WorkflowRecord,
    WorkflowSummary,
    assignable_users,
    complete_task,
    create_from_template,
    create_workflow,
    delete_workflow,
    disable_workflow,
    enable_workflow,
    get_approval,
    get_run,
    get_workflow,
    list_approvals,
    list_runs,
    list_tasks,
    list_templates,
    list_workflows,
    run_now,
    set_enabled,
    template_workflow,
    update_workflow,
    validate_workflow,
    workflow_json,
)
from aihub.workflows.templates import TEMPLATES

__all__ = [
    "ACTION_LABELS", "ACTION_TYPES", "CONDITION_OPS", "EVENT_TYPES", "TEMPLATES", "TRIGGER_LABELS", "TRIGGER_TYPES",
    "ApprovalRecord", "RunRecord", "RunStats", "TaskRecord", "WorkflowRecord", "WorkflowSummary",
    "assignable_users", "complete_task", "create_from_template", "create_workflow", "cron_in_words", "decide", "delete_workflow",
    "describe_trigger", "disable_workflow", "due_time", "emit", "enable_workflow", "enqueue_run", "execute_run",
    "get_approval", "get_run", "get_workflow", "list_approvals", "list_runs", "list_tasks", "list_templates",
    "list_workflows", "normalize", "on_event", "on_event_in", "parse_conditions", "parse_json", "run_now", "set_enabled", "template_workflow", "tick",
    "update_workflow", "validate_workflow", "wait_for_run", "workflow_json",
]
