"""Anomalies: the triage worklist and the detail of one anomaly (type, root cause, impact, triage, audit trail).

Monitors are set up and run on the Monitors screen; per-row risk scores on Risk scores.
"""

import pandas as pd
import streamlit as st

from aihub import anomaly
from aihub.charts import anomalies as anomaly_charts
from aihub.services import anomalies as anomaly_svc
from aihub.services import monitors as monitor_svc
from app_pages import _common as ui

p = ui.principal()
st.title("Anomalies")

STATUS_LABELS = anomaly_svc.STATUS_LABELS
SEVERITY_BADGE = {"critical": ":red[**critical**]", "high": ":orange[**high**]", "medium": ":orange[medium]",
                  "low": ":blue[low]"}
TRIAGE_KEYS = ("tr_status", "tr_note", "tr_resolution", "tr_reason", "tr_assignee", "tr_comment")
BULK_LABELS = {"acknowledge": "Acknowledge", "assign": "Assign", "resolve": "Resolve",
               "false_positive": "Mark false positive"}

ui.show_flash()
monitors = ui.attempt(monitor_svc.list_monitors, p) or []
by_id = {m.id: m for m in monitors}


# =============================================================== callbacks
def on_bulk() -> None:
    ss = st.session_state
    result = ui.call(anomaly_svc.bulk_triage, p, list(ss.get("bulk_ids") or []), ss.get("bulk_action"),
                     assignee_id=ss.get("bulk_assignee"), resolution_notes=ss.get("bulk_notes"),
                     false_positive_reason=ss.get("bulk_reason"))
    if result is not None:
        ui.flash("success", f"Changed {len(result.changed)} anomal{'y' if len(result.changed) == 1 else 'ies'}.")
        for i, why in result.skipped.items():
            ui.flash("warning", f"Skipped anomaly {i}: {why}")
        for text in result.learned_rules:
            ui.flash("info", f"The monitor learned: {text}")
        ss["bulk_ids"] = []


def on_status(anomaly_id: int) -> None:
    ss = st.session_state
    status = ss.get("tr_status")
    # one note field per target: resolution notes to resolve, the reason for a false positive, a note otherwise
    a = ui.call(anomaly_svc.change_status, p, anomaly_id, status,
                note=ss.get("tr_note") or "" if status not in ("resolved", "false_positive") else "",
                resolution_notes=ss.get("tr_resolution") if status == "resolved" else None,
                false_positive_reason=ss.get("tr_reason") if status == "false_positive" else None)
    if a is None:
        return
    ui.flash("success", f"Anomaly {a.id} is now {STATUS_LABELS[a.status]}.")
    learned = anomaly_svc.anomaly_events(p, a.id)[-1].details.get("learned_rules", [])
    for text in learned:
        ui.flash("info", f"The monitor learned: {text}")
    if a.status == "false_positive" and not learned:
        ui.flash("info", "Noted. The monitor learns a rule from false positives that recur on the same weekday or "
                         "day of the month, or whose scores leave room to raise the series' threshold; see the "
                         "Monitors screen.")
    for key in ("tr_note", "tr_resolution", "tr_reason"):
        ss[key] = ""


def on_assign(anomaly_id: int) -> None:
    a = ui.call(anomaly_svc.assign, p, anomaly_id, st.session_state.get("tr_assignee"))
    if a is not None:
        ui.flash("success", f"Anomaly {a.id} is assigned to {a.assignee or 'nobody'}.")


def on_note(anomaly_id: int) -> None:
    if ui.call(anomaly_svc.add_note, p, anomaly_id, st.session_state.get("tr_comment") or "") is not None:
        ui.flash("success", "Note added.")
        st.session_state["tr_comment"] = ""


# =============================================================== detail
def reset_triage_for(anomaly_id: int) -> None:
    """Triage fields start empty for each anomaly (the assignee is the anomaly's own, not the previous one's)."""
    ss = st.session_state
    if ss.get("tr_for") != anomaly_id:
        for key in TRIAGE_KEYS:
            ss.pop(key, None)
        ss["tr_for"] = anomaly_id


