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
#: Insights drawn at first; "Show more" adds as many again. Each card's evidence chart is most of what the
#: browser draws for it (benchmarks/page_render.py), so the first screenful is five cards.
PAGE_SIZE = 5
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


def _cell(text) -> str:
    """A Markdown table cell shown as written: no line break, Markdown's marks (``|``, ``$`` of maths, ...) escaped."""
    return "".join("\\" + ch if ch in "\\`*_~$|[]<>" else ch for ch in str(text).replace("\n", " "))


def figures_text(ins) -> str:
    """The quoted figures that are numbers (the text pieces of the templates are left out) as a Markdown table,
    then the method: one element instead of a data grid and a caption."""
    rows = [(k.replace("_", " "), v) for k, v in ins.figure_text.items() if any(ch.isdigit() for ch in str(v))]
    table = "| figure | value |\n| --- | ---: |\n" + "".join(f"| {_cell(k)} | {_cell(v)} |\n" for k, v in rows)
    return (table if rows else "") + f"\n\nMethod: {ins.method}"


def evidence(ins) -> None:
    charts = [e for e in ins.evidence if e.get("kind") == "chart" and e.get("spec")]
    for k, e in enumerate(charts):
        try:
            fig = chart_figure(e["spec"])
        except AihubError:
            continue
        fig.update_layout(height=300)
        # No tool bar: its buttons (hidden until the pointer is over the chart) were a tenth of the page's elements.
        st.plotly_chart(fig, width="stretch", key=f"ins_chart_{ins.id}_{k}", config={"displayModeBar": False})
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


def status_menu(ins) -> None:
    """The status changes and the dismissal with its reason, in a popover: drawn only when it is opened."""
    label = svc.STATUS_LABELS.get(ins.status, ins.status)
    with st.popover(f"Status: {label}", icon=":material/flag:", key=f"ins_menu_{ins.id}"):
        if ins.status == "dismissed":
            st.button("Reopen", key=f"ins_reopen_{ins.id}", on_click=on_status, args=(ins.id, "new"),
                      icon=":material/undo:")
            return
        for status, text, icon in STATUS_BUTTONS:
            st.button(text, key=f"ins_{status}_{ins.id}", on_click=on_status, args=(ins.id, status), icon=icon,
                      disabled=ins.status == status, width="stretch")
        st.text_input("Reason for dismissing", key=f"ins_reason_{ins.id}", max_chars=svc.MAX_REASON,
                      placeholder="e.g. seasonal effect we already plan for")
        st.button("Dismiss", key=f"ins_dismiss_{ins.id}", on_click=on_status, args=(ins.id, "dismissed"),
                  icon=":material/block:")


def history(ins, events) -> None:
    """Every change and vote of the insight, in a popover: drawn only when it is opened."""
    with st.popover(f"History ({len(events)})", icon=":material/history:", key=f"ins_history_{ins.id}"):
        if not events:
            st.caption("No changes yet.")
        for e in events:
            what = (f"{'useful' if e.useful else 'not useful'}" if e.action == "vote"
                    else "" if e.action == "refreshed"
                    else f"{svc.STATUS_LABELS.get(e.from_status or '', e.from_status)} → "
                         f"{svc.STATUS_LABELS.get(e.to_status or '', e.to_status)}")
            st.caption(f"{e.created_at:%Y-%m-%d %H:%M} · {e.actor or 'system'} · {e.action}: {what}"
                       + (f" · {e.note}" if e.note else ""))


def summary(ins) -> str:
    """Priority, category, confidence, score, status and validity, the dismissal's reason, the narrative and the
    recommended actions: one Markdown element."""
    parts = [(f"{PRIORITY_BADGE.get(ins.priority, ins.priority)} · {ins.category.title()} · "
              f"confidence {ins.confidence:.0%} · score {ins.score:.0f} · "
              f"**{svc.STATUS_LABELS.get(ins.status, ins.status)}** · valid until {ins.valid_until:%d %b %Y}")]
    if ins.status == "dismissed" and ins.dismiss_reason:
        parts.append(f"Dismissed because: {ins.dismiss_reason}")
    parts.append(ins.narrative)
    if ins.recommended_actions:
        parts.append("**Recommended actions**\n" + "\n".join(f"- {a}" for a in ins.recommended_actions))
    return "\n\n".join(parts)


def card(rank: int, ins, events) -> None:
    """One insight: title, summary, evidence beside its figures, then one row of status, votes and history."""
    with st.container(border=True):
        st.markdown(f"#### {rank}. {ins.title}")
        st.markdown(summary(ins))
        left, right = st.columns([3, 2])
        with left:
            evidence(ins)
        right.markdown(figures_text(ins))
        with st.container(horizontal=True, vertical_alignment="center"):
            if p.can("feedback"):
                status_menu(ins)
                st.button(f"Useful ({ins.useful})", key=f"ins_useful_{ins.id}", on_click=on_vote,
                          args=(ins.id, True), icon=":material/thumb_up:")
                st.button(f"Not useful ({ins.not_useful})", key=f"ins_notuseful_{ins.id}", on_click=on_vote,
                          args=(ins.id, False), icon=":material/thumb_down:")
            history(ins, events)


shown_n = st.session_state.get("ins_shown", PAGE_SIZE)  # drawing every card (with its chart) costs time
# One read for the history of every card drawn (a read per card cost a permission check and two queries each).
histories = ui.attempt(svc.insight_histories, p, [i.id for i in items[:shown_n]]) or {}
for rank, ins in enumerate(items[:shown_n], 1):
    card(rank, ins, histories.get(ins.id, []))

if len(items) > shown_n:
    st.button(f"Show {min(PAGE_SIZE, len(items) - shown_n)} more of {len(items) - shown_n}", key="ins_more",
              on_click=lambda: st.session_state.update(ins_shown=shown_n + PAGE_SIZE))

# ------------------------------------------------------------------ data used
_insight_roles_ui.panel(p)
