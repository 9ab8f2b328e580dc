"""Recommendations: a customer's top products with reasons, a product's "also bought" list, every list as CSV."""

import pandas as pd
import streamlit as st

from aihub.charts import analytics as charts
from aihub.services import analytics_results as results
from app_pages import _analytics_ui as aui
from app_pages import _common as ui

p = ui.principal()
st.title("Recommendations")
model_id = aui.pick(p, "recommend", "rec_model")
if model_id is None:
    st.stop()
res = aui.caption(p, model_id, "recommend")
if res is None:
    st.stop()


@st.cache_data(ttl=60, show_spinner=False)
def customers(tenant_id: int, version_id: int, _model_id: int) -> list[str]:
    return results.recommend_customers(p, _model_id, version_id=version_id)


@st.cache_data(ttl=60, show_spinner=False)
def products(tenant_id: int, version_id: int, _model_id: int) -> pd.DataFrame:
    return results.recommend_products(p, _model_id, version_id=version_id)


def validation() -> None:
    """How the method was chosen: each candidate's NDCG and hit rate on the latest orders held out."""
    m = res.version.metrics
    rows = [{"method": k.removeprefix("validation_ndcg_"), "NDCG@k": v,
             "hit rate@k": m.get(f"validation_hit_rate_{k.removeprefix('validation_ndcg_')}")}
            for k, v in m.items() if k.startswith("validation_ndcg_")]
    c = st.columns(4)
    c[0].metric("Customers", f"{m.get('customers', 0):,}")
    c[1].metric("Products", f"{m.get('products', 0):,}")
    c[2].metric("Method", res.version.algorithm)
    if m.get("ndcg_at_k") is not None:
        c[3].metric(f"Validation NDCG@{res.spec.k}", f"{m['ndcg_at_k']:.4f}",
                    help="On the latest orders held out from fitting (a time split); popularity is the baseline.")
    if rows:
        with st.expander("How the method was chosen (time split of the training data)"):
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            st.caption("Another method replaces popularity only when it beats it by more than one standard error.")


validation()
known = ui.attempt(customers, p.tenant_id, res.version.id, model_id) or []
items = ui.attempt(products, p.tenant_id, res.version.id, model_id)
tab_c, tab_p, tab_all = st.tabs(["For a customer", "Also bought", "All customers"])
with tab_c:
    c1, c2 = st.columns([3, 1])
    customer = c1.selectbox("Customer", known, key="rec_customer", accept_new_options=True,
                            help="Pick a customer or type an id; a new customer gets the popular products.")
    k = c2.number_input("How many", min_value=1, max_value=100, value=res.spec.k, key="rec_k")
    recs = ui.attempt(results.recommendations_for, p, model_id, customer, k=int(k)) if customer else None
    if recs is not None and len(recs):
        st.plotly_chart(charts.recommendations_figure(recs), width="stretch", key="rec_chart")
        st.dataframe(recs, hide_index=True, width="stretch",
                     column_config={"score": st.column_config.NumberColumn(format="%.4f")})
with tab_p:
    if items is not None and len(items):
        labels = dict(zip(items["item"], items["label"]))
        product = st.selectbox("Product", list(labels), key="rec_product",
                               format_func=lambda i: f"{labels[i]} ({i})" if labels[i] != i else i)
        also = ui.attempt(results.also_bought, p, model_id, product, k=10)
        if also is not None and len(also):
            st.plotly_chart(charts.also_bought_figure(also, labels[product]), width="stretch",
                            key="also_chart")
            st.dataframe(also, hide_index=True, width="stretch",
                         column_config={"confidence": st.column_config.NumberColumn(format="%.2f"),
                                        "lift": st.column_config.NumberColumn(format="%.1f")})
        elif also is not None:
            st.info("No other customer bought this product.")
with tab_all:
    st.write(f"Top {res.spec.k} products for each of the {len(known):,} customers: user, item, rank, score, "
             "source and reason.")
    if st.button("Prepare the CSV", key="rec_prepare"):
        data = ui.attempt(results.recommendations_csv, p, model_id)
        if data is not None:
            st.download_button("Download recommendations CSV", data, file_name=f"{res.model.name}_recommendations.csv",
                               mime="text/csv", key="rec_download")
