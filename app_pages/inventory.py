"""Inventory: products needing an order now, each product's policy and its projected stock against the reorder point."""

import streamlit as st

from aihub import exports
from aihub.charts import analytics as charts
from aihub.services import analytics_results as results
from app_pages import _analytics_ui as aui
from app_pages import _common as ui

p = ui.principal()
st.title("Inventory")
model_id = aui.pick(p, "inventory", "inv_model")
if model_id is None:
    st.stop()
res = aui.caption(p, model_id, "inventory")
if res is None:
    st.stop()
policy = ui.attempt(results.inventory_policy, p, model_id)
if policy is None:
    st.stop()

spec = res.spec
period = {"D": "day", "W": "week", "M": "month"}[spec.freq]
st.write(f"Lead time {spec.lead_time:g} {period}(s), "
         + (f"review every {spec.review_period:g} {period}(s) (order-up-to)" if spec.review_period
            else "continuous review (reorder point, order quantity)")
         + f", target cycle service level {spec.service_level:.0%}. Safety stock comes from the forecast's own errors "
           "over the last 52 reviews where the history allows, else from the forecast interval "
           "(Silver, Pyke & Thomas 2017).")
due = policy[policy["needs_order"]].sort_values("stockout_probability", ascending=False)
c = st.columns(3)
c[0].metric("Products planned", len(policy))
c[1].metric("Need an order now", len(due))
c[2].metric("Mean stock-out risk", f"{policy['stockout_probability'].mean():.0%}")

NUM = {col: st.column_config.NumberColumn(format="%.1f") for col in
       ("inventory_position", "reorder_point", "order_up_to", "safety_stock", "order_quantity", "order_now",
        "demand_over_protection", "mean_demand_per_period")}
NUM["stockout_probability"] = st.column_config.NumberColumn("stock-out risk", format="percent")
st.subheader("Order now")
if due.empty:
    st.success("No product is at or below its reorder point.")
else:
    st.dataframe(due[["product", "inventory_position", "reorder_point", "order_up_to", "order_now",
                      "stockout_probability"]], hide_index=True, width="stretch", column_config=NUM)
    st.caption("A workflow with the trigger **A product reaches its reorder point** (Workflows) runs for each of "
               "these when a version is trained.")
st.plotly_chart(charts.stockout_figure(policy), width="stretch", key="inv_risk")

st.subheader("A product")
product = st.selectbox("Product", list(policy.sort_values("stockout_probability", ascending=False)["product"]),
                       key="inv_product")
view = ui.attempt(results.inventory_projection, p, model_id, product)
if view is not None:
    row = view["policy"]
    k = st.columns(4)
    k[0].metric("Inventory position", ui.compact(row["inventory_position"]))
    level = row["reorder_point"] if row["reorder_point"] is not None else row["order_up_to"]
    k[1].metric("Reorder point" if row["reorder_point"] is not None else "Order-up-to level", ui.compact(level))
    k[2].metric("Safety stock", ui.compact(row["safety_stock"]), help=row["safety_stock_basis"])
    k[3].metric("Order quantity", ui.compact(row["order_quantity"]), help="EOQ with an ordering cost, else one period's "
                "demand (continuous review); expected demand of a review period (periodic)")
    st.plotly_chart(charts.inventory_figure(view), width="stretch", key="inv_chart")

with st.expander("Every product's policy"):
    st.dataframe(policy, hide_index=True, width="stretch", column_config=NUM)
    st.download_button("Download policy CSV", exports.to_csv_bytes(policy), file_name=f"{res.model.name}_policy.csv",
                       mime="text/csv", key="inv_download")
