"""Predictions: one customer with reasons, two compared, a file in batch, outcomes and serving statistics."""

import pandas as pd
import streamlit as st

from aihub import exports
from aihub.charts import predictions as predictive_charts
from aihub.services import batch_predictions, model_training, outcomes, predictions
from app_pages import _analytics_ui as aui
from app_pages import _common as ui

p = ui.principal()
st.title("Predictions")
aui.customer_lookup(p)

models = [m for m in (ui.attempt(model_training.list_models, p) or []) if m.active_version_id]
if not models:
    st.info("No deployed predictive model yet. Train one from a template on **Models** and deploy a version.")
    st.stop()
ids = [m.id for m in models]
model_id = st.selectbox("Model", ids, key="pred_model", format_func=lambda i: next(m.name for m in models if m.id == i))
model = next(m for m in models if m.id == model_id)
form = ui.attempt(predictions.prediction_form, p, model.id)
if form is None:
    st.stop()
st.caption(f"Champion: version {model.active_version}"
           + (f" · challenger: version {model.challenger_version} serves {100 * model.challenger_share:.0f}% of "
              "requests" if model.challenger_version else "")
           + f" · {form.task} · output: {form.label}")
can_predict = p.can("predict")
if not can_predict:
    st.caption("Your role can view predictions but not make them.")


def feature_inputs(prefix: str, only: list[str] | None = None, defaults: dict | None = None) -> dict:
    """One input per feature of the champion's schema: numbers with their training range, category lists."""
    values = {}
    feats = [f for f in form.features if only is None or f["name"] in only]
    cols = st.columns(3)
    for i, f in enumerate(feats):
        default = (defaults or {}).get(f["name"], f.get("example"))
        with cols[i % 3]:
            key = f"{prefix}_{model.id}_{f['name']}"
            if f["kind"] in ("date", "text"):
                values[f["name"]] = st.text_input(
                    f["name"], value="" if default is None else str(default), key=key,
                    help="A date, e.g. 2024-03-31." if f["kind"] == "date" else "Free text; its words count.")
            elif f["kind"] == "numeric":
                rng = (f"Seen in training: {f['min']:,.6g} to {f['max']:,.6g}, median {f['median']:,.6g}."
                       if f.get("min") is not None else None)
                integer = f.get("integer")
                value = default if isinstance(default, int | float) else f.get("median") or 0
                values[f["name"]] = st.number_input(
                    f["name"], value=round(value) if integer else float(value), step=1 if integer else None,
                    key=key, help=rng)
            else:
                options = list(f.get("categories") or [])
                if default is not None and str(default) not in options:
                    options.insert(0, str(default))
                extra = f.get("n_categories", 0) - len(f.get("categories") or [])
                values[f["name"]] = st.selectbox(
                    f["name"], options, index=options.index(str(default)) if default is not None else 0, key=key,
                    help=f"{len(options)} categories seen in training" + (f" (and {extra} rarer ones)" if extra > 0
                                                                          else "") + ".")
    return values


def show_outcome(out: predictions.PredictionOutcome) -> None:
    """The class or value, its probability and confidence or interval, and the reasons."""
    c1, c2, c3 = st.columns(3)
    if out.task == "classification":
        c1.metric("Prediction", str(out.prediction))
        if out.probability is not None:
            c2.metric(out.label, f"{out.probability:.2f}", help=f"Probability that the outcome is {out.positive_class}.")
        if out.confidence is not None:
            c3.metric("Confidence", f"{100 * out.confidence:.0f} %",
                      help="Probability of the predicted class.")
        if out.output.get("lead_score") is not None:
            st.markdown(f"Lead score **{out.output['lead_score']}** / 100 · band **{out.output.get('band')}**")
    elif out.task == "regression":
        c1.metric(out.label, ui.compact(out.prediction))
        if out.lower is not None:
            c2.metric("Interval", f"{ui.compact(out.lower)} to {ui.compact(out.upper)}")
    else:
        c1.metric("Segment", str(out.prediction))
    st.caption(f"Prediction #{out.id} · version {out.version} ({out.served_by}) · "
               + ("from cache · " if out.cache_hit else "") + f"{out.latency_ms:,.0f} ms")
    if out.output.get("warning"):
        st.warning(out.output["warning"])
    if out.explanation:
        st.info(out.explanation)
    if out.contributions:
        st.plotly_chart(predictive_charts.contributions_figure(out.output), use_container_width=True,
                        key=f"waterfall_{out.id}")
        with st.expander("All contributions"):
            st.dataframe(pd.DataFrame(out.contributions), hide_index=True, use_container_width=True)


