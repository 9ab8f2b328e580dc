"""Monitors: the list (last run, next run, failures and why), one monitor's schedule, alerts, edits, runs and
learned rules, and the new-monitor form."""

import json

import pandas as pd
import streamlit as st

from aihub.anomaly import schedule
from aihub.anomaly.severity import SEVERITIES
from aihub.errors import AihubError
from aihub.services import anomalies as anomaly_svc
from aihub.services import monitors as monitor_svc
from app_pages import _common as ui
from app_pages._monitor_form import announce_run, new_monitor_form

p = ui.principal()
st.title("Monitors")
ui.show_flash()
EVERY = {"manual": "Only by hand", "hourly": "Every hour", "daily": "Every day", "weekly": "Every week",
         "cron": "Cron expression"}
DIGEST = {"none": "Right away", "hourly": "Hourly digest", "daily": "Daily digest"}


def on_run(monitor_id: int) -> None:
    announce_run(ui.call(monitor_svc.run_monitor, p, monitor_id))


def on_rule(rule_id: int, active: bool) -> None:
    rule = ui.call(anomaly_svc.reapply_rule if active else anomaly_svc.undo_rule, p, rule_id)
    if rule is not None:
        ui.flash("success", ("Applied again: " if active else "Undone: ") + rule.description)


def on_enable(monitor_id: int, enabled: bool) -> None:
    if ui.call(monitor_svc.set_enabled, p, monitor_id, enabled) is not None:
        ui.flash("success", "Resumed: it runs on its schedule again." if enabled else "Paused: it runs only by hand.")


def on_schedule(monitor_id: int) -> None:
    ss = st.session_state
    raw = {"every": ss.get("sc_every"), "at": ss.get("sc_at"), "minute": int(ss.get("sc_minute") or 0),
           "weekday": ss.get("sc_weekday", 0), "cron": ss.get("sc_cron") or None,
           "timezone": ss.get("sc_tz") or "UTC", "after_sync": bool(ss.get("sc_after_sync"))}
    mon = ui.call(monitor_svc.set_schedule, p, monitor_id, raw)
    if mon is not None:
        ui.flash("success", "Schedule saved: " + schedule.describe_schedule(schedule.parse_schedule(mon.schedule)))


def on_alerting(monitor_id: int) -> None:
    ss = st.session_state
    quiet = ({"start": ss.get("al_q_start"), "end": ss.get("al_q_end")}
             if ss.get("al_quiet") else None)
    raw = {"email": ss.get("al_email") or "", "webhook_url": ss.get("al_url") or None,
           "min_severity": ss.get("al_min"), "digest": ss.get("al_digest"), "digest_at": ss.get("al_digest_at"),
           "quiet_hours": quiet, "timezone": ss.get("al_tz") or "UTC"}
    if ui.call(monitor_svc.set_alerting, p, monitor_id, raw, webhook_secret=ss.get("al_secret") or None):
        ui.flash("success", "Alerting saved.")
        ss["al_secret"] = ""


def on_edit(monitor_id: int) -> None:
    raw = ui.call(monitor_svc.parse_config_json, st.session_state.get("ed_json") or "")
    if raw is not None and ui.call(monitor_svc.update_monitor, p, monitor_id, raw) is not None:
        ui.flash("success", "Configuration saved; a change to what is detected rescores the history at the next run.")


def on_delete(monitor_id: int) -> None:
    keep = not st.session_state.get("del_history")
    try:
        monitor_svc.delete_monitor(p, monitor_id, keep_history=keep)
    except AihubError as exc:
        ui.flash("error", ui.message(exc))
        return
    ui.flash("success", "Monitor deleted" + ("; its anomalies stay on the worklist." if keep else
                                             " with its anomalies."))
    st.session_state.pop("mon_pick", None)