def explanation(a) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Actual", f"{a.actual:,.2f}", f"{a.actual - a.expected:+,.2f} vs expected")
    c2.metric("Expected", f"{a.expected:,.2f}", f"range {a.lower:,.2f} – {a.upper:,.2f}", delta_color="off",
              delta_arrow="off")
    c3.metric("Anomaly score", f"{a.score:.2f}", f"severity {a.severity}", delta_color="off", delta_arrow="off",
              help="0 to 1; severity from the monitor's thresholds.")
    c4.metric("Money impact", anomaly_svc.format_money(a.impact))
    st.plotly_chart(anomaly_charts.snapshot_figure(anomaly_svc.snapshot_frame(a), title=f"{a.metric} · "
                                                   f"{a.series_label}"), width="stretch", key=f"snapshot_{a.id}")
    if a.kind:
        st.markdown(f"**Type:** {a.kind_label} · {a.kind_evidence}")
    st.markdown(f"**Root cause:** {a.hint}")
    rc = a.root_cause
    if rc.get("breakdown_note"):
        st.caption(rc["breakdown_note"])
    if rc.get("breakdown"):
        bd = pd.DataFrame(rc["breakdown"])
        bd["share"] = bd["share"].map(lambda s: f"{s:.0%}" if s is not None and pd.notna(s) else "n/a")
        st.dataframe(bd[["dimension", "slice", "actual", "expected", "deviation", "share"]], hide_index=True,
                     width="stretch", column_config={c: st.column_config.NumberColumn(format="localized")
                                                     for c in ("actual", "expected", "deviation")})
    if len(rc.get("movers") or []) > 1:
        st.markdown("**Metrics that moved** (in robust standard deviations)")
        mv = pd.DataFrame(rc["movers"])
        st.dataframe(mv[["metric", "value", "expected", "z", "is_anomaly"]], hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="localized")
                                    for c in ("value", "expected", "z")})
    impact_text = rc.get("impact_text", anomaly_svc.format_money(a.impact))
    st.markdown(f"**Money impact:** {impact_text}")
    if a.impact_note and a.impact_note != impact_text:  # without a unit value both are the same sentence
        st.caption(a.impact_note)
    if a.resolution_notes or a.false_positive_reason:
        st.info(f"Resolution: {a.resolution_notes or ''}"
                + (f" · false positive because: {a.false_positive_reason}" if a.is_false_positive else ""))


def triage(a, users: dict) -> None:
    st.markdown("**Triage**")
    c1, c2 = st.columns(2)
    with c1:
        target = st.selectbox("Move to", anomaly_svc.allowed_transitions(a.status), format_func=STATUS_LABELS.get,
                              key="tr_status")
        if target == "resolved":
            st.text_area("Resolution notes (required)", key="tr_resolution",
                         placeholder="What was found and what was done")
        elif target == "false_positive":
            st.text_input("Why is it not an anomaly? (required)", key="tr_reason",
                          placeholder="promotion, holiday, data issue, ...")
        else:
            st.text_input("Note (optional)", key="tr_note")
        st.button("Update status", key="tr_apply", type="primary", on_click=on_status, args=(a.id,))
    with c2:
        ids = [None, *users]
        current = a.assignee_id if a.assignee_id in users else None
        st.selectbox("Assign to", ids, index=ids.index(current), key="tr_assignee",
                     format_func=lambda i: "nobody" if i is None else users[i])
        st.button("Assign", key="tr_assign", on_click=on_assign, args=(a.id,))
        st.text_input("Add a note", key="tr_comment")
        st.button("Add note", key="tr_add_note", on_click=on_note, args=(a.id,))


def anomaly_detail(anomaly_id: int, users: dict) -> None:
    a = ui.attempt(anomaly_svc.get_anomaly, p, anomaly_id)
    if a is None:
        return
    reset_triage_for(a.id)
    st.subheader(f"{a.metric} · {a.series_label} · {a.ts:%Y-%m-%d}")
    st.markdown(f"Monitor **{a.monitor_name}** · severity {SEVERITY_BADGE.get(a.severity, a.severity)} · "
                f"status **{STATUS_LABELS[a.status]}** · assigned to **{a.assignee or 'nobody'}**")
    explanation(a)
    if p.can("feedback"):
        triage(a, users)
    else:
        st.caption("Your role can view anomalies but not triage them.")
    events = ui.attempt(anomaly_svc.anomaly_events, p, a.id) or []
    st.markdown("**Audit trail**")
    st.dataframe(pd.DataFrame([{
        "when": e.created_at, "who": e.actor or "detector", "action": e.action,
        "from": STATUS_LABELS.get(e.from_status, "") if e.from_status else "",
        "to": STATUS_LABELS.get(e.to_status, "") if e.to_status else "", "note": e.note or "",
    } for e in events]), hide_index=True, width="stretch")