TABS = ["Single prediction", "Compare two", "Batch", "Outcomes", "Serving statistics"]
tabs = st.tabs(TABS, key="pred_tab", on_change="rerun")

with tabs[0]:
    if tabs[0].open:
        with st.form(f"single_{model.id}"):
            values = feature_inputs("f")
            submitted = st.form_submit_button("Predict", type="primary", disabled=not can_predict,
                                              key="predict_one")
        if submitted:
            out = ui.attempt(predictions.predict_one, p, model.id, values)
            if out is not None:
                st.session_state["last_prediction"] = (model.id, values, out)
        last = st.session_state.get("last_prediction")
        if last and last[0] == model.id:
            show_outcome(last[2])

with tabs[1]:
    if tabs[1].open:
        if form.task == "clustering":
            st.info("Comparisons explain classification and value models.")
        else:
            last = st.session_state.get("last_prediction")
            base = last[1] if last and last[0] == model.id else {f["name"]: f.get("example") for f in form.features}
            st.caption("A is your last single prediction (or a typical customer). Change some features for B.")
            changed = st.multiselect("Features to change for B", [f["name"] for f in form.features],
                                     key=f"cmp_features_{model.id}")
            b_values = {**base, **feature_inputs("b", changed, base)} if changed else dict(base)
            if st.button("Compare A and B", key="compare", disabled=not can_predict or not changed):
                cmp = ui.attempt(predictions.compare_predictions, p, model.id, base, b_values)
                if cmp is not None:
                    st.info(cmp.text)
                    st.plotly_chart(predictive_charts.comparison_figure(cmp.table, cmp.label),
                                    use_container_width=True, key="comparison_chart")
                    st.dataframe(cmp.table, hide_index=True, use_container_width=True)

with tabs[2]:
    if tabs[2].open:
        upload = st.file_uploader("CSV, Excel or JSON with the model's input columns", key="batch_file",
                                  type=["csv", "txt", "tsv", "xlsx", "json", "jsonl"], disabled=not can_predict)
        explain = st.checkbox("Explain each row (slower)", key="batch_explain")
        if st.button("Predict file", type="primary", key="batch_predict", disabled=upload is None or not can_predict):
            result = ui.attempt(batch_predictions.predict_batch, p, model.id, upload.name, upload.getvalue(), explain=explain)
            if result is not None:
                st.session_state["last_batch"] = (model.id, result.batch, result.errors, result.csv(),
                                                  result.results.head(50).rename(columns={"probability": result.label}),
                                                  result.warning_counts)
        last = st.session_state.get("last_batch")
        if last and last[0] == model.id:
            _, batch, errors, csv_bytes, preview, warned = last
            st.success(f"Predicted {batch.rows_predicted:,} of {batch.rows_total:,} rows of **{batch.filename}** in "
                       f"{batch.seconds:.1f} s; every row is stored (batch #{batch.id}).")
            for w in warned[:10]:
                st.warning(f"{w['rows']:,} row{'s' if w['rows'] != 1 else ''}: {w['message']}")
            if len(warned) > 10:
                st.caption(f"{len(warned) - 10:,} more kinds of warning are in the results CSV (column `warning`).")
            if errors:
                st.error(f"{len(errors):,} row(s) could not be predicted:")
                st.dataframe(pd.DataFrame(errors), hide_index=True, use_container_width=True)
            st.dataframe(preview, hide_index=True, use_container_width=True)
            st.download_button("Download results CSV", csv_bytes, file_name=f"predictions_batch_{batch.id}.csv",
                               mime="text/csv", key="batch_download")
        batches = ui.attempt(batch_predictions.list_batches, p, model.id) or []
        if batches:
            st.markdown("**Earlier batches**")
            st.dataframe(pd.DataFrame([{
                "batch": b.id, "file": b.filename, "rows": b.rows_total, "predicted": b.rows_predicted,
                "failed": b.rows_failed, "seconds": round(b.seconds, 2), "by": b.created_by, "at": b.created_at,
            } for b in batches]), hide_index=True, use_container_width=True)
            pick = st.selectbox("Download an earlier batch", [b.id for b in batches], key="old_batch")
            if st.button("Prepare download", key="old_batch_prepare"):
                frame = ui.attempt(batch_predictions.batch_results, p, pick)
                if frame is not None:
                    st.download_button(f"Download batch {pick}", exports.to_csv_bytes(frame),
                                       file_name=f"predictions_batch_{pick}.csv", mime="text/csv",
                                       key="old_batch_download")