def monitor_table(monitors: list) -> None:
    st.dataframe(pd.DataFrame([{
        "monitor": m.name, "dataset": m.dataset_name or "(deleted)", "metrics": ", ".join(m.metrics),
        "split by": ", ".join(m.dimensions) or "—", "runs": schedule.describe_schedule(
            schedule.parse_schedule(m.schedule or None)) if m.enabled else "Paused",
        "last run": m.last_run_at, "last status": m.last_run_status or "never", "next run": m.next_run_at,
        "failures in a row": m.failures, "last failure": m.last_error or "", "open anomalies": m.open_anomalies,
    } for m in monitors]), hide_index=True, width="stretch", column_config={
        "last failure": st.column_config.TextColumn(width="large")})


def schedule_form(mon) -> None:
    sc = schedule.parse_schedule(mon.schedule or None)
    with st.form(f"schedule_{mon.id}"):
        c1, c2, c3 = st.columns(3)
        every = c1.selectbox("Runs", list(EVERY), index=list(EVERY).index(sc.every), format_func=EVERY.get,
                             key="sc_every")
        c2.text_input("At (HH:MM)", sc.at, key="sc_at", help="Daily and weekly runs")
        c3.selectbox("Weekday", range(7), index=sc.weekday, format_func=lambda d: schedule.WEEKDAYS[d],
                     key="sc_weekday", help="Weekly runs")
        c1.number_input("Minute past the hour", 0, 59, sc.minute, key="sc_minute", help="Hourly runs")
        c2.text_input("Cron expression", sc.cron or "", key="sc_cron", placeholder="0 6 * * 1-5")
        c3.text_input("Time zone", sc.timezone, key="sc_tz", help="e.g. Europe/Berlin")
        st.checkbox("Also run after each sync of its data source", sc.after_sync, key="sc_after_sync")
        st.caption(f"Now: {schedule.describe_schedule(sc)}" + (f" (chosen: {EVERY[every]})" if every != sc.every
                                                                else ""))
        st.form_submit_button("Save schedule", on_click=on_schedule, args=(mon.id,), disabled=not p.can("update"))


def alerting_form(mon) -> None:
    al = schedule.parse_alerting(mon.alerting or None)
    with st.form(f"alerting_{mon.id}"):
        c1, c2 = st.columns(2)
        c1.text_input("E-mail to", ", ".join(al.email), key="al_email", placeholder="oncall@example.com, ...")
        c2.selectbox("Alert at or above", SEVERITIES, index=SEVERITIES.index(al.min_severity), key="al_min")
        c1.text_input("Webhook URL", al.webhook_url or "", key="al_url", help="Its host must be on the hub's "
                      "allow-list (AIHUB_ALLOWED_HOSTS).")
        c2.text_input("Webhook signing secret", key="al_secret", type="password",
                      placeholder="stored" if mon.has_alert_secret else "at least 16 characters")
        c1, c2, c3 = st.columns(3)
        c1.selectbox("When", list(DIGEST), index=list(DIGEST).index(al.digest), format_func=DIGEST.get,
                     key="al_digest")
        c2.text_input("Daily digest at", al.digest_at, key="al_digest_at")
        c3.text_input("Time zone", al.timezone, key="al_tz")
        q = al.quiet_hours
        st.checkbox("Quiet hours (alerts wait until they end)", q is not None, key="al_quiet")
        c1, c2 = st.columns(2)
        c1.text_input("Quiet from", q.start if q else "22:00", key="al_q_start")
        c2.text_input("Quiet until", q.end if q else "07:00", key="al_q_end")
        st.caption("One message per incident: later periods of the same ongoing problem are not sent again.")
        st.form_submit_button("Save alerting", on_click=on_alerting, args=(mon.id,), disabled=not p.can("update"))
    sent = ui.attempt(monitor_svc.list_alerts, p, mon.id) or []
    if sent:
        st.dataframe(pd.DataFrame([{"id": d.id, "channel": d.channel, "to": d.target, "incidents": len(d.incident_ids),
                                    "status": d.status, "due": d.due_at, "sent": d.sent_at, "error": d.error or ""}
                                   for d in sent]), hide_index=True, width="stretch")


