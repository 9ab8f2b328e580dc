"""Anomalies: the triage worklist and anomaly detail, monitors (run now, learned rules with Undo), new monitors."""

import json

import pandas as pd
import streamlit as st

from aihub import anomaly, datasets
from aihub.charts import anomalies as anomaly_charts
from aihub.errors import AihubError, ValidationError
from aihub.services import anomalies as anomaly_svc
from aihub.services import monitors as monitor_svc
from pages import _common as ui

p = ui.principal()
st.title("Anomalies")

STATUS_LABELS = anomaly_svc.STATUS_LABELS
SEVERITY_BADGE = {"critical": ":red[**critical**]", "high": ":orange[**high**]", "medium": ":orange[medium]",
                  "low": ":blue[low]"}
FIELD_LABELS = {"detection_name": "Monitor name", "timestamp_column": "Date column", "anomaly_type": "Anomaly type",
                "dimensions[0]": "Split by", "detection_frequency": "Frequency", "algorithm": "Algorithm",
                "monitored_metrics": "Metrics", "dataset_id": "Dataset", "config": "JSON"}
EXAMPLE_JSON = {
    "detection_name": "revenue_monitoring", "anomaly_type": "revenue_anomaly", "algorithm": "auto",
    "detection_config": {"contamination": 0.01},
    "threshold_config": {"severity_thresholds": {"low": 0.5, "medium": 0.7, "high": 0.85, "critical": 0.95}},
    "monitored_metrics": ["daily_revenue", "transaction_count", "average_order_value"],
    "detection_frequency": "daily", "dimensions": ["Region"],
}


def flash(kind: str, text: str) -> None:
    """Show ``text`` after the next rerun; a success also drops cached figures (the dashboard's)."""
    st.session_state.setdefault("anomaly_flash", []).append((kind, text))
    if kind == "success":
        st.cache_data.clear()


def show_flash() -> None:
    for kind, text in st.session_state.pop("anomaly_flash", []):
        getattr(st, kind)(text)


def call(fn, *args, **kwargs):
    """Run a service call from a callback; show its error after the rerun."""
    try:
        return fn(*args, **kwargs)
    except AihubError as exc:
        label = FIELD_LABELS.get(getattr(exc, "field", None) or "", "")
        flash("error", f"{label}: {exc}" if label and label not in str(exc) else str(exc))
        return None


def money(x: float | None) -> str:
    return anomaly_svc.format_money(x)


def run_summary(run) -> None:
    if run is None:
        return
    if run.status == "succeeded":
        text = (f"Run finished in {run.seconds or 0:.1f} s: scored {run.points_scored:,} new points, "
                f"found {run.anomalies_found} new anomal{'y' if run.anomalies_found == 1 else 'ies'}")
        text += f", feedback rules suppressed {run.suppressed}." if run.suppressed else "."
        if not run.points_scored:
            text = "No new periods since the last run: upload a newer version of the dataset to score more."
        flash("success", text)
    else:
        flash("error", f"The run failed: {run.error}")
        st.cache_data.clear()


show_flash()
monitors = ui.attempt(monitor_svc.list_monitors, p) or []
by_id = {m.id: m for m in monitors}
tab_work, tab_monitors, tab_new = st.tabs(["Worklist", "Monitors", "New monitor"])


# =============================================================== worklist
def on_bulk() -> None:
    ss = st.session_state
    ids = list(ss.get("bulk_ids") or [])
    action = ss.get("bulk_action")
    result = call(anomaly_svc.bulk_triage, p, ids, action, assignee_id=ss.get("bulk_assignee"),
                  resolution_notes=ss.get("bulk_notes"), false_positive_reason=ss.get("bulk_reason"))
    if result is not None:
        flash("success", f"Changed {len(result.changed)} anomal{'y' if len(result.changed) == 1 else 'ies'}.")
        for i, why in result.skipped.items():
            flash("warning", f"Skipped anomaly {i}: {why}")
        for text in result.learned_rules:
            flash("info", f"The monitor learned: {text}")
        ss["bulk_ids"] = []


