"""Risk scores: a record monitor scores every row of a table (orders, payments, claims) with its reasons; analysts
confirm or dismiss the riskiest rows, and the next scoring learns from those decisions."""

import pandas as pd
import streamlit as st

from aihub.services import datasets
from aihub.services import record_monitors as rm
from app_pages import _common as ui

p = ui.principal()
st.title("Risk scores")
ui.show_flash()
NONE = "(none)"
ROLES = {"id_col": ("Row id", "Identifies each row; decisions refer to it"),
         "entity_col": ("Customer / account", "Enables 'unusual for this customer' reasons"),
         "time_col": ("Date", "With a customer: same-day bursts"),
         "group_col": ("Order / transaction id", "Exposes one order split into many"),
         "context_col": ("Compared within", "What is usual depends on it (e.g. Category); empty: chosen for you")}


def on_create(dataset_id: int) -> None:
    ss = st.session_state
    params = {role: ss.get(f"rc_{role}") for role in ROLES if ss.get(f"rc_{role}") not in (None, NONE)}
    if ss.get("rc_time_format"):
        params["time_format"] = ss["rc_time_format"]
    if ss.get("rc_exclude"):
        params["exclude"] = list(ss["rc_exclude"])
    rec = ui.call(rm.create_record_monitor, p, {"name": ss.get("rc_name") or "", "params": params},
                  dataset_id=dataset_id)
    if rec is not None:
        ui.flash("success", f"Scored {rec.rows_scored:,} rows of **{rec.name}**; {rec.flagged} are flagged.")
        ss["rc_pick"] = rec.id


def on_score(monitor_id: int) -> None:
    rec = ui.call(rm.score_record_monitor, p, monitor_id)
    if rec is not None:
        ui.flash("success", f"Scored {rec.rows_scored:,} rows again, learning from {rec.confirmed} confirmed and "
                            f"{rec.dismissed} dismissed rows.")


def on_decide(monitor_id: int, decision: str | None) -> None:
    keys = list(st.session_state.get("rc_rows") or [])
    n = ui.call(rm.decide, p, monitor_id, keys, decision, note=st.session_state.get("rc_note") or "")
    if n is not None:
        word = {"confirmed": "Confirmed", "dismissed": "Dismissed", None: "Cleared the decision on"}[decision]
        ui.flash("success", f"{word} {n} row{'s' if n != 1 else ''}. Score again to learn from the decisions.")
        st.session_state["rc_rows"] = []


def new_form() -> None:
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a table on **Data sources** first.")
        return
    names = {r.name: r for r in records}
    rec = names[st.selectbox("Table", list(names), key="rc_dataset")]
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    columns = [c["name"] for c in version.column_schema] if version else []
    st.text_input("Name", key="rc_name", placeholder="e.g. Order risk")
    cols = st.columns(3)
    for i, (role, (label, help_text)) in enumerate(ROLES.items()):
        cols[i % 3].selectbox(label, [NONE, *columns], key=f"rc_{role}", help=help_text)
    c1, c2 = st.columns(2)
    c1.text_input("Date format (optional)", key="rc_time_format", placeholder="%d/%m/%y")
    c2.multiselect("Leave out", columns, key="rc_exclude", help="Codes that are not amounts (postal codes, ...)")
    st.button("Create and score", type="primary", key="rc_create", on_click=on_create, args=(rec.id,))


def scored_rows(mon) -> None:
    c1, c2 = st.columns(2)
    bands = c1.multiselect("Band", ["critical", "high", "medium", "low"], key="rc_bands")
    decision = c2.selectbox("Decision", [None, "undecided", "confirmed", "dismissed"], key="rc_decision",
                            format_func=lambda d: "all" if d is None else d)
    rows = ui.attempt(rm.list_scores, p, mon.id, bands=bands, decision=decision, limit=500) or []
    if not rows:
        st.info("No rows match.")
        return
    st.dataframe(pd.DataFrame([{"row": r.row_key, "risk": round(r.score, 4), "band": r.band,
                                "why": "; ".join(r.reasons), "decision": r.label or "", "by": r.labelled_by or ""}
                               for r in rows]), hide_index=True, width="stretch",
                 column_config={"why": st.column_config.TextColumn(width="large")})
    if not p.can("feedback"):
        st.caption("Your role can view risk scores but not decide on them.")
        return
    st.multiselect("Rows", [r.row_key for r in rows], key="rc_rows")
    st.text_input("Note (optional)", key="rc_note")
    c1, c2, c3 = st.columns(3)
    c1.button("Confirm (fraud / risk)", key="rc_confirm", on_click=on_decide, args=(mon.id, "confirmed"))
    c2.button("Dismiss (normal)", key="rc_dismiss", on_click=on_decide, args=(mon.id, "dismissed"))
    c3.button("Clear decision", key="rc_clear", on_click=on_decide, args=(mon.id, None))


def manage(mon) -> None:
    st.markdown(f"**{mon.dataset_name or '(deleted table)'}** · {mon.rows_scored:,} rows scored "
                f"{mon.scored_at:%Y-%m-%d %H:%M} · {mon.flagged} flagged · {mon.confirmed} confirmed · "
                f"{mon.dismissed} dismissed" if mon.scored_at else "Not scored yet.")
    for note in mon.notes:
        st.caption(note)
    st.button("Score again (learns from the decisions)", key="rc_score", disabled=not p.can("detect"),
              on_click=on_score, args=(mon.id,))
    scored_rows(mon)


view = st.radio("View", ["Record monitors", "New record monitor"], horizontal=True, key="rc_view",
                label_visibility="collapsed")
if view == "New record monitor":
    if p.can("create"):
        new_form()
    else:
        st.caption("Your role can view risk scores but not set them up.")
else:
    monitors = ui.attempt(rm.list_record_monitors, p) or []
    by_id = {m.id: m for m in monitors}
    if not monitors:
        st.info("No record monitors yet: create one under **New record monitor**.")
    else:
        if st.session_state.get("rc_pick") not in by_id:
            st.session_state["rc_pick"] = monitors[0].id
        mid = st.selectbox("Record monitor", list(by_id), format_func=lambda i: by_id[i].name, key="rc_pick")
        manage(by_id[mid])
