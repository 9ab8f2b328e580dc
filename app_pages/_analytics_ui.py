"""Streamlit glue shared by the analytics screens: pick a deployed analytic, say which version answers."""

from __future__ import annotations

import streamlit as st

from aihub.auth import Principal
from aihub.services import analytics
from aihub.services.analytics_specs import TEMPLATES
from app_pages import _common as ui


@st.cache_data(ttl=10, show_spinner=False)
def _deployed(tenant_id: int, user_id: int, kind: str, _p: Principal) -> list[tuple[int, str, int | None]]:
    """(id, name, active version number) of the tenant's analytics of ``kind`` that have a deployed version."""
    return [(m.id, m.name, m.active_version) for m in analytics.list_analytics(_p, kind) if m.active_version_id]


def pick(p: Principal, kind: str, key: str, *, where=st) -> int | None:
    """A selectbox of the deployed analytics of ``kind``; None (with a hint) when there are none."""
    models = ui.attempt(_deployed, p.tenant_id, p.user_id, kind, p) or []
    if not models:
        where.info(f"No deployed {TEMPLATES[kind].title.lower()} analytic yet. Create one from its template on "
                   "**Analytics**.")
        return None
    names = {i: f"{name} (version {v})" for i, name, v in models}
    return where.selectbox(TEMPLATES[kind].title, list(names), format_func=names.get, key=key)


def caption(p: Principal, model_id: int, kind: str) -> analytics.AnalyticResult | None:
    """Load the deployed version and say what it is: version, method, data and when it was trained."""
    res = ui.attempt(analytics.load, p, model_id, kind=kind)
    if res is not None:
        v = res.version
        st.caption(f"Version {v.version} · {v.algorithm} · trained {v.created_at:%Y-%m-%d %H:%M} on dataset version "
                   f"{v.dataset_version_id} in {v.training_seconds:.1f} s. Retrain or deploy another version on "
                   "**Analytics**.")
    return res


def customer_lookup(p: Principal) -> None:
    """An expander on Predictions: a customer's recommended products (when a recommender is deployed)."""
    from aihub.services import analytics_results as results

    models = ui.attempt(_deployed, p.tenant_id, p.user_id, "recommend", p) or []
    if not models:
        return
    with st.expander("Recommendations for a customer"):
        names = {i: name for i, name, _ in models}
        c1, c2 = st.columns([1, 2])
        model_id = c1.selectbox("Recommender", list(names), format_func=names.get, key="lookup_model")
        customer = c2.text_input("Customer id", key="lookup_customer",
                                 help="A customer of the order lines; a new one gets the popular products.")
        if customer.strip():
            recs = ui.attempt(results.recommendations_for, p, model_id, customer)
            if recs is not None:
                st.dataframe(recs[["rank", "label", "reason", "score"]], hide_index=True, width="stretch",
                             column_config={"score": st.column_config.NumberColumn(format="%.4f")})