def on_status(anomaly_id: int) -> None:
    ss = st.session_state
    a = call(anomaly_svc.change_status, p, anomaly_id, ss.get("tr_status"), note=ss.get("tr_note") or "",
             resolution_notes=ss.get("tr_resolution"), false_positive_reason=ss.get("tr_reason"))
    if a is not None:
        flash("success", f"Anomaly {a.id} is now {STATUS_LABELS[a.status]}.")
        learned = anomaly_svc.anomaly_events(p, a.id)[-1].details.get("learned_rules", [])
        for text in learned:
            flash("info", f"The monitor learned: {text}")
        if a.status == "false_positive" and not learned:
            flash("info", "Noted. The monitor learns a rule from false positives that recur on the same weekday or "
                          "day of the month, or whose scores leave room to raise the series' threshold; see the "
                          "Monitors tab.")
        for key in ("tr_note", "tr_resolution", "tr_reason"):
            ss[key] = ""


def on_assign(anomaly_id: int) -> None:
    a = call(anomaly_svc.assign, p, anomaly_id, st.session_state.get("tr_assignee"))
    if a is not None:
        flash("success", f"Anomaly {a.id} is assigned to {a.assignee or 'nobody'}.")


def on_note(anomaly_id: int) -> None:
    if call(anomaly_svc.add_note, p, anomaly_id, st.session_state.get("tr_comment") or "") is not None:
        flash("success", "Note added.")
        st.session_state["tr_comment"] = ""


def anomaly_detail(anomaly_id: int, users: dict) -> None:
    a = ui.attempt(anomaly_svc.get_anomaly, p, anomaly_id)
    if a is None:
        return
    st.subheader(f"{a.metric} · {a.series_label} · {a.ts:%Y-%m-%d}")
    st.markdown(f"Monitor **{a.monitor_name}** · severity {SEVERITY_BADGE.get(a.severity, a.severity)} · "
                f"status **{STATUS_LABELS[a.status]}** · assigned to **{a.assignee or 'nobody'}**")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Actual", f"{a.actual:,.2f}", f"{a.actual - a.expected:+,.2f} vs expected")
    c2.metric("Expected", f"{a.expected:,.2f}", f"range {a.lower:,.2f} – {a.upper:,.2f}", delta_color="off",
              delta_arrow="off")
    c3.metric("Anomaly score", f"{a.score:.2f}", f"severity {a.severity}", delta_color="off", delta_arrow="off",
              help="0 to 1; severity from the monitor's thresholds.")
    c4.metric("Money impact", money(a.impact))
    st.plotly_chart(anomaly_charts.snapshot_figure(anomaly_svc.snapshot_frame(a), title=f"{a.metric} · {a.series_label}"),
                    width="stretch", key=f"snapshot_{a.id}")
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
        st.dataframe(mv[["metric", "value", "expected", "z", "is_anomaly"]], hide_index=True,
                     width="stretch", column_config={c: st.column_config.NumberColumn(format="localized")
                                                     for c in ("value", "expected", "z")})
    st.markdown(f"**Money impact:** {rc.get('impact_text', money(a.impact))}")
    st.caption(a.impact_note)
    if a.resolution_notes or a.false_positive_reason:
        st.info(f"Resolution: {a.resolution_notes or ''}"
                + (f" · false positive because: {a.false_positive_reason}" if a.is_false_positive else ""))

    if p.can("feedback"):
        st.markdown("**Triage**")
        allowed = anomaly_svc.allowed_transitions(a.status)
        c1, c2 = st.columns(2)
        with c1:
            target = st.selectbox("Move to", allowed, format_func=STATUS_LABELS.get, key="tr_status")
            st.text_input("Note (optional)", key="tr_note")
            if target == "resolved":
                st.text_area("Resolution notes (required)", key="tr_resolution",
                             placeholder="What was found and what was done")
            if target == "false_positive":
                st.text_input("Why is it not an anomaly? (required)", key="tr_reason",
                              placeholder="promotion, holiday, data issue, ...")
                st.text_area("Resolution notes (optional)", key="tr_resolution")
            st.button("Update status", key="tr_apply", type="primary", on_click=on_status, args=(a.id,))
        with c2:
            ids = [None, *users]
            current = a.assignee_id if a.assignee_id in users else None
            st.selectbox("Assign to", ids, index=ids.index(current), key="tr_assignee",
                         format_func=lambda i: "nobody" if i is None else users[i])
            st.button("Assign", key="tr_assign", on_click=on_assign, args=(a.id,))
            st.text_input("Add a note", key="tr_comment")
            st.button("Add note", key="tr_add_note", on_click=on_note, args=(a.id,))
    else:
        st.caption("Your role can view anomalies but not triage them.")

    events = ui.attempt(anomaly_svc.anomaly_events, p, a.id) or []
    st.markdown("**Audit trail**")
    st.dataframe(pd.DataFrame([{
        "when": e.created_at, "who": e.actor or "detector", "action": e.action,
        "from": STATUS_LABELS.get(e.from_status, "") if e.from_status else "",
        "to": STATUS_LABELS.get(e.to_status, "") if e.to_status else "", "note": e.note or "",
    } for e in events]), hide_index=True, width="stretch")


