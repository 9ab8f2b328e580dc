"""Workflows: automations with their success rate and runs, the approvals queue, tasks, and new workflows."""

import json
import secrets

import pandas as pd
import streamlit as st

from aihub import datasets, registry, workflows
from aihub.anomaly import SEVERITIES
from aihub.errors import AihubError
from aihub.services import monitors as monitor_svc
from pages import _common as ui
from pages._common import call, flash, show_flash

p = ui.principal()
st.title("Workflows")
st.caption("A workflow is a trigger, optional conditions and ordered steps. Steps run as the person who last saved "
           "the workflow, with that person's permissions; a step can wait for someone's approval.")
can_edit = p.can("automation")

STATUS_BADGE = {
    "queued": ":gray[queued]", "running": ":blue[running]", "waiting_approval": ":orange[waiting for approval]",
    "succeeded": ":green[succeeded]", "failed": ":red[failed]", "rejected": ":red[rejected]",
    "expired": ":gray[expired]", "pending": ":gray[pending]", "skipped": ":gray[skipped]",
    "approved": ":green[approved]",
}
STATUS_ICON = {"succeeded": ":green[:material/check_circle:]", "failed": ":red[:material/cancel:]",
               "rejected": ":red[:material/block:]", "expired": ":gray[:material/schedule:]",
               "waiting_approval": ":orange[:material/pending:]", "running": ":blue[:material/autorenew:]",
               "queued": ":gray[:material/hourglass_empty:]"}
EXAMPLE_JSON = {
    "name": "Critical revenue anomaly to the on-call channel",
    "description": "Post critical revenue anomalies to our alerting webhook.",
    "trigger": {"type": "anomaly_detected", "min_severity": "critical"},
    "conditions": [{"field": "metric", "op": "contains", "value": "revenue"}],
    "actions": [{"type": "call_webhook", "url": "https://hooks.example.com/aihub",
                 "secret": "replace-with-a-secret-of-16+-characters",
                 "message": "{{event.severity}} anomaly on {{event.metric}} ({{event.slice}})"}],
    "approval_timeout_hours": 72,
}


def badge(status: str) -> str:
    return STATUS_BADGE.get(status, status)


def fmt_time(ts) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC" if ts is not None else ""


show_flash()
summaries = ui.attempt(workflows.list_workflows, p) or []
pending = ui.attempt(workflows.list_approvals, p) or []
open_tasks = ui.attempt(workflows.list_tasks, p, mine=True) or []
tab_list, tab_runs, tab_approvals, tab_tasks, tab_new = st.tabs([
    "Workflows", "Runs", f"Approvals ({len(pending)})", f"My tasks ({len(open_tasks)})", "New workflow"])


# =============================================================== workflows
def on_run_now(workflow_id: int) -> None:
    run_id = call(workflows.run_now, p, workflow_id)
    if run_id is not None:
        flash("success", f"Run {run_id} started; see the Runs tab.")


def on_toggle(workflow_id: int, enabled: bool) -> None:
    wf = call(workflows.set_enabled, p, workflow_id, enabled)
    if wf is not None:
        flash("success", f"'{wf.name}' is {'on' if wf.enabled else 'off'}.")


def on_delete(workflow_id: int) -> None:
    if not st.session_state.get(f"wf_del_ok_{workflow_id}"):
        flash("warning", "Tick the box to confirm the deletion first.")
        return
    try:
        workflows.delete_workflow(p, workflow_id)
    except AihubError as exc:
        flash("error", str(exc))
    else:
        flash("success", "The workflow and its runs were deleted.")


def on_save_json(workflow_id: int) -> None:
    wf = call(workflows.update_workflow, p, workflow_id, st.session_state.get(f"wf_json_{workflow_id}") or "")
    if wf is not None:
        flash("success", f"Saved '{wf.name}'. Its steps now run as you.")
        st.session_state.pop(f"wf_json_{workflow_id}", None)


