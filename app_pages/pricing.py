"""Pricing: each product's elasticity with its interval, the recommended price within bounds, and why."""

import pandas as pd
import streamlit as st

from aihub import exports
from aihub.charts import analytics as charts
from aihub.pricing import PriceBounds
from aihub.services import analytics_results as results
from aihub.userconfig import limits
from app_pages import _analytics_ui as aui
from app_pages import _common as ui

p = ui.principal()
st.title("Pricing")
model_id = aui.pick(p, "pricing", "price_model")
if model_id is None:
    st.stop()
res = aui.caption(p, model_id, "pricing")
if res is None:
    st.stop()
table = ui.attempt(results.price_table, p, model_id)
if table is None:
    st.stop()

DECISIONS = {"raise": "Raise", "lower": "Lower", "keep": "Keep"}
m = res.version.metrics
c = st.columns(5)
c[0].metric("Products", m.get("products"))
c[1].metric("Own estimates", m.get("own_estimates"), help="Enough price variation: each product's own slope, "
            "pooled toward its category (partial pooling).")
c[2].metric("Cannot support an estimate", (m.get("from_category") or 0) + (m.get("no_estimate") or 0),
            help="Too little price variation: the category's elasticity (or the literature prior) stands in, "
                 "and today's price is kept unless the category is decisive.")
c[3].metric("Raise / lower", f"{m.get('raise', 0)} / {m.get('lower', 0)}")
c[4].metric("Keep", m.get("keep"))
for note in m.get("notes") or []:
    st.caption(f"Note: {note}")

tab_all, tab_one = st.tabs(["All products", "One product"])
with tab_all:
    st.plotly_chart(charts.elasticity_figure(table.dropna(subset=["elasticity"])), width="stretch",
                    key="elasticity_chart")
    shown = table[["product", "category", "decision", "current_price", "recommended_price", "change", "elasticity",
                   "elasticity_lower", "elasticity_upper", "source", "gain_probability", "reason"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "change": st.column_config.NumberColumn(format="percent"),
        "gain_probability": st.column_config.NumberColumn("chance it does better", format="percent"),
        **{col: st.column_config.NumberColumn(format="%.2f") for col in
           ("current_price", "recommended_price", "elasticity", "elasticity_lower", "elasticity_upper")}})
    st.download_button("Download prices CSV", exports.to_csv_bytes(table), file_name=f"{res.model.name}_prices.csv",
                       mime="text/csv", key="price_download")

with tab_one:
    product = st.selectbox("Product", list(table["product"]), key="price_product")
    lim = limits(PriceBounds, "max_change")
    c1, c2, c3 = st.columns(3)
    objective = c1.selectbox("Objective", ["revenue", "profit"], key="price_objective",
                             index=["revenue", "profit"].index(res.spec.objective))
    max_change = c2.slider("Largest change", min_value=0.01, max_value=float(lim["le"]), value=res.spec.max_change,
                           step=0.01, key="price_max_change", format="%.2f")
    margin = c3.number_input("Minimum margin (0 = none)", min_value=0.0, max_value=0.95,
                             value=float(res.spec.min_margin or 0.0), step=0.05, key="price_margin")
    out = ui.attempt(results.price_recommendation, p, model_id, product, objective=objective, max_change=max_change,
                     min_margin=margin or None)
    if out is not None:
        rec, curve = out
        if rec["status"] in ("no_estimate", "rising_demand") or rec["source"] != "pooled":
            st.warning(rec["reason"])
        elif rec["decision"] == "keep":
            st.info(rec["reason"])
        else:
            st.success(rec["reason"])
        k = st.columns(4)
        k[0].metric("Today's price", f"{rec['current_price']:,.2f}")
        k[1].metric("Recommended", f"{rec['recommended_price']:,.2f}", f"{rec['change']:+.1%}")
        k[2].metric("Elasticity (90% interval)", f"{rec['elasticity']:.2f}",
                    help=f"{rec['elasticity_lower']:.2f} to {rec['elasticity_upper']:.2f}; source: {rec['source']}")
        k[3].metric(f"Expected {objective} change", f"{rec['objective_change']:+.1%}",
                    help=f"5th percentile {rec['objective_change_p05']:+.1%}; a model estimate, not a promise.")
        if len(curve):
            st.plotly_chart(charts.price_curve_figure(curve, rec, objective), width="stretch",
                            key="price_curve")
        hist = ui.attempt(results.price_history, p, model_id, product)
        if hist is not None and len(hist):
            st.plotly_chart(charts.price_history_figure(hist), width="stretch", key="price_hist")
        st.dataframe(pd.DataFrame([rec]).T.rename(columns={0: "value"}).astype(str), width="stretch")