def rules_section(mon) -> None:
    rules = ui.attempt(anomaly_svc.list_rules, p, mon.id) or []
    if not rules:
        st.caption("Nothing yet. Marking anomalies as false positives teaches the monitor to skip "
                   "recurring patterns (like a weekly promotion) or to raise a series' threshold.")
    for rule in rules:
        c1, c2 = st.columns([5, 1])
        when = f" at {rule.undone_at:%Y-%m-%d %H:%M}" if rule.undone_at else ""
        state = "active" if rule.active else f"undone by {rule.undone_by or '?'}{when}"
        c1.markdown(f"{':material/check_circle:' if rule.active else ':material/undo:'} {rule.description}")
        sources = ", ".join(f"#{i}" for i in rule.rule.get("source_events") or [])
        c1.caption(f"{rule.kind.replace('_', ' ')} · learned {rule.created_at:%Y-%m-%d %H:%M} from anomalies "
                   f"{sources or '—'} · {state}")
        key, label = (f"undo_{rule.id}", "Undo") if rule.active else (f"redo_{rule.id}", "Apply again")
        c2.button(label, key=key, on_click=on_rule, args=(rule.id, not rule.active), disabled=not p.can("feedback"))


def manage(mon) -> None:
    c1, c2 = st.columns(2)
    c1.button("Run now", key="mon_run", type="primary", disabled=not p.can("detect"), on_click=on_run,
              args=(mon.id,), help="Score the periods of the dataset's newest version not scored yet.")
    c2.button("Pause" if mon.enabled else "Resume", key="mon_enable", disabled=not p.can("update"),
              on_click=on_enable, args=(mon.id, not mon.enabled))
    runs = ui.attempt(monitor_svc.list_runs, p, mon.id) or []
    if runs:
        st.dataframe(pd.DataFrame([{
            "run": r.id, "trigger": r.trigger, "status": r.status, "started": r.started_at,
            "seconds": round(r.seconds, 1) if r.seconds is not None else None, "points scored": r.points_scored,
            "new anomalies": r.anomalies_found, "suppressed by rules": r.suppressed, "error": r.error or "",
        } for r in runs]), hide_index=True, width="stretch")
    with st.expander("Schedule"):
        schedule_form(mon)
    with st.expander("Alerts"):
        alerting_form(mon)
    with st.expander("What this monitor learned from feedback", expanded=True):
        rules_section(mon)
    with st.expander("Edit the configuration (JSON)"):
        st.session_state.setdefault("ed_json", json.dumps(mon.config, indent=2))
        st.text_area("Configuration", key="ed_json", height=300)
        st.button("Save configuration", key="ed_save", on_click=on_edit, args=(mon.id,), disabled=not p.can("update"))
    with st.expander("Delete"):
        st.checkbox(f"Also delete its {mon.anomalies} anomalies and their triage history", key="del_history")
        st.button("Delete monitor", key="mon_delete", on_click=on_delete, args=(mon.id,),
                  disabled=not p.can("update"))


view = st.radio("View", ["Monitors", "New monitor"], horizontal=True, key="mon_view", label_visibility="collapsed")
if view == "New monitor":
    new_monitor_form(p)
else:
    monitors = ui.attempt(monitor_svc.list_monitors, p) or []
    by_id = {m.id: m for m in monitors}
    if not monitors:
        st.info("No monitors yet: create one under **New monitor**.")
    else:
        monitor_table(monitors)
        if st.session_state.get("mon_pick") not in by_id:
            st.session_state["mon_pick"] = monitors[0].id
        if st.session_state.get("ed_for") != st.session_state["mon_pick"]:  # another monitor: its own values
            for key in [k for k in st.session_state if isinstance(k, str) and k[:3] in ("ed_", "sc_", "al_")]:
                st.session_state.pop(key, None)
            st.session_state["ed_for"] = st.session_state["mon_pick"]
        mid = st.selectbox("Monitor", list(by_id), format_func=lambda i: by_id[i].name, key="mon_pick")
        manage(by_id[mid])