with tab_list:
    if not summaries:
        st.info("No workflows yet." + (" Create one on the **New workflow** tab, for example from a template."
                                       if can_edit else ""))
    for sm in summaries:
        w, stats = sm.workflow, sm.stats
        with st.container(border=True):
            c1, c2 = st.columns([3, 2])
            c1.markdown(f"**{w.name}** · {':green[on]' if w.enabled else ':gray[off]'}")
            steps = " → ".join((":material/lock: " if a.get("require_approval") else "") + a.get("name", a["type"])
                               for a in w.definition.get("actions", []))
            c1.caption(f"**When:** {workflows.describe_trigger(w.definition['trigger'])}"
                       + (f" · **if** {len(w.definition.get('conditions') or [])} condition(s)"
                          if w.definition.get("conditions") else "") + f"  \n**Then:** {steps}")
            c1.caption(f"Runs as {w.created_by_name or 'nobody (save it to take it over)'}"
                       + (f" · last fired {fmt_time(w.last_fired_at)}" if w.last_fired_at else ""))
            rate = sm.success_rate
            c2.markdown(f"Success rate **{rate:.0%}** ({stats.succeeded} of {stats.succeeded + stats.failed})"
                        if rate is not None else "Success rate: no finished runs yet")
            extra = [f"{n} {label}" for n, label in ((stats.rejected, "rejected"), (stats.expired, "expired"),
                                                      (stats.active, "in progress")) if n]
            if extra:
                c2.caption(" · ".join(extra))
            if stats.last_runs:
                c2.markdown("Last runs: " + " ".join(f"{STATUS_ICON.get(s, s)} #{rid}" for rid, s, _ in stats.last_runs))
            if can_edit:
                b1, b2, b3 = st.columns(3)
                b1.button("Run now", key=f"wf_run_{w.id}", on_click=on_run_now, args=(w.id,),
                          icon=":material/play_arrow:")
                b2.button("Turn off" if w.enabled else "Turn on", key=f"wf_toggle_{w.id}", on_click=on_toggle,
                          args=(w.id, not w.enabled))
                with b3.expander("Delete"):
                    st.checkbox("Delete this workflow and its runs", key=f"wf_del_ok_{w.id}")
                    st.button("Delete", key=f"wf_del_{w.id}", on_click=on_delete, args=(w.id,), type="primary")
                with st.expander("Edit as JSON"):
                    st.session_state.setdefault(f"wf_json_{w.id}", workflows.workflow_json(w))
                    st.text_area("Workflow JSON (the masked secret \"********\" keeps the stored one)", key=f"wf_json_{w.id}",
                                 height=300)
                    st.button("Save changes", key=f"wf_save_{w.id}", on_click=on_save_json, args=(w.id,))
            else:
                with st.expander("Definition"):
                    st.code(workflows.workflow_json(w), language="json")


