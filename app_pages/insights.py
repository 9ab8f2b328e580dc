"""Insights: ranked findings with narrative, figures, actions and evidence; status, votes and Generate now."""

import time

import pandas as pd
import streamlit as st

from aihub.charts.insights import chart_figure
from aihub.errors import AihubError
from aihub.insights import CATEGORIES, PRIORITIES
from aihub.services import insights as svc
from app_pages import _common as ui
from app_pages import _insight_roles_ui
from app_pages._common import call, flash, show_flash

#: Seconds between two checks of the live insights within one browser session.
LIVE_EVERY = 30.0
#: Insights drawn at first; "Show more" adds as many again.
PAGE_SIZE = 10
p = ui.principal()
st.title("Insights")
st.caption("Findings computed from your data, forecasts, predictions and anomalies, best first. Each states its "
           "figures and method; act on it, dismiss it with a reason, or say whether it helped. Types you keep "
           "dismissing rank lower next time.")

PRIORITY_BADGE = {"critical": ":red-background[**critical**]", "high": ":orange-background[**high**]",
                  "medium": ":blue-background[medium]", "low": ":gray-background[low]"}
VIEWS = {"Open": svc.OPEN_STATUSES, "Implemented": ("implemented",), "Dismissed": ("dismissed",), "All": None}
STATUS_BUTTONS = (("acknowledged", "Acknowledge", ":material/visibility:"),
                  ("in_progress", "In progress", ":material/pending_actions:"),
                  ("implemented", "Implemented", ":material/task_alt:"))

# ------------------------------------------------------------------ callbacks
def on_generate() -> None:
    cats = st.session_state.get("gen_categories") or None
    with st.spinner("Reading your data and computing insights..."):
        new = call(svc.generate, p, cats)
    if new is None:
        return
    if new:
        flash("success", f"{len(new)} new insight{'s' if len(new) != 1 else ''}: "
                         + "; ".join(f"**{i.title}**" for i in new[:3]) + (" ..." if len(new) > 3 else "."))
    else:
        flash("info", "No new insights: your data show nothing that is not already listed and still valid.")


def on_status(insight_id: int, status: str) -> None:
    reason = st.session_state.get(f"ins_reason_{insight_id}") if status == "dismissed" else None
    ins = call(svc.set_status, p, insight_id, status, reason)
    if ins is not None:
        flash("success", f"**{ins.title}** is now {svc.STATUS_LABELS[ins.status].lower()}.")


def on_vote(insight_id: int, useful: bool) -> None:
    if call(svc.vote, p, insight_id, useful) is not None:
        flash("success", "Thanks: " + ("insights like this one will rank a little higher." if useful else
                                       "insights of this kind will rank lower."))


# ------------------------------------------------------------------ generate now
show_flash()
if time.monotonic() - st.session_state.get("_live_checked", -LIVE_EVERY) >= LIVE_EVERY:
    # The open-anomalies digest follows the anomalies (triage refreshes it at once; this catches new ones).
    ui.attempt(svc.refresh_live, p)
    st.session_state["_live_checked"] = time.monotonic()
if p.can("generate"):
    with st.container(border=True):
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        c1.multiselect("Generate insights now for", CATEGORIES, default=list(CATEGORIES), key="gen_categories",
                       format_func=str.title, help="Leave empty for every category.")
        c2.button("Generate now", key="gen_run", type="primary", on_click=on_generate, icon=":material/bolt:")

# ------------------------------------------------------------------ filters
f1, f2, f3, f4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
categories = f1.multiselect("Category", CATEGORIES, key="f_category", format_func=str.title,
                            placeholder="All categories")
min_priority = f2.selectbox("Priority at least", PRIORITIES, key="f_priority", format_func=str.title)
view = f3.selectbox("Status", list(VIEWS), key="f_status")
expired = f4.checkbox("Include expired", key="f_expired",
                      help="Insights whose validity period has ended (the data they describe may have changed).")
items = ui.attempt(svc.list_insights, p, categories=categories or None, min_priority=min_priority,
                   statuses=VIEWS[view], include_expired=expired, limit=50) or []

if not items:
    st.info("No insights match. " + ("Use **Generate now** above, or wait for the scheduled run."
                                     if p.can("generate") else "An analyst can generate them."))
else:
    counts = pd.Series([i.priority for i in items]).value_counts()
    st.markdown(f"**{len(items)}** insight{'s' if len(items) != 1 else ''} · "
                + " · ".join(f"{counts[x]} {x}" for x in reversed(PRIORITIES) if x in counts),
                help="**Score** (0 to 100) ranks the findings: how sure the method is, the money or share at stake, "
                     "and how useful you found this kind before. **Confidence** is how sure the method is that the "
                     "finding is real and not chance.")


def figure_rows(ins) -> list[tuple[str, str]]:
    """The quoted figures that are numbers (the text pieces of the templates are left out), with readable names."""
    return [(k.replace("_", " "), v) for k, v in ins.figure_text.items() if any(ch.isdigit() for ch in str(v))]