# =============================================================== worklist
def filters() -> dict:
    c1, c2, c3 = st.columns(3)
    out = {"severities": c1.multiselect("Severity", list(reversed(anomaly.SEVERITIES)), key="f_severity"),
           "statuses": c2.multiselect("Status", list(anomaly_svc.STATUSES), default=list(anomaly_svc.OPEN_STATUSES),
                                      format_func=STATUS_LABELS.get, key="f_status"),
           "monitor_id": c3.selectbox("Monitor", [None, *by_id], key="f_monitor",
                                      format_func=lambda i: "all monitors" if i is None else by_id[i].name)}
    c1, c2, c3 = st.columns(3)
    metric_options = sorted({m for mon in monitors for m in mon.metrics})
    out["metric"] = c1.selectbox("Metric", [None, *metric_options], key="f_metric",
                                 format_func=lambda m: "all metrics" if m is None else m)
    out["date_from"] = c2.date_input("From", value=None, key="f_from")
    out["date_to"] = c3.date_input("To", value=None, key="f_to")
    return out


def worklist(items: list) -> None:
    st.caption(f"{len(items)} anomal{'y' if len(items) == 1 else 'ies'}, most severe first, then by money impact.")
    st.dataframe(pd.DataFrame([{
        "id": a.id, "severity": a.severity, "status": STATUS_LABELS[a.status], "period": a.ts.date(),
        "series": a.series_label, "metric": a.metric, "type": a.kind_label, "actual": round(a.actual, 2),
        "expected": round(a.expected, 2), "expected range": f"{a.lower:,.2f} – {a.upper:,.2f}", "impact": a.impact,
        "root cause": a.hint, "assignee": a.assignee or "", "monitor": a.monitor_name,
    } for a in items]), hide_index=True, width="stretch", key="worklist", column_config={
        "actual": st.column_config.NumberColumn(format="localized"),
        "expected": st.column_config.NumberColumn(format="localized"),
        "impact": st.column_config.NumberColumn("impact (money)", format="accounting"),
        "root cause": st.column_config.TextColumn(width="large"),
    })


def bulk(labels: dict, users: dict) -> None:
    with st.expander("Bulk actions", expanded=False):
        st.multiselect("Anomalies", list(labels), format_func=labels.get, key="bulk_ids")
        c1, c2 = st.columns(2)
        action = c1.selectbox("Action", anomaly_svc.BULK_ACTIONS, key="bulk_action", format_func=BULK_LABELS.get)
        if action == "assign":
            c2.selectbox("Assign to", [None, *users], key="bulk_assignee",
                         format_func=lambda i: "nobody" if i is None else users[i])
        elif action == "resolve":
            c2.text_input("Resolution notes (required)", key="bulk_notes")
        elif action == "false_positive":
            c2.text_input("Reason (required)", key="bulk_reason")
        st.button("Apply to the selected anomalies", key="bulk_apply", on_click=on_bulk)


chosen = filters()
items = ui.attempt(anomaly_svc.list_anomalies, p, **chosen) or []
if not monitors:
    st.info("No monitors yet: set one up on the **Monitors** screen.")
elif not items:
    st.info("No anomalies match these filters.")
else:
    worklist(items)
labels = {a.id: f"#{a.id} · {a.severity} · {a.metric} · {a.series_label} · {a.ts:%Y-%m-%d}" for a in items}
users = {i: name or username for i, username, name in (ui.attempt(anomaly_svc.assignable_users, p) or [])}
if items and p.can("feedback"):
    bulk(labels, users)
# the detail follows the filters: when they change, an anomaly they hide gives way to the first one shown;
# an anomaly just resolved stays open (the filters did not change) so its audit trail can be read
ss = st.session_state
signature, picked = repr(sorted(chosen.items())), ss.get("anomaly_pick")
if picked not in labels and (ss.get("anomaly_filters") != signature or picked is None):
    ss.pop("anomaly_pick", None)
    picked = None
ss["anomaly_filters"] = signature
options = list(labels) + ([picked] if picked is not None and picked not in labels else [])
if options:
    st.divider()
    pick = st.selectbox("Open an anomaly", options, key="anomaly_pick", format_func=lambda i: labels.get(i, f"#{i}"))
    anomaly_detail(pick, users)
