"""Sentiment: scores per text with the words that drove them, the trend per group, the most negative recent texts, drops."""

import streamlit as st

from aihub.charts import analytics as charts
from aihub.services import analytics_results as results
from app_pages import _analytics_ui as aui
from app_pages import _common as ui

p = ui.principal()
st.title("Sentiment")
model_id = aui.pick(p, "sentiment", "sent_model")
if model_id is None:
    st.stop()
res = aui.caption(p, model_id, "sentiment")
if res is None:
    st.stop()
view = ui.attempt(results.sentiment_view, p, model_id)
if view is None:
    st.stop()

st.caption("Scored without labels by the VADER lexicon (Hutto & Gilbert 2014): score from -1 (negative) to +1 "
           "(positive); drivers are the words that moved it most. Only English is scored; other languages are "
           "marked unsupported. With labelled examples, train a text model on **Models** (a table whose feature is "
           "the text column): it adds TF-IDF words to the lexicon's scores.")
labels = view["labels"]
scored = sum(v for k, v in labels.items() if k in ("positive", "neutral", "negative"))
c = st.columns(4)
c[0].metric("Texts scored", f"{scored:,}")
mean = res.version.metrics.get("mean_score")
c[1].metric("Mean score", f"{mean:+.2f}" if mean is not None else "-")
c[2].metric("Negative", f"{labels.get('negative', 0) / max(scored, 1):.0%}")
c[3].metric("Not scored", labels.get("unsupported", 0) + labels.get("empty", 0),
            help="Unsupported language or no words.")

for d in view["drops"]:
    st.error(f"**{d['title']}.** {d['narrative']}")
if res.spec.time_column and not view["drops"]:
    st.success("No significant drop of sentiment in the latest period.")

left, right = st.columns([2, 1])
with left:
    if len(view["over_time"]):
        st.plotly_chart(charts.sentiment_trend_figure(view["over_time"]), width="stretch", key="sent_trend")
    else:
        st.info("Choose a time column in the analytic's settings to see sentiment over time.")
with right:
    st.plotly_chart(charts.sentiment_labels_figure(labels), width="stretch", key="sent_labels")

st.subheader("Most negative " + ("texts of the latest period" if res.spec.time_column else "texts"))
neg = view["most_negative"]
cols = [c for c in ("text", "score", "drivers", res.spec.group_column, res.spec.time_column) if c]
st.dataframe(neg[cols], hide_index=True, width="stretch",
             column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                            "text": st.column_config.TextColumn(width="large")})
with st.expander("Every text"):
    rows = view["rows"]
    label = st.multiselect("Labels", sorted(rows["label"].dropna().unique()), key="sent_filter")
    shown = rows[rows["label"].isin(label)] if label else rows
    st.dataframe(shown, hide_index=True, width="stretch")
    if st.button("Prepare the CSV", key="sent_prepare"):
        data = ui.attempt(results.sentiment_csv, p, model_id)
        if data is not None:
            st.download_button("Download scored texts CSV", data, file_name=f"{res.model.name}_sentiment.csv",
                               mime="text/csv", key="sent_download")