# =============================================================== runs
with tab_runs:
    names = {sm.workflow.id: sm.workflow.name for sm in summaries}
    wf_filter = st.selectbox("Workflow", [None, *names], key="runs_workflow",
                             format_func=lambda i: "All workflows" if i is None else names[i])
    runs = ui.attempt(workflows.list_runs, p, wf_filter, limit=100) or []
    if not runs:
        st.info("No runs yet.")
    else:
        st.dataframe(pd.DataFrame([{
            "run": r.id, "workflow": r.workflow_name, "trigger": r.trigger.get("type"),
            "status": r.status.replace("_", " "), "started": r.started_at, "seconds": r.seconds,
            "steps": f"{sum(s['status'] in ('succeeded', 'skipped') for s in r.steps)}/{len(r.steps)}",
            "error": r.error or "",
        } for r in runs]), hide_index=True, width="stretch", key="runs_table",
            column_config={"error": st.column_config.TextColumn(width="large"),
                           "seconds": st.column_config.NumberColumn(format="%.1f")})
        by_run = {r.id: r for r in runs}
        pick = st.selectbox("Run details", list(by_run), key="run_pick",
                            format_func=lambda i: f"#{i} · {by_run[i].workflow_name} · {by_run[i].status}")
        run = by_run[pick]
        st.markdown(f"**Run {run.id}** of **{run.workflow_name}** · {badge(run.status)} · started "
                    f"{fmt_time(run.started_at)}" + (f" · {run.seconds:.1f} s" if run.seconds is not None else ""))
        st.caption(f"Trigger: {run.trigger.get('type')} — {run.trigger.get('description', '')}")
        if run.error:
            st.error(run.error)
        for step in run.steps:
            with st.container(border=True):
                timing = f" · {step['seconds']:.2f} s" if step.get("seconds") is not None else ""
                tries = f" · attempt {step['attempts']}" if (step.get("attempts") or 0) > 1 else ""
                lock = " :material/lock:" if step.get("action", {}).get("require_approval") else ""
                st.markdown(f"{step['index'] + 1}. **{step['name']}**{lock} · {badge(step['status'])}{timing}{tries}")
                if step.get("decided_by"):
                    st.caption(f"{step.get('approval_status', '').capitalize()} by {step['decided_by']}"
                               + (f": {step['decision_note']}" if step.get("decision_note") else ""))
                if step.get("error"):
                    st.error(step["error"])
                if step.get("note"):
                    st.info(step["note"])
                if step.get("output"):
                    st.json(step["output"], expanded=False)
        with st.expander("Trigger inputs"):
            st.json(run.trigger.get("payload") or {})


# =============================================================== approvals
def on_decide(approval_id: int, approve: bool) -> None:
    note = st.session_state.get(f"appr_note_{approval_id}") or ""
    a = call(workflows.decide, p, approval_id, approve, note)
    if a is not None:
        flash("success", f"Step {a.step_index + 1} of run {a.workflow_run_id} {a.status}."
                         + (" The run continues in the background." if a.status == "approved" else ""))


def versions_table(ctx: dict) -> pd.DataFrame | None:
    cols = {f"champion (v{ctx['champion']['version']})": ctx["champion"]["metrics"]} if ctx.get("champion") else {}
    if ctx.get("challenger"):
        cols[f"challenger (v{ctx['challenger']['version']})"] = ctx["challenger"]["metrics"]
    if not cols:
        return None
    names = sorted({k for m in cols.values() for k, v in m.items() if isinstance(v, int | float)})
    return pd.DataFrame({c: [m.get(k) for k in names] for c, m in cols.items()}, index=names)


with tab_approvals:
    if not pending:
        st.info("Nothing waits for approval.")
    for a in pending:
        ctx = a.context
        with st.container(border=True):
            st.markdown(f"**{a.workflow_name}** · run #{a.workflow_run_id} · step {a.step_index + 1}: "
                        f"**{ctx.get('step', a.action.get('name', ''))}**")
            st.caption(f"Requested {fmt_time(a.requested_at)} · expires {fmt_time(a.expires_at)} · "
                       f"started by {ctx.get('event', '')}")
            if ctx.get("model"):
                st.markdown(f"Model **{ctx['model']}** ({ctx.get('kind', '')})")
            table = versions_table(ctx)
            if table is not None:
                st.dataframe(table, width="stretch", key=f"appr_versions_{a.id}")
            guard = ctx.get("guard")
            if guard:
                (st.success if guard.get("passes") else st.warning)(f"Guard: {guard.get('summary')}")
            if ctx.get("problem"):
                st.warning(ctx["problem"])
            with st.expander("Why this run started"):
                st.json(ctx.get("reason") or ctx.get("trigger") or {})
            if ctx.get("settings"):
                with st.expander("Step settings"):
                    st.json(ctx["settings"])
            if can_edit:
                st.text_input("Note (required to reject)", key=f"appr_note_{a.id}")
                c1, c2 = st.columns(2)
                c1.button("Approve", key=f"appr_yes_{a.id}", type="primary", on_click=on_decide, args=(a.id, True),
                          icon=":material/check:")
                c2.button("Reject", key=f"appr_no_{a.id}", on_click=on_decide, args=(a.id, False),
                          icon=":material/close:")
            else:
                st.caption("Your role can view approvals but not decide them.")
    decided = [a for a in (ui.attempt(workflows.list_approvals, p, pending_only=False) or []) if a.status != "pending"]
    if decided:
        st.markdown("**Decisions**")
        st.dataframe(pd.DataFrame([{
            "run": a.workflow_run_id, "workflow": a.workflow_name, "step": a.step_index + 1, "status": a.status,
            "by": a.decided_by_name or ("(expired)" if a.status == "expired" else ""), "at": a.decided_at,
            "note": a.note or "",
        } for a in decided]), hide_index=True, width="stretch", key="decisions")


