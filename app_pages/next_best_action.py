"""Next best action: for each at-risk customer of a deployed churn model, the change that lowers their risk most."""

import streamlit as st

from aihub import exports
from aihub.charts import analytics as charts
from aihub.services import analytics_results as results
from aihub.services import datasets, model_training, predictions
from app_pages import _common as ui

p = ui.principal()
st.title("Next best action")
st.caption("Each at-risk customer is re-scored with one feature the business can change set to another value, "
           "all else unchanged; the action that lowers the model's risk most (robustly, over cross-fitted copies of "
           "the model) is suggested. Every figure is a model estimate, not a promise.")
models = [m for m in (ui.attempt(model_training.list_models, p) or []) if m.active_version_id]
forms = {m.id: ui.attempt(predictions.prediction_form, p, m.id) for m in models}
usable = {i: f for i, f in forms.items() if f is not None and f.task == "classification" and
          len(f.classes or []) == 2}
if not usable:
    st.info("No deployed binary classification model (such as churn). Train one on **Models** and deploy it.")
    st.stop()
names = {m.id: m.name for m in models if m.id in usable}
model_id = st.selectbox("Churn model", list(names), format_func=names.get, key="nba_model")
form = usable[model_id]
records = ui.attempt(datasets.list_datasets, p) or []
by_id = {r.id: r.name for r in records}
dataset_id = st.selectbox("Customers (dataset with the model's inputs)", list(by_id), format_func=by_id.get,
                          key="nba_dataset")

features = {f["name"]: f for f in form.features}
chosen = st.multiselect("Features the business can change", list(features), key="nba_features",
                        default=[f for f in ("Contract", "PaymentMethod", "PaperlessBilling") if f in features])
actionable = {}
for name in chosen:
    f = features[name]
    if f["kind"] == "numeric":
        text = st.text_input(f"{name}: allowed values or changes, separated by |", value="-10%|-20%",
                             key=f"nba_vals_{name}", help="Numbers (absolute), -10% (relative) or +5 / -5 (change).")
        actionable[name] = [v for v in text.split("|") if v.strip()]
    else:
        actionable[name] = st.multiselect(f"{name}: values you can offer", f.get("categories") or [],
                                          default=f.get("categories") or [], key=f"nba_vals_{name}")
c1, c2 = st.columns(2)
threshold = c1.slider("At risk from", 0.05, 0.95, 0.5, 0.05, key="nba_threshold")
max_actions = c2.number_input("Actions per customer", 1, 10, 3, key="nba_max")
if st.button("Suggest actions", type="primary", key="nba_run", disabled=not (p.can("predict") and chosen)):
    with st.spinner("Scoring, explaining and re-scoring the at-risk customers"):
        st.session_state["nba_result"] = ui.attempt(results.next_best_actions, p, model_id, dataset_id, actionable,
                                                    risk_threshold=threshold, max_actions=int(max_actions))
        st.session_state["nba_for"] = model_id
out = st.session_state.get("nba_result")
if out is not None and st.session_state.get("nba_for") == model_id:
    first = out[out["rank"] == 1]
    c = st.columns(3)
    c[0].metric("Customers at risk", first["row"].nunique())
    c[1].metric("With an action", int(first["feature"].notna().sum()))
    c[2].metric("Mean risk drop of the best action", f"{first['risk_drop'].mean():.2f}" if len(first) else "-")
    st.plotly_chart(charts.actions_figure(out), width="stretch", key="nba_chart")
    st.dataframe(out, hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(format="%.2f") for c in
        ("current_risk", "new_risk", "risk_drop", "estimated_drop", "risk_if_all_applied")})
    st.download_button("Download actions CSV", exports.to_csv_bytes(out), file_name="next_best_actions.csv",
                       mime="text/csv", key="nba_download")
    if p.can("automation") and st.button("Start workflows for these actions", key="nba_publish",
                                         help="Runs every workflow whose trigger is 'A next best action is "
                                              "suggested', once per customer and action."):
        n = ui.attempt(results.publish_actions, p, model_id, out)
        if n is not None:
            st.success(f"{n} actions sent to workflows.")
