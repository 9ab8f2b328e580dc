"""Customer value: expected purchases, probability of still being a customer and expected spend (BG/NBD + Gamma-Gamma)."""

import streamlit as st

from aihub import exports
from aihub.charts import analytics as charts
from aihub.services import analytics_results as results
from app_pages import _analytics_ui as aui
from app_pages import _common as ui

p = ui.principal()
st.title("Customer value")
model_id = aui.pick(p, "clv", "clv_model")
if model_id is None:
    st.stop()
res = aui.caption(p, model_id, "clv")
if res is None:
    st.stop()
table = ui.attempt(results.clv_table, p, model_id)
if table is None:
    st.stop()

days = res.spec.horizon_days
st.caption(f"Expected spend over the next {days:g} days: purchases from the BG/NBD model (Fader, Hardie & Lee 2005) "
           "times the spend per purchase from the Gamma-Gamma model (Fader & Hardie 2013), undiscounted. "
           "Model estimates, not promises.")
m = res.version.metrics
c = st.columns(4)
c[0].metric("Customers", f"{m.get('customers', 0):,}")
c[1].metric("Repeat customers", f"{m.get('repeat_customers', 0):,}")
c[2].metric(f"Expected spend, {days:g} days", ui.compact(table["expected_spend"].sum()))
c[3].metric("Mean probability alive", f"{table['probability_alive'].mean():.0%}")
for note in m.get("notes") or []:
    st.caption(f"Note: {note}")
st.plotly_chart(charts.clv_figure(table), width="stretch", key="clv_chart")
top = st.slider("Show the top customers by expected spend", 10, max(10, min(500, len(table))), 25, key="clv_top")
st.dataframe(table.head(top), hide_index=True, width="stretch", column_config={
    "probability_alive": st.column_config.NumberColumn(format="percent"),
    **{c: st.column_config.NumberColumn(format="%.2f") for c in
       ("recency", "T", "monetary", "expected_purchases", "expected_order_value", "expected_spend")}})
st.download_button("Download customer values CSV", exports.to_csv_bytes(table),
                   file_name=f"{res.model.name}_customer_value.csv", mime="text/csv", key="clv_download")
