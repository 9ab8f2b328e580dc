"""Data sources: upload a file, check and correct its schema, save it as a dataset version."""

from pathlib import Path

import pandas as pd
import streamlit as st

from aihub import datasets, ingest
from pages import _common as ui
from pages import _sources_ui

p = ui.principal()
st.title("Data sources")

st.subheader("Upload a file")
upload = st.file_uploader("CSV, Excel or JSON", type=["csv", "txt", "tsv", "xlsx", "json", "jsonl"],
                          key="upload_file", disabled=not p.can("create"))
if not p.can("create"):
    st.caption("Your role can view datasets but not upload them.")

if upload is not None:
    data = upload.getvalue()
    parsed = ui.attempt(datasets.preview_upload, p, upload.name, data)
    if parsed is not None:
        how = parsed.encoding or (f"sheet {parsed.sheet}" if parsed.sheet else parsed.format)
        st.success(f"Read **{upload.name}**: {parsed.row_count:,} rows, {len(parsed.schema)} columns ({how}).")
        for warning in parsed.warnings:
            st.warning(warning)
        st.dataframe(parsed.frame.head(20), use_container_width=True, hide_index=True)

        st.markdown("**Schema** — correct a column's type if it was inferred wrongly.")
        schema_json = ingest.schema_to_json(parsed.schema)["columns"]
        table = pd.DataFrame([{
            "column": c["name"], "type": c["kind"], "date format": c.get("date_format") or "",
            "bad cells": c.get("invalid", "raise"), "missing": c.get("null_count", 0),
            "examples": ", ".join(map(str, (c.get("sample") or [])[:3])),
        } for c in schema_json])
        edited = st.data_editor(
            table, key="schema_editor", hide_index=True, use_container_width=True,
            disabled=["column", "missing", "examples"],
            column_config={
                "type": st.column_config.SelectboxColumn("type", options=list(ingest.KINDS), required=True),
                "bad cells": st.column_config.SelectboxColumn(
                    "bad cells", options=list(ingest.INVALID_POLICIES), required=True,
                    help="raise: refuse the file on a cell that does not fit the type; missing: leave it empty"),
                "date format": st.column_config.TextColumn(
                    "date format", help="strftime pattern, e.g. %d/%m/%y for day-first dates"),
            },
        )
        missing_words = {}  # column -> tokens the user confirms as "missing" (none, NA, -, ...)
        for col in (c for c in parsed.schema if c.token_counts):
            shown = ", ".join(f"'{t}' ({n:,} cells)" for t, n in col.token_counts.items())
            if st.checkbox(f"In '{col.name}', {shown} means missing", value=bool(col.missing_tokens),
                           key=f"missing_{col.name}"):
                missing_words[col.name] = sorted({t.lower() for t in col.token_counts})
        ambiguous = [c for c in parsed.schema if getattr(c, "ambiguous", False)]
        confirmed = True
        for col in ambiguous:
            st.warning(col.ambiguity or f"Column '{col.name}' could be day-first or month-first.")
        if ambiguous:
            confirmed = st.checkbox("I checked the date formats above", key="confirm_dates")

        name = st.text_input("Dataset name", value=Path(upload.name).stem, key="dataset_name")
        description = st.text_input("Description (optional)", key="dataset_description")
        if st.button("Save dataset", type="primary", key="save_dataset", disabled=not confirmed):
            for spec, row in zip(schema_json, edited.to_dict("records"), strict=True):
                spec["kind"] = row["type"]
                spec["date_format"] = row["date format"] or None
                spec["invalid"] = row["bad cells"]
                spec["missing_tokens"] = missing_words.get(spec["name"], [])
            result = ui.attempt(datasets.save_upload, p, name, upload.name, data, schema=schema_json,
                                description=description)
            if result is not None:
                v = result.version
                if result.duplicate:
                    st.info(f"This exact file is already saved as **{v.dataset_name}** version {v.version} "
                            f"({v.row_count:,} rows); nothing new was stored.")
                else:
                    st.success(f"Saved **{v.dataset_name}** version {v.version}: {v.row_count:,} rows.")
                st.cache_data.clear()

st.subheader("Datasets")
records = ui.attempt(datasets.list_datasets, p) or []
if not records:
    st.info("No datasets yet.")
else:
    st.dataframe(pd.DataFrame([{
        "name": r.name, "versions": r.versions, "latest version": r.latest_version, "rows": r.row_count,
        "created": r.created_at, "description": r.description,
    } for r in records]), hide_index=True, use_container_width=True)
    chosen = st.selectbox("Inspect", [r.name for r in records], key="inspect_dataset")
    rec = next(r for r in records if r.name == chosen)
    versions = ui.attempt(datasets.list_versions, p, rec.id) or []
    st.dataframe(pd.DataFrame([{
        "version": v.version, "file": v.filename, "rows": v.row_count, "sha256": v.sha256[:12],
        "saved": v.created_at, "by": v.created_by,
    } for v in versions]), hide_index=True, use_container_width=True)
    if versions:
        frame = ui.attempt(datasets.load_frame, p, versions[0].id)
        if frame is not None:
            st.caption(f"First rows of version {versions[0].version}")
            st.dataframe(frame.head(50), hide_index=True, use_container_width=True)

_sources_ui.sources_panel(p)