# =============================================================== tasks
def on_done(task_id: int) -> None:
    t = call(workflows.complete_task, p, task_id)
    if t is not None:
        flash("success", f"Task '{t.title}' is done.")


with tab_tasks:
    c1, c2 = st.columns(2)
    everyone = c1.toggle("Everyone's tasks", key="tasks_all")
    show_done = c2.toggle("Show done tasks", key="tasks_done")
    tasks = ui.attempt(workflows.list_tasks, p, mine=not everyone, open_only=not show_done) or []
    if not tasks:
        st.info("No tasks.")
    for t in tasks:
        with st.container(border=True):
            st.markdown(f"**{t.title}** · {':green[done]' if t.status == 'done' else ':orange[open]'}")
            st.caption(f"For {t.assignee or 'anyone'} · created {fmt_time(t.created_at)}"
                       + (f" by run #{t.workflow_run_id}" if t.workflow_run_id else "")
                       + (f" · done {fmt_time(t.done_at)}" if t.done_at else ""))
            if t.description:
                st.text(t.description)
            if t.status == "open" and (t.assignee_id == p.user_id or can_edit):
                st.button("Mark done", key=f"task_done_{t.id}", on_click=on_done, args=(t.id,))


# =============================================================== new workflow
def secret_default(key: str) -> None:
    st.session_state.setdefault(key, secrets.token_urlsafe(24))


def on_create_template() -> None:
    ss = st.session_state
    key = ss.get("tpl_key")
    params = {prm.key: ss.get(f"tpl_{key}_{prm.key}") for prm in workflows.TEMPLATES[key].params}
    params["name"] = ss.get("tpl_name") or ""
    wf = call(workflows.create_from_template, p, key, params)
    if wf is not None:
        flash("success", f"Created '{wf.name}'. It is on; see it on the Workflows tab.")


def draft_action() -> dict:
    """The action the form's step fields describe."""
    ss = st.session_state
    kind = ss.get("fa_type")
    action: dict = {"type": kind, "require_approval": bool(ss.get("fa_approval"))}
    if ss.get("fa_name"):
        action["name"] = ss["fa_name"]
    if kind in ("retrain_model", "promote_challenger", "batch_prediction") and ss.get("fa_model") is not None:
        action["model_id"] = ss["fa_model"]
    if kind == "retrain_model":
        action["challenger_share"] = ss.get("fa_share", 0.2)
    elif kind == "promote_challenger":
        if ss.get("fa_metric"):
            action["metric"] = ss["fa_metric"]
        action["max_drop"] = ss.get("fa_max_drop", 0.0)
    elif kind == "run_monitor" and ss.get("fa_monitor") is not None:
        action["monitor_id"] = ss["fa_monitor"]
    elif kind == "generate_insights":
        action["categories"] = [c.strip() for c in (ss.get("fa_categories") or "").split(",") if c.strip()]
    elif kind == "batch_prediction" and ss.get("fa_dataset") is not None:
        action["dataset_id"] = ss["fa_dataset"]
    elif kind == "call_webhook":
        action.update(url=ss.get("fa_url") or "", secret=ss.get("fa_secret") or "", message=ss.get("fa_message") or "")
    elif kind == "send_email":
        action.update(to=ss.get("fa_to") or "", subject=ss.get("fa_subject") or "", body=ss.get("fa_body") or "")
    elif kind == "create_task":
        action.update(assignee=ss.get("fa_assignee"), title=ss.get("fa_title") or "",
                      description=ss.get("fa_description") or "", assign_anomaly=bool(ss.get("fa_assign_anomaly")))
    return action


