"""The "Connected sources" part of the Data sources page: connect, test, sync and watch systems.

Streamlit glue only; configuration rules live in :mod:`aihub.connectors`, work in :mod:`aihub.services.sources`.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from aihub import connectors
from aihub.auth import Principal
from aihub.services import sources
from app_pages import _common as ui

EXAMPLE = {
    "source_name": "Shop orders API", "source_type": "rest_api", "description": "Orders from the shop's API",
    "connection_config": {"base_url": "http://127.0.0.1:8599", "endpoints": ["orders"], "records_path": "data",
                          "pagination": {"type": "page"}},
    "authentication_config": {"type": "bearer", "token": "..."},
    "data_schema": {"fields": []}, "field_mapping": {}, "sync_frequency": "hourly",
}


def _guided() -> dict | None:
    """A form per source type; returns the JSON-shaped configuration."""
    kind = st.selectbox("Type", [t for t in connectors.SOURCE_TYPES if t != "file_upload"], key="src_type",
                        format_func={"database": "Database (SQL)", "rest_api": "REST API",
                                     "object_storage": "Cloud or object storage"}.get)
    name = st.text_input("Name", key="src_name")
    description = st.text_input("Description", key="src_description")
    frequency = st.selectbox("Sync", connectors.SYNC_FREQUENCIES, index=2, key="src_frequency")
    auth: dict = {"type": "none"}
    if kind == "database":
        url = st.text_input("SQLAlchemy URL (no password in it)", key="src_db_url",
                            placeholder="postgresql+psycopg://reader@db.example.com:5432/shop")
        query = st.text_area("Query (one SELECT) — or leave empty and give a table", key="src_db_query")
        table = st.text_input("Table", key="src_db_table")
        password = st.text_input("Password", type="password", key="src_db_password")
        conn = {"url": url, **({"query": query} if query.strip() else {"table": table})}
        if password:
            auth = {"type": "password", "password": password}
    elif kind == "rest_api":
        base = st.text_input("Base URL", key="src_rest_base", placeholder="https://api.example.com")
        endpoints = st.text_input("Endpoints (comma-separated paths)", key="src_rest_endpoints", value="orders")
        records = st.text_input("JSON path to the records (dotted)", key="src_rest_records", value="data")
        paging = st.selectbox("Pagination", connectors.PAGINATION_TYPES, key="src_rest_paging")
        token = st.text_input("Bearer token (optional)", type="password", key="src_rest_token")
        conn = {"base_url": base, "endpoints": [e.strip() for e in endpoints.split(",") if e.strip()],
                "records_path": records, "pagination": {"type": paging}}
        if token:
            auth = {"type": "bearer", "token": token}
    else:
        url = st.text_input("URL", key="src_obj_url", placeholder="s3://bucket/orders.csv")
        fmt = st.selectbox("Format", connectors.FILE_FORMATS, key="src_obj_format")
        conn = {"url": url, "format": fmt}
    return {"source_name": name, "source_type": kind, "description": description, "connection_config": conn,
            "authentication_config": auth, "sync_frequency": frequency}


def _report(report: connectors.ConnectionReport) -> None:
    if report.ok:
        st.success(report.message)
        st.dataframe(report.rows_sample, hide_index=True, use_container_width=True)
    else:
        st.error(f"{report.error_kind}: {report.message}")


def connect_panel(p: Principal) -> None:
    """Connect a new source from a guided form or JSON, test it, save it."""
    with st.expander("Connect a source", expanded=False):
        mode = st.radio("Configure with", ["Form", "JSON"], horizontal=True, key="src_mode")
        raw: dict | None
        if mode == "Form":
            raw = _guided()
        else:
            text = st.text_area("Source JSON", value=json.dumps(EXAMPLE, indent=2), height=280, key="src_json")
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                st.error(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
                raw = None
        c1, c2 = st.columns(2)
        if raw is not None and c1.button("Test connection", key="src_test"):
            report = ui.attempt(sources.test_connection, p, raw)
            if report is not None:
                _report(report)
        if raw is not None and c2.button("Save source", type="primary", key="src_save", disabled=not p.can("create")):
            saved = ui.attempt(sources.create_source, p, raw)
            if saved is not None:
                st.success(f"Saved **{saved.name}**; it syncs {saved.sync_frequency} through the worker.")


def sources_panel(p: Principal) -> None:
    """Connected sources with their last sync, and per-source actions and history."""
    st.subheader("Connected sources")
    connect_panel(p)
    records = ui.attempt(sources.list_sources, p) or []
    if not records:
        st.info("No connected sources yet.")
        return
    st.dataframe(pd.DataFrame([{
        "name": r.name, "type": r.source_type, "sync": r.sync_frequency, "enabled": r.enabled,
        "last sync": r.last_sync_at, "status": r.last_status or "never", "next sync": r.next_sync_at,
        "error": r.last_error or "",
    } for r in records]), hide_index=True, use_container_width=True)
    by_name = {r.name: r for r in records}
    chosen = by_name[st.selectbox("Source", list(by_name), key="src_pick")]
    c1, c2, c3 = st.columns(3)
    if c1.button("Sync now", key="src_sync", disabled=not p.can("create")):
        done = ui.attempt(sources.sync, p, chosen.id)
        if done is not None:
            (st.success if done.status != "failed" else st.error)(
                f"Sync {done.status}: read {done.rows_read:,} rows, wrote {done.rows_written:,}"
                + (f" — {done.error}" if done.error else ""))
            st.cache_data.clear()
    if c2.button("Test connection", key="src_test_saved"):
        report = ui.attempt(sources.test_connection, p, chosen.id)
        if report is not None:
            _report(report)
    label = "Pause schedule" if chosen.enabled else "Resume schedule"
    if c3.button(label, key="src_toggle", disabled=not p.can("update")):
        ui.attempt(sources.set_enabled, p, chosen.id, not chosen.enabled)
        st.rerun()
    history = ui.attempt(sources.list_syncs, p, chosen.id) or []
    if history:
        st.caption("Sync history")
        st.dataframe(pd.DataFrame([{
            "started": h.started_at, "trigger": h.trigger, "status": h.status, "rows read": h.rows_read,
            "rows written": h.rows_written, "seconds": round(h.duration_seconds or 0, 2), "error": h.error or "",
        } for h in history]), hide_index=True, use_container_width=True)
    with st.expander("Configuration (credentials are never shown)"):
        st.json(connectors.redact(chosen.config))
