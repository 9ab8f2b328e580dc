"""Data sources: upload a file, check and correct its schema, save it as a dataset version."""

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from aihub import ingest
from aihub.errors import IngestError
from aihub.services import datasets
from app_pages import _common as ui
from app_pages import _schema_ui, _sources_ui

p = ui.principal()
st.title("Data sources")


def _save_types(version_id: int, schema: list[dict]) -> None:
    """Store a saved version's bytes again with the column types chosen, as the dataset's next version."""
    result = ui.attempt(datasets.edit_schema, p, version_id, schema)
    if result is None:
        return
    v = result.version
    if result.duplicate:
        st.info(f"Version {v.version} of **{v.dataset_name}** already has these column types; nothing changed.")
    else:
        st.success(f"Saved **{v.dataset_name}** version {v.version} with the new column types: {v.row_count:,} rows.")
    st.cache_data.clear()


def _preview(name: str, data: bytes, sha: str) -> ingest.ParsedUpload | None:
    """Read the upload; a JSON document with several lists of records asks which one is the table."""
    key = f"records_path_{sha}"
    chosen = st.session_state.get(key)
    try:
        parsed, candidates = datasets.preview_upload(p, name, data, records_path=chosen), []
    except IngestError as exc:
        if exc.field != "records_path" or not (exc.details or {}).get("allowed"):
            st.error(str(exc))
            return None
        parsed, candidates = None, list(exc.details["allowed"])
    if parsed is not None and len(parsed.records_paths) > 1:
        candidates = parsed.records_paths
    if candidates:
        st.selectbox("This JSON file holds several lists of records. Which one is your table?", candidates,
                     index=candidates.index(parsed.records_path) if parsed and parsed.records_path in candidates
                     else None, key=key, placeholder="Choose a list of records")
        if parsed is None:
            st.info(f"Lists of records in {name}: {', '.join(candidates)}. Choose one to see it.")
    return parsed


st.subheader("Upload a file")
upload = st.file_uploader("CSV, Excel or JSON", type=["csv", "txt", "tsv", "xlsx", "json", "jsonl"],
                          key="upload_file", disabled=not p.can("create"))
if not p.can("create"):
    st.caption("Your role can view datasets but not upload them.")

if upload is not None:
    data = upload.getvalue()
    parsed = _preview(upload.name, data, hashlib.sha256(data).hexdigest()[:16])
    if parsed is not None:
        how = parsed.encoding or (f"sheet {parsed.sheet}" if parsed.sheet else parsed.format)
        st.success(f"Read **{upload.name}**: {parsed.row_count:,} rows, {len(parsed.schema)} columns ({how}).")
        for warning in parsed.warnings:
            st.warning(warning)
        st.dataframe(parsed.frame.head(20), use_container_width=True, hide_index=True)

        st.markdown("**Schema**: correct a column's type if it was inferred wrongly (you can also do it later).")
        path_tag = hashlib.sha256((parsed.records_path or "").encode()).hexdigest()[:8]
        file_key = f"upload_{parsed.sha256[:16]}_{path_tag}"  # one file read at another path is another table
        schema_json = _schema_ui.schema_editor(ingest.schema_to_json(parsed.schema)["columns"], file_key)
        confirmed = _schema_ui.date_check(schema_json, file_key)
        if st.session_state.get("_upload_sha") != parsed.sha256:  # a new file: its own name, not the last one's
            st.session_state["_upload_sha"] = parsed.sha256
            st.session_state["dataset_name"] = Path(upload.name).stem
        name = st.text_input("Dataset name", key="dataset_name")
        description = st.text_input("Description (optional)", key="dataset_description")
        if st.button("Save dataset", type="primary", key="save_dataset", disabled=not confirmed):
            result = ui.attempt(datasets.save_upload, p, name, upload.name, data, schema=schema_json,
                                description=description, records_path=parsed.records_path or None)
            if result is not None:
                v = result.version
                if result.duplicate and result.types_differ:
                    st.session_state["_retype"] = (parsed.sha256, v.id, schema_json)
                elif result.duplicate:
                    st.info(f"This exact file is already saved as **{v.dataset_name}** version {v.version} "
                            f"({v.row_count:,} rows) with these column types; nothing new was stored.")
                else:
                    st.success(f"Saved **{v.dataset_name}** version {v.version}: {v.row_count:,} rows.")
                st.cache_data.clear()
        retype = st.session_state.get("_retype")
        if retype and retype[0] == parsed.sha256:
            st.info("This exact file is already saved, with other column types. Save your types as its next "
                    "version (the file is kept as it is)?")
            if st.button("Save the new column types", key="retype_upload"):
                _save_types(*retype[1:])
                st.session_state.pop("_retype", None)

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
        if p.can("create") and st.toggle(f"Fix column types of version {versions[0].version}",
                                         key=f"retype_open_{versions[0].id}"):
            with st.container(border=True):
                st.caption("Saves the same file again as the next version, read with the types you choose; "
                           "earlier versions stay as they are.")
                key = f"retype_{versions[0].id}"
                edited = _schema_ui.schema_editor(versions[0].column_schema, key)
                ok = _schema_ui.date_check(edited, key)
                if st.button("Save as a new version", key=f"{key}_save", type="primary", disabled=not ok):
                    _save_types(versions[0].id, edited)

_sources_ui.sources_panel(p)