def on_add_step() -> None:
    ss = st.session_state
    ss.setdefault("f_actions", []).append(draft_action())
    ss.pop("fa_secret", None)


def on_remove_step(i: int) -> None:
    st.session_state.setdefault("f_actions", []).pop(i)


def form_workflow() -> dict:
    ss = st.session_state
    kind = ss.get("f_trigger")
    trigger: dict = {"type": kind}
    if kind == "schedule":
        trigger.update(cron=ss.get("f_cron") or "", timezone=ss.get("f_tz") or "UTC")
    elif kind == "anomaly_detected":
        trigger.update(min_severity=ss.get("f_severity"), monitor_id=ss.get("f_monitor"))
    elif kind == "prediction":
        trigger.update(model_id=ss.get("f_model"), field=ss.get("f_field"), direction=ss.get("f_direction"),
                       threshold=ss.get("f_threshold"))
    elif kind == "source_synced":
        trigger.update(source_id=ss.get("f_source"), only_changed=bool(ss.get("f_changed")))
    elif kind == "drift_detected":
        trigger.update(model_id=ss.get("f_model"))
    elif kind == "accuracy_drop":
        trigger.update(model_id=ss.get("f_model"), tolerance=ss.get("f_tolerance"))
    elif kind == "reorder_point":
        trigger.update(model_id=ss.get("f_model"), product=ss.get("f_product") or None)
    elif kind == "next_best_action":
        trigger.update(model_id=ss.get("f_model"), feature=ss.get("f_feature") or None)
    return {"name": ss.get("f_name") or "", "description": ss.get("f_description") or "",
            "enabled": bool(ss.get("f_enabled", True)), "trigger": trigger,
            "conditions": workflows.parse_conditions(ss.get("f_conditions") or ""),
            "actions": list(ss.get("f_actions") or []), "approval_timeout_hours": ss.get("f_hours", 72.0)}


def on_save_form() -> None:
    try:
        raw = form_workflow()
    except AihubError as exc:
        flash("error", str(exc))
        return
    wf = call(workflows.create_workflow, p, raw)
    if wf is not None:
        flash("success", f"Created '{wf.name}'.")
        st.session_state["f_actions"] = []


def on_check_json() -> None:
    result = call(workflows.validate_workflow, p, st.session_state.get("wf_new_json") or "")
    if result is not None:
        flash("success", "The workflow is valid: " + workflows.describe_trigger(result["trigger"]) + " → "
              + " → ".join(a["name"] for a in result["actions"]))


def on_save_json_new() -> None:
    wf = call(workflows.create_workflow, p, st.session_state.get("wf_new_json") or "")
    if wf is not None:
        flash("success", f"Created '{wf.name}'.")


def model_options() -> dict:
    """Models, deployed first, then those with versions; one without a version says so (it cannot serve a step)."""
    found = ui.attempt(registry.list_models, p) or []
    ranked = sorted(found, key=lambda m: (m.active_version_id is None, m.versions == 0, m.name.lower()))
    return {m.id: f"{m.name} ({m.kind})" + ("" if m.versions else " · no versions yet") for m in ranked}


def pick(label: str, options: dict, key: str, *, optional: str | None = None, where=st):
    ids = ([None] if optional else []) + list(options)
    if not ids:
        where.caption(f"{label}: none yet.")
        return None
    return where.selectbox(label, ids, key=key, format_func=lambda i: optional if i is None else options[i])