def evidence(ins) -> None:
    charts = [e for e in ins.evidence if e.get("kind") == "chart" and e.get("spec")]
    for k, e in enumerate(charts):
        try:
            fig = chart_figure(e["spec"])
        except AihubError:
            continue
        fig.update_layout(height=300)
        st.plotly_chart(fig, width="stretch", key=f"ins_chart_{ins.id}_{k}")
    links = []
    for e in ins.evidence:
        kind = e.get("kind")
        if kind == "model":
            links.append(("app_pages/models.py", f"Model {e.get('name') or e.get('id')}", ":material/model_training:"))
        elif kind == "dataset":
            links.append(("app_pages/data_sources.py", f"Dataset {e.get('name') or e.get('id')}", ":material/database:"))
    anomalies = [e for e in ins.evidence if e.get("kind") == "anomaly"]
    if anomalies:
        ids = ", ".join(f"#{e['id']}" for e in anomalies[:8]) + (" ..." if len(anomalies) > 8 else "")
        links.append(("app_pages/anomalies.py", f"Anomalies {ids}", ":material/crisis_alert:"))
    for k, (page, label, icon) in enumerate(dict.fromkeys(links)):
        st.page_link(page, label=label, icon=icon)


def feedback(ins) -> None:
    cols = st.columns(6, vertical_alignment="bottom")
    if ins.status == "dismissed":
        cols[0].button("Reopen", key=f"ins_reopen_{ins.id}", on_click=on_status, args=(ins.id, "new"),
                       icon=":material/undo:")
    else:
        for col, (status, label, icon) in zip(cols[:3], STATUS_BUTTONS):
            col.button(label, key=f"ins_{status}_{ins.id}", on_click=on_status, args=(ins.id, status), icon=icon,
                       disabled=ins.status == status)
    cols[4].button(f"Useful ({ins.useful})", key=f"ins_useful_{ins.id}", on_click=on_vote, args=(ins.id, True),
                   icon=":material/thumb_up:")
    cols[5].button(f"Not useful ({ins.not_useful})", key=f"ins_notuseful_{ins.id}", on_click=on_vote,
                   args=(ins.id, False), icon=":material/thumb_down:")
    if ins.status != "dismissed":
        d1, d2 = st.columns([5, 1], vertical_alignment="bottom")
        d1.text_input("Reason for dismissing", key=f"ins_reason_{ins.id}", max_chars=svc.MAX_REASON,
                      placeholder="e.g. seasonal effect we already plan for")
        d2.button("Dismiss", key=f"ins_dismiss_{ins.id}", on_click=on_status, args=(ins.id, "dismissed"),
                  icon=":material/block:")


shown_n = st.session_state.get("ins_shown", PAGE_SIZE)  # drawing every card (with its chart) costs time
# One read for the history of every card drawn (a read per card cost a permission check and two queries each).
histories = ui.attempt(svc.insight_histories, p, [i.id for i in items[:shown_n]]) or {}
for rank, ins in enumerate(items[:shown_n], 1):
    with st.container(border=True):
        st.markdown(f"#### {rank}. {ins.title}")
        valid = f"{ins.valid_until:%d %b %Y}"
        st.markdown(f"{PRIORITY_BADGE.get(ins.priority, ins.priority)} · {ins.category.title()} · "
                    f"confidence {ins.confidence:.0%} · score {ins.score:.0f} · "
                    f"**{svc.STATUS_LABELS.get(ins.status, ins.status)}** · valid until {valid}")
        if ins.status == "dismissed" and ins.dismiss_reason:
            st.caption(f"Dismissed because: {ins.dismiss_reason}")
        st.markdown(ins.narrative)
        if ins.recommended_actions:
            st.markdown("**Recommended actions**\n" + "\n".join(f"- {a}" for a in ins.recommended_actions))
        left, right = st.columns([3, 2])
        with left:
            evidence(ins)
        with right:
            shown = figure_rows(ins)
            if shown:
                st.dataframe(pd.DataFrame(shown, columns=["figure", "value"]), hide_index=True, width="stretch",
                             key=f"ins_figures_{ins.id}", height=min(36 * (len(shown) + 1) + 3, 320))
            st.caption(f"Method: {ins.method}")
        if p.can("feedback"):
            feedback(ins)
        with st.expander("History"):
            events = histories.get(ins.id, [])
            if not events:
                st.caption("No changes yet.")
            for e in events:
                what = (f"{'useful' if e.useful else 'not useful'}" if e.action == "vote"
                        else "" if e.action == "refreshed"
                        else f"{svc.STATUS_LABELS.get(e.from_status or '', e.from_status)} → "
                             f"{svc.STATUS_LABELS.get(e.to_status or '', e.to_status)}")
                st.caption(f"{e.created_at:%Y-%m-%d %H:%M} · {e.actor or 'system'} · {e.action}: {what}"
                           + (f" · {e.note}" if e.note else ""))

if len(items) > shown_n:
    st.button(f"Show {min(PAGE_SIZE, len(items) - shown_n)} more of {len(items) - shown_n}", key="ins_more",
              on_click=lambda: st.session_state.update(ins_shown=shown_n + PAGE_SIZE))

# ------------------------------------------------------------------ data used
_insight_roles_ui.panel(p)