with tab_work:
    c1, c2, c3 = st.columns(3)
    severities = c1.multiselect("Severity", list(reversed(anomaly.SEVERITIES)), key="f_severity")
    statuses = c2.multiselect("Status", list(anomaly_svc.STATUSES), default=list(anomaly_svc.OPEN_STATUSES),
                              format_func=STATUS_LABELS.get, key="f_status")
    monitor_id = c3.selectbox("Monitor", [None, *by_id], key="f_monitor",
                              format_func=lambda i: "all monitors" if i is None else by_id[i].name)
    c1, c2, c3 = st.columns(3)
    metric_options = sorted({m for mon in monitors for m in mon.metrics})
    metric = c1.selectbox("Metric", [None, *metric_options], key="f_metric",
                          format_func=lambda m: "all metrics" if m is None else m)
    date_from = c2.date_input("From", value=None, key="f_from")
    date_to = c3.date_input("To", value=None, key="f_to")
    items = ui.attempt(anomaly_svc.list_anomalies, p, severities=severities, statuses=statuses,
                       monitor_id=monitor_id, metric=metric, date_from=date_from, date_to=date_to) or []
    if not monitors:
        st.info("No monitors yet: create one on the **New monitor** tab.")
    elif not items:
        st.info("No anomalies match these filters.")
    else:
        st.caption(f"{len(items)} anomal{'y' if len(items) == 1 else 'ies'}, most severe first, then by money impact.")
        st.dataframe(pd.DataFrame([{
            "id": a.id, "severity": a.severity, "status": STATUS_LABELS[a.status], "period": a.ts.date(),
            "series": a.series_label, "metric": a.metric, "type": a.kind_label, "actual": round(a.actual, 2), "expected": round(a.expected, 2),
            "expected range": f"{a.lower:,.2f} – {a.upper:,.2f}", "impact": a.impact, "root cause": a.hint,
            "assignee": a.assignee or "", "monitor": a.monitor_name,
        } for a in items]), hide_index=True, width="stretch", key="worklist", column_config={
            "actual": st.column_config.NumberColumn(format="localized"),
            "expected": st.column_config.NumberColumn(format="localized"),
            "impact": st.column_config.NumberColumn("impact (money)", format="accounting"),
            "root cause": st.column_config.TextColumn(width="large"),
        })

    labels = {a.id: f"#{a.id} · {a.severity} · {a.metric} · {a.series_label} · {a.ts:%Y-%m-%d}" for a in items}
    users = {i: name or username for i, username, name in (ui.attempt(anomaly_svc.assignable_users, p) or [])}
    if items and p.can("feedback"):
        with st.expander("Bulk actions", expanded=False):
            st.multiselect("Anomalies", list(labels), format_func=labels.get, key="bulk_ids")
            c1, c2 = st.columns(2)
            action = c1.selectbox("Action", anomaly_svc.BULK_ACTIONS, key="bulk_action",
                                  format_func=lambda x: {"acknowledge": "Acknowledge", "assign": "Assign",
                                                         "resolve": "Resolve",
                                                         "false_positive": "Mark false positive"}[x])
            if action == "assign":
                c2.selectbox("Assign to", [None, *users], key="bulk_assignee",
                             format_func=lambda i: "nobody" if i is None else users[i])
            elif action == "resolve":
                c2.text_input("Resolution notes (required)", key="bulk_notes")
            elif action == "false_positive":
                c2.text_input("Reason (required)", key="bulk_reason")
            st.button("Apply to the selected anomalies", key="bulk_apply", on_click=on_bulk)

    picked = st.session_state.get("anomaly_pick")
    options = list(labels) + ([picked] if picked is not None and picked not in labels else [])
    if options:
        st.divider()
        pick = st.selectbox("Open an anomaly", options, key="anomaly_pick",
                            format_func=lambda i: labels.get(i, f"#{i}"))
        anomaly_detail(pick, users)


