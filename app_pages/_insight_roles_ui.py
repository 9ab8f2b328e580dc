"""The "Data insights read" part of the Insights page: orders columns, and the roles of any table.

Streamlit glue only; the rules live in :mod:`aihub.services.insight_roles` and :mod:`aihub.insights.roles`.
"""

from __future__ import annotations

import typing

import pandas as pd
import streamlit as st

from aihub.auth import Principal
from aihub.insights.roles import Currency
from aihub.services import insights as svc
from app_pages._common import attempt, call, flash

ROLE_LABELS = {"date": "Date", "amount": "Amount (money)", "customer": "Customer id", "customer_name": "Customer name",
               "product": "Product", "order": "Order id"}
CURRENCIES = list(typing.get_args(Currency))
ROLE_WORDS = {"outcome": "outcome", "date": "date", "dimension": "segment", "measure": "measure",
              "ignore": "not read (id, text or constant)"}


def _none(c: str | None) -> str:
    return "(none)" if c is None else c


# ------------------------------------------------------------------ orders
def on_roles(p: Principal, dataset_id: int, reset: bool) -> None:
    ss = st.session_state
    roles = None if reset else {
        "enabled": ss.get(f"roles_enabled_{dataset_id}", True),
        **{k: ss.get(f"roles_{k}_{dataset_id}") for k in ROLE_LABELS},
        "dimensions": ss.get(f"roles_dimensions_{dataset_id}") or [],
    }
    rec = call(svc.set_dataset_roles, p, dataset_id, roles)
    if rec is not None:
        flash("success", f"Insights will read **{rec.dataset_name}** "
                         + ("as detected from its schema." if reset else "with your choice of columns."))
        for key in list(ss):
            if key.startswith("roles_") and key.endswith(f"_{dataset_id}"):
                del ss[key]


def _orders_popover(p: Principal, rec: svc.DatasetRoles) -> None:
    with st.popover("Change columns", icon=":material/tune:"):
        cols = list(rec.columns)
        current = rec.roles or {}
        st.checkbox("Use this dataset for insights", value=rec.enabled, key=f"roles_enabled_{rec.dataset_id}")
        for key, label in ROLE_LABELS.items():
            options = [None, *cols]
            value = current.get(key)
            st.selectbox(label, options, index=options.index(value) if value in options else 0,
                         key=f"roles_{key}_{rec.dataset_id}", format_func=_none)
        st.multiselect("Split changes by", cols, default=[d for d in current.get("dimensions") or [] if d in cols],
                       key=f"roles_dimensions_{rec.dataset_id}")
        b1, b2 = st.columns(2)
        b1.button("Save", key=f"roles_save_{rec.dataset_id}", on_click=on_roles, args=(p, rec.dataset_id, False),
                  type="primary")
        b2.button("Detect again", key=f"roles_reset_{rec.dataset_id}", on_click=on_roles,
                  args=(p, rec.dataset_id, True), disabled=not rec.stored)


# ------------------------------------------------------------------ any table
def on_table_roles(p: Principal, dataset_id: int, reset: bool) -> None:
    ss = st.session_state
    k = f"troles_{{}}_{dataset_id}".format
    roles = None
    if not reset:
        money = ss.get(k("money")) or []
        roles = {
            "outcome": ss.get(k("outcome")), "positive": ss.get(k("positive")) or None, "date": ss.get(k("date")),
            "dimensions": ss.get(k("dimensions")) or [], "ignore": ss.get(k("ignore")) or [],
            "measures": ss.get(k("measures")) or [], "money": {c: ss.get(k("currency")) or "USD" for c in money},
        }
    view = call(svc.set_table_roles, p, dataset_id, roles)
    if view is not None:
        flash("success", f"Insights will read **{view.dataset_name}** "
                         + ("with the proposed roles." if reset else "with the roles you confirmed."))
        for key in [x for x in ss if str(x).startswith("troles_") and str(x).endswith(f"_{dataset_id}")]:
            del ss[key]


def _proposal_table(view: svc.TableRolesView) -> None:
    st.dataframe(pd.DataFrame([{
        "column": c.name, "proposed role": ROLE_WORDS.get(c.role, c.role), "why": c.reason,
        "distinct values": c.n_unique,
    } for c in view.proposal.columns.values()]), hide_index=True, width="stretch")