with tabs[3]:
    if tabs[3].open:
        can_feedback = p.can("feedback")
        st.markdown("**Record one outcome**")
        c1, c2, c3 = st.columns([1, 1, 1])
        pid = c1.number_input("Prediction #", min_value=1, step=1, key="fb_id")
        actual = c2.text_input("What actually happened", key="fb_actual",
                               help=f"One of {', '.join(map(str, form.classes))}" if form.classes else "A number")
        if c3.button("Record outcome", key="fb_record", disabled=not can_feedback):
            rec = ui.attempt(outcomes.record_outcome, p, int(pid), actual)
            if rec is not None:
                st.success(f"Recorded '{rec.actual}' for prediction #{rec.id} (predicted '{rec.prediction}').")
        st.markdown("**Upload outcomes** (columns `prediction_id` and `actual`, e.g. from a downloaded batch)")
        fb_file = st.file_uploader("Outcomes file", key="fb_file", type=["csv", "txt", "xlsx", "json"],
                                   disabled=not can_feedback)
        if st.button("Record outcomes", key="fb_upload", disabled=fb_file is None or not can_feedback):
            fb = ui.attempt(outcomes.record_outcomes, p, fb_file.name, fb_file.getvalue())
            if fb is not None:
                st.success(f"Recorded {fb.updated:,} outcome(s).")
                if fb.errors:
                    st.error(f"{len(fb.errors):,} row(s) were not recorded:")
                    st.dataframe(pd.DataFrame(fb.errors), hide_index=True, use_container_width=True)
        st.markdown("**Live accuracy**")
        accuracy = ui.attempt(outcomes.live_accuracy, p, model.id) or []
        for a in accuracy:
            if a.flagged:
                st.error(f"Version {a.version}: {a.message}")
        st.dataframe(pd.DataFrame([{
            "version": a.version, "role": a.role, "outcomes": a.live_n, "test accuracy": a.test_accuracy,
            "live accuracy": a.live_accuracy, "test MAE": a.test_mae, "live MAE": a.live_mae,
            "flagged": a.flagged, "note": a.message,
        } for a in accuracy]), hide_index=True, use_container_width=True)

with tabs[4]:
    if tabs[4].open:
        stats = ui.attempt(predictions.serving_stats, p, model.id)
        if stats is not None:
            cols = st.columns(6)
            cols[0].metric("Predictions", ui.compact(stats.count))
            cols[1].metric("Error rate", "—" if stats.error_rate is None else f"{100 * stats.error_rate:.1f} %")
            cols[2].metric("Cache hit rate", "—" if stats.cache_hit_rate is None
                           else f"{100 * stats.cache_hit_rate:.0f} %")
            for col, label, v in zip(cols[3:], ("p50", "p95", "p99"), (stats.p50_ms, stats.p95_ms, stats.p99_ms),
                                     strict=True):
                col.metric(f"Latency {label}", "—" if v is None else ui.compact(round(v), "ms"))
            st.caption(f"{stats.single_count:,} single requests (latency percentiles) and {stats.batch_rows:,} batch "
                       "rows.")
            if stats.by_version:
                st.dataframe(pd.DataFrame([{
                    "version": v.version, "served by": v.served_by, "predictions": v.count, "errors": v.errors,
                    "cache hits": v.cache_hits} for v in stats.by_version]), hide_index=True, use_container_width=True)
        recent = ui.attempt(predictions.list_predictions, p, model.id, single_only=True, limit=20) or []
        if recent:
            st.markdown("**Latest single predictions**")
            st.dataframe(pd.DataFrame([{
                "#": r.id, "version": r.version, "served by": r.served_by, "prediction": r.prediction,
                "probability": r.probability, "cache": r.cache_hit, "ms": round(r.latency_ms, 1),
                "error": r.error, "actual": r.actual, "by": r.requested_by, "at": r.created_at,
            } for r in recent]), hide_index=True, use_container_width=True)