# =============================================================== monitors
def on_run(monitor_id: int) -> None:
    run_summary(call(monitor_svc.run_monitor, p, monitor_id))


def on_rule(rule_id: int, active: bool) -> None:
    rule = call(anomaly_svc.reapply_rule if active else anomaly_svc.undo_rule, p, rule_id)
    if rule is not None:
        flash("success", ("Applied again: " if active else "Undone: ") + rule.description)


with tab_monitors:
    if not monitors:
        st.info("No monitors yet: create one on the **New monitor** tab.")
    else:
        st.dataframe(pd.DataFrame([{
            "monitor": m.name, "dataset": m.dataset_name or "(deleted)", "metrics": ", ".join(m.metrics),
            "split by": ", ".join(m.dimensions) or "—", "frequency": m.config.get("detection_frequency"),
            "scored until": m.scored_until, "last run": m.last_run_at, "last run status": m.last_run_status or "never",
            "open anomalies": m.open_anomalies, "anomalies": m.anomalies,
        } for m in monitors]), hide_index=True, width="stretch")
        mid = st.selectbox("Monitor", list(by_id), format_func=lambda i: by_id[i].name, key="mon_pick")
        mon = by_id[mid]
        st.button("Run now", key="mon_run", type="primary", disabled=not p.can("detect"), on_click=on_run,
                  args=(mon.id,), help="Score the periods of the dataset's newest version not scored yet.")
        runs = ui.attempt(monitor_svc.list_runs, p, mon.id) or []
        if runs:
            st.dataframe(pd.DataFrame([{
                "run": r.id, "status": r.status, "started": r.started_at,
                "seconds": round(r.seconds, 1) if r.seconds is not None else None,
                "points scored": r.points_scored, "new anomalies": r.anomalies_found,
                "suppressed by rules": r.suppressed, "error": r.error or "",
            } for r in runs]), hide_index=True, width="stretch")
        st.markdown("**What this monitor learned from feedback**")
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
            if rule.active:
                c2.button("Undo", key=f"undo_{rule.id}", on_click=on_rule, args=(rule.id, False),
                          disabled=not p.can("feedback"))
            else:
                c2.button("Apply again", key=f"redo_{rule.id}", on_click=on_rule, args=(rule.id, True),
                          disabled=not p.can("feedback"))
        with st.expander("Configuration (JSON)"):
            st.json(mon.config)


# =============================================================== new monitor
def create(raw: dict, dataset_id: int, run_now: bool) -> None:
    try:
        mon = monitor_svc.create_monitor(p, raw, dataset_id=dataset_id)
    except ValidationError as exc:
        label = FIELD_LABELS.get(exc.field or "", exc.field or "")
        flash("error", f"**{label}** — {exc}" if label else str(exc))
        return
    except AihubError as exc:
        flash("error", str(exc))
        return
    flash("success", f"Created monitor **{mon.name}**.")
    st.session_state["mon_pick"] = mon.id
    if run_now:
        run_summary(call(monitor_svc.run_monitor, p, mon.id))


def on_create_form(dataset_id: int, columns: dict) -> None:
    ss = st.session_state
    freq = ss.get("nm_freq", "daily")
    prefix = {"hourly": "hourly_", "daily": "daily_", "weekly": "weekly_", "monthly": "monthly_"}.get(freq, "")
    metrics, monitored = [], []
    revenue, count = f"{prefix}revenue", "transaction_count"
    if ss.get("nm_m_revenue") or ss.get("nm_m_aov"):
        metrics.append({"name": revenue, "agg": "sum", "column": ss.get("nm_value")})
    if ss.get("nm_m_count") or ss.get("nm_m_aov"):
        id_col = ss.get("nm_id")
        metrics.append({"name": count, "agg": "count"} if id_col in (None, "(count rows)")
                       else {"name": count, "agg": "nunique", "column": id_col})
    if ss.get("nm_m_revenue"):
        monitored.append(revenue)
    if ss.get("nm_m_count"):
        monitored.append(count)
    if ss.get("nm_m_aov"):
        metrics.append({"name": "average_order_value", "agg": "ratio", "numerator": revenue, "denominator": count})
        monitored.append("average_order_value")
    split = ss.get("nm_split")
    raw = {
        "detection_name": ss.get("nm_name") or "", "anomaly_type": ss.get("nm_type"),
        "algorithm": ss.get("nm_algo", "auto"), "monitored_metrics": monitored, "metrics": metrics,
        "detection_frequency": freq, "timestamp_column": ss.get("nm_date"),
        "dimensions": [] if split in (None, "(no split)") else [split],
        "threshold_config": {"severity_thresholds": {k: float(ss.get(f"nm_{k}", d)) for k, d in
                                                     (("low", 0.5), ("medium", 0.7), ("high", 0.85),
                                                      ("critical", 0.95))}},
        "currency": ss.get("nm_currency") or "USD",
    }
    create(raw, dataset_id, bool(ss.get("nm_run_now")))