with tab_new:
    if not can_edit:
        st.info("Your role can view workflows but not create them.")
    else:
        mode = st.radio("Start from", ["A template", "The form", "JSON"], horizontal=True, key="new_mode")
        users = {u.username: f"{u.name} <{u.email}>" for u in (ui.attempt(workflows.assignable_users, p) or [])}
        if mode == "A template":
            tpls = {t.key: t for t in workflows.list_templates()}
            key = st.selectbox("Template", list(tpls), key="tpl_key", format_func=lambda k: tpls[k].title)
            st.caption(tpls[key].description)
            for prm in tpls[key].params:
                wkey = f"tpl_{key}_{prm.key}"
                if prm.kind == "model":
                    pick(prm.label, model_options(), wkey)
                elif prm.kind == "user":
                    pick(prm.label, users, wkey)
                elif prm.kind == "severity":
                    st.selectbox(prm.label, SEVERITIES, index=SEVERITIES.index(prm.default or "critical"), key=wkey)
                elif prm.kind == "secret":
                    secret_default(wkey)
                    st.text_input(prm.label, key=wkey, help=prm.help + ". Copy it to your receiver now: it is "
                                  "stored encrypted and not shown again.")
                elif prm.kind == "number":
                    st.number_input(prm.label, value=float(prm.default or 0.0), key=wkey, help=prm.help or None)
                else:
                    st.text_input(prm.label, value=prm.default or "", key=wkey, help=prm.help or None)
            st.text_input("Workflow name (optional)", key="tpl_name")
            st.button("Create workflow", key="tpl_create", type="primary", on_click=on_create_template)
        elif mode == "The form":
            models = model_options()
            monitors = {m.id: m.name for m in (ui.attempt(monitor_svc.list_monitors, p) or [])}
            c1, c2 = st.columns(2)
            c1.text_input("Name", key="f_name")
            c2.text_input("Description", key="f_description")
            st.markdown("**When**")
            kind = st.selectbox("Trigger", workflows.TRIGGER_TYPES, key="f_trigger",
                                format_func=workflows.TRIGGER_LABELS.get)
            c1, c2, c3 = st.columns(3)
            if kind == "schedule":
                cron = c1.text_input("Cron (minute hour day month weekday)", value="0 6 * * 1", key="f_cron",
                                     help="'0 6 * * 1' = Mondays 06:00; '*/15 * * * *' = every 15 minutes")
                c1.caption(workflows.cron_in_words(cron))
                c2.text_input("Time zone", value="UTC", key="f_tz")
            elif kind == "anomaly_detected":
                c1.selectbox("Lowest severity", SEVERITIES, index=SEVERITIES.index("high"), key="f_severity")
                pick("Monitor", monitors, "f_monitor", optional="Any monitor", where=c2)
            elif kind == "prediction":
                pick("Model", models, "f_model", where=c1)
                c2.selectbox("Field", ["probability", "value"], key="f_field")
                c3.selectbox("Direction", ["above", "below"], key="f_direction")
                st.number_input("Threshold", value=0.8, key="f_threshold")
            elif kind == "source_synced":
                from aihub.services import sources

                srcs = {s.id: s.name for s in (ui.attempt(sources.list_sources, p) or [])}
                pick("Data source", srcs, "f_source", optional="Any source", where=c1)
                c2.checkbox("Only when the data changed", key="f_changed")
            elif kind == "drift_detected":
                pick("Model", models, "f_model", optional="Any model", where=c1)
            elif kind == "accuracy_drop":
                pick("Model", models, "f_model", optional="Any model", where=c1)
                c2.number_input("Tolerance (drop below the baseline)", value=0.05, min_value=0.0, max_value=1.0,
                                key="f_tolerance")
            elif kind == "reorder_point":
                pick("Inventory model", models, "f_model", optional="Any inventory model", where=c1)
                c2.text_input("Product (blank: any)", key="f_product")
            elif kind == "next_best_action":
                pick("Churn model", models, "f_model", optional="Any model", where=c1)
                c2.text_input("Feature changed (blank: any)", key="f_feature")
            st.text_area("Only if (optional, one condition per line)", key="f_conditions",
                         placeholder="metric contains revenue\nimpact < -1000\nseverity >= high",
                         help=f"field comparison value; comparisons: {', '.join(workflows.CONDITION_OPS)}")
            st.markdown("**Then**")
            for i, action in enumerate(st.session_state.get("f_actions") or []):
                c1, c2 = st.columns([5, 1])
                c1.markdown(f"{i + 1}. {workflows.ACTION_LABELS[action['type']]}"
                            + (" · needs approval" if action.get("require_approval") else "")
                            + (f" · {action.get('name')}" if action.get("name") else ""))
                c2.button("Remove", key=f"f_remove_{i}", on_click=on_remove_step, args=(i,))
            with st.container(border=True):
                akind = st.selectbox("Add a step", workflows.ACTION_TYPES, key="fa_type",
                                     format_func=workflows.ACTION_LABELS.get)
                c1, c2 = st.columns(2)
                c1.text_input("Step name (optional)", key="fa_name")
                c2.checkbox("Needs approval", key="fa_approval")
                from_event = "From the event" if kind in ("prediction", "drift_detected", "accuracy_drop") else None
                if akind in ("retrain_model", "promote_challenger", "batch_prediction"):
                    pick("Model", models, "fa_model", optional=from_event, where=c1)
                if akind == "retrain_model":
                    c2.number_input("Challenger's share of traffic", value=0.2, min_value=0.0, max_value=1.0,
                                    key="fa_share")
                elif akind == "promote_challenger":
                    c1.text_input("Metric that must not drop (empty: roc_auc or mase)", key="fa_metric")
                    c2.number_input("Allowed drop", value=0.0, min_value=0.0, key="fa_max_drop")
                elif akind == "run_monitor":
                    pick("Monitor", monitors, "fa_monitor",
                         optional="The event's monitor" if kind == "anomaly_detected" else None, where=c1)
                elif akind == "generate_insights":
                    c1.text_input("Categories (comma-separated, empty: all)", key="fa_categories")
                elif akind == "batch_prediction":
                    dsets = {d.id: d.name for d in (ui.attempt(datasets.list_datasets, p) or [])}
                    pick("Dataset", dsets, "fa_dataset", optional="The model's dataset", where=c2)
                elif akind == "call_webhook":
                    c1.text_input("URL", key="fa_url", placeholder="https://hooks.example.com/aihub")
                    secret_default("fa_secret")
                    c2.text_input("Signing secret", key="fa_secret",
                                  help="Copy it to your receiver: it checks X-AIHub-Signature with it.")
                    st.text_input("Message (optional; {{event.metric}} etc.)", key="fa_message")
                elif akind == "send_email":
                    c1.text_input("To (comma-separated)", key="fa_to")
                    c2.text_input("Subject", key="fa_subject", value="{{workflow.name}}: {{trigger}}")
                    st.text_area("Body (optional)", key="fa_body")
                elif akind == "create_task":
                    pick("Assignee", users, "fa_assignee", optional="Nobody in particular", where=c1)
                    c2.text_input("Title", key="fa_title", value="Follow up on {{trigger}}")
                    st.text_area("Description (optional)", key="fa_description")
                    st.checkbox("Also assign the anomaly that started the run", value=kind == "anomaly_detected",
                                key="fa_assign_anomaly")
                st.button("Add step", key="fa_add", on_click=on_add_step, icon=":material/add:")
            c1, c2 = st.columns(2)
            c1.number_input("Approvals expire after (hours)", value=72.0, min_value=1.0, max_value=720.0,
                            key="f_hours")
            c2.checkbox("On", value=True, key="f_enabled")
            st.button("Save workflow", key="f_save", type="primary", on_click=on_save_form)
        else:
            st.session_state.setdefault("wf_new_json", json.dumps(EXAMPLE_JSON, indent=2))
            st.text_area("Workflow JSON", key="wf_new_json", height=420,
                         help="Triggers: " + ", ".join(workflows.TRIGGER_TYPES) + ". Steps: "
                              + ", ".join(workflows.ACTION_TYPES) + ".")
            c1, c2 = st.columns(2)
            c1.button("Check", key="wf_new_check", on_click=on_check_json)
            c2.button("Create workflow", key="wf_new_save", type="primary", on_click=on_save_json_new)
