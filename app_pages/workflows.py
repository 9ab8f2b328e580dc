"""Workflows: automations with their success rate and runs, the approvals queue, tasks, and new workflows."""


import pandas as pd
import streamlit as st

from aihub import workflows
from aihub.errors import AihubError
from app_pages import _common as ui
from app_pages import _workflow_form as workflow_form
from app_pages._common import call, flash, show_flash

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
with tab_new:
    workflow_form.render(p, can_edit)