def on_create_json(dataset_id: int) -> None:
    raw = call(monitor_svc.parse_config_json, st.session_state.get("nm_json") or "")
    if raw is not None:
        create(raw, dataset_id, bool(st.session_state.get("nm_run_now_json")))


with tab_new:
    if not p.can("create"):
        st.caption("Your role can view monitors but not create them.")
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
    elif p.can("create"):
        names = {r.name: r for r in records}
        ds_name = st.selectbox("Dataset", list(names), key="nm_dataset")
        rec = names[ds_name]
        version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
        columns = {c["name"]: c["kind"] for c in version.column_schema} if version else {}
        mode = st.radio("How", ["Guided form", "JSON"], horizontal=True, key="nm_mode")
        if mode == "Guided form":
            dates = [c for c, k in columns.items() if k == "date"]
            numbers = [c for c, k in columns.items() if k in ("number", "integer")]
            ids = ["(count rows)", *[c for c, k in columns.items() if k in ("id", "category", "text", "integer")]]
            splits = ["(no split)", *[c for c, k in columns.items() if k in ("category", "boolean")]]
            st.text_input("Monitor name", key="nm_name", placeholder="e.g. Daily revenue by Region")
            c1, c2, c3 = st.columns(3)
            c1.selectbox("Anomaly type", anomaly.ANOMALY_TYPES, key="nm_type",
                         format_func=lambda t: t.replace("_anomaly", "").replace("_", " "))
            c2.selectbox("Date column", dates, key="nm_date")
            c3.selectbox("Frequency", ["daily", "weekly", "monthly", "hourly"], key="nm_freq")
            st.markdown("**Metrics**")
            c1, c2, c3 = st.columns(3)
            c1.checkbox("Revenue (sum)", value=True, key="nm_m_revenue")
            c1.selectbox("Revenue column", numbers, key="nm_value",
                         index=numbers.index("Sales") if "Sales" in numbers else 0)
            c2.checkbox("Transaction count", key="nm_m_count")
            c2.selectbox("Count distinct", ids, key="nm_id",
                         index=ids.index("Order ID") if "Order ID" in ids else 0)
            c3.checkbox("Average order value", key="nm_m_aov", help="Revenue divided by the transaction count.")
            c1, c2, c3 = st.columns(3)
            c1.selectbox("Split by", splits, key="nm_split",
                         help="One series per value (e.g. per Region) besides the total; root causes name the values.")
            c2.selectbox("Algorithm", anomaly.ALGORITHMS, key="nm_algo",
                         help="auto combines the robust seasonal and forecast-band detectors (chosen on NAB).")
            c3.text_input("Currency", value="USD", key="nm_currency")
            with st.expander("Severity thresholds (anomaly score 0–1)"):
                c = st.columns(4)
                for col, (k, d) in zip(c, (("low", 0.5), ("medium", 0.7), ("high", 0.85), ("critical", 0.95))):
                    col.number_input(k, 0.01, 0.99, d, 0.01, key=f"nm_{k}")
            st.checkbox("Run it now", value=True, key="nm_run_now")
            st.button("Create monitor", type="primary", key="nm_create", on_click=on_create_form,
                      args=(rec.id, columns))
        else:
            st.text_area("Monitor JSON", value=json.dumps(EXAMPLE_JSON, indent=2), height=320, key="nm_json",
                         help="Metrics named daily_revenue, transaction_count or average_order_value are defined "
                              "from the dataset's columns; others need a 'metrics' entry.")
            st.checkbox("Run it now", value=True, key="nm_run_now_json")
            st.button("Create from JSON", type="primary", key="nm_create_json", on_click=on_create_json,
                      args=(rec.id,))