def _table_form(p: Principal, view: svc.TableRolesView) -> None:
    cols = list(view.proposal.columns)
    numeric = [c.name for c in view.proposal.columns.values() if c.kind == "numeric"]
    r, d = view.roles, view.dataset_id
    k = f"troles_{{}}_{d}".format
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Outcome: the column whose drivers you want to know", [None, *cols], format_func=_none,
                 index=[None, *cols].index(r.outcome) if r.outcome in cols else 0, key=k("outcome"),
                 help="E.g. Response (0/1), class (good/bad) or a number such as sales. Leave empty for "
                      "shifts and outliers only.")
    c2.text_input("Outcome value that counts as the event", value=r.positive or "", key=k("positive"),
                  help="E.g. 1, Yes or bad. Empty: 1/yes/true when present, else the rarer value.")
    dates = [c.name for c in view.proposal.columns.values() if c.kind == "date"]
    c3.selectbox("Date", [None, *dates], format_func=_none, key=k("date"),
                 index=[None, *dates].index(r.date) if r.date in dates else 0,
                 help="Splits the rows into periods, to find shifts between them.")
    st.multiselect("Segments: columns that cut the rows into groups (region, type, ...)", cols,
                   default=[c for c in r.dimensions or [] if c in cols], key=k("dimensions"))
    st.multiselect("Measures: numbers to watch for shifts and outliers", numeric,
                   default=[c for c in r.measures or [] if c in numeric], key=k("measures"))
    st.multiselect("Ids and columns not to read", cols, default=[c for c in r.ignore if c in cols], key=k("ignore"),
                   help="Identifiers, free text, or anything insights should leave alone.")
    m1, m2 = st.columns([3, 1])
    m1.multiselect("Money columns", numeric, default=[c for c in r.money if c in numeric], key=k("money"),
                   help="Only these are written as money. A volume, a count or a weight is not money.")
    first = next(iter(r.money.values()), "USD")
    m2.selectbox("Currency", CURRENCIES, index=CURRENCIES.index(first) if first in CURRENCIES else 0,
                 key=k("currency"))
    b1, b2 = st.columns(2)
    b1.button("Confirm roles", key=k("save"), type="primary", on_click=on_table_roles, args=(p, d, False))
    b2.button("Back to the proposal", key=k("reset"), on_click=on_table_roles, args=(p, d, True),
              disabled=not view.confirmed)


@st.cache_data(ttl=60, show_spinner=False)
def _cached_view(tenant_id: int, dataset_id: int, version_id: int | None, _p: Principal) -> svc.TableRolesView:
    """The roles view of one dataset version (reads its table and infers roles: worth keeping between reruns)."""
    return svc.table_roles(_p, dataset_id)


def table_roles_panel(p: Principal, records: list[svc.DatasetRoles]) -> None:
    """Pick a dataset, see what each column is taken for and why, and confirm the roles."""
    if not records:
        return
    st.markdown("**Any table**: drivers of an outcome, shifts between periods, outliers and segments.")
    names = {r.dataset_id: r.dataset_name for r in records}
    chosen = st.selectbox("Dataset", list(names), format_func=names.get, key="troles_dataset")
    version = next(r.version_id for r in records if r.dataset_id == chosen)
    view = attempt(_cached_view, p.tenant_id, chosen, version, p)
    if view is None:
        return
    state = "roles you confirmed" if view.confirmed else "proposed roles, not confirmed yet"
    st.caption(f"Version {view.version} · {state}"
               + (" · read as an orders table until you confirm roles here" if view.orders and not view.confirmed
                  else ""))
    _proposal_table(view)
    for note in view.proposal.notes:
        st.caption(note)
    if p.can("generate"):
        _table_form(p, view)


@st.cache_data(ttl=60, show_spinner=False)
def _cached_roles(tenant_id: int, _p: Principal) -> list[svc.DatasetRoles]:
    """The roles of every dataset (a read of each dataset's latest version: kept between reruns)."""
    return svc.dataset_roles(_p)


def panel(p: Principal) -> None:
    """The whole "Data insights read" expander."""
    with st.expander("Data insights read"):
        st.caption("Orders datasets need a date and a money column; a customer column adds concentration and RFM "
                   "segment insights, category columns (region, category, ...) explain changes. Other tables are "
                   "read by the roles of their columns, below. Active forecasts, open anomalies and churn "
                   "predictions are read as they are.")
        roles = attempt(_cached_roles, p.tenant_id, p) or []
        if not roles:
            st.caption("No datasets yet.")
        for rec in roles:
            state = ("turned off" if not rec.enabled else "not an orders table" if rec.roles is None
                     else "your choice" if rec.stored else "detected")
            st.markdown(f"**{rec.dataset_name}** · {state}")
            if rec.roles:
                st.caption(" · ".join(f"{ROLE_LABELS[k]}: {rec.roles[k]}" for k in ROLE_LABELS if rec.roles.get(k))
                           + (f" · Split by: {', '.join(rec.roles['dimensions'])}" if rec.roles.get("dimensions")
                              else ""))
            if p.can("generate"):
                _orders_popover(p, rec)
        st.divider()
        table_roles_panel(p, [r for r in roles if r.enabled])
