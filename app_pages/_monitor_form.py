"""The new-monitor form of the Monitors screen: guided (any numeric column, aggregation, unit value, top-N split)
or JSON; switching between them keeps every field (the JSON is built from the form by the service layer)."""

from __future__ import annotations

import json

import streamlit as st

from aihub import anomaly
from aihub.anomaly.config import MAX_SPLIT_VALUES
from aihub.anomaly.severity import SEVERITIES, SeverityThresholds
from aihub.errors import AihubError, ValidationError
from aihub.services import datasets, monitor_config
from aihub.services import monitors as monitor_svc
from app_pages import _common as ui

FIELD_LABELS = {"detection_name": "Monitor name", "timestamp_column": "Date column", "anomaly_type": "Anomaly type",
                "dimensions[0]": "Split by", "detection_frequency": "Frequency", "algorithm": "Algorithm",
                "monitored_metrics": "Metrics", "dataset_id": "Dataset", "config": "JSON", "split_top_n": "Top N"}
METRIC_ROWS = 3
NUMERIC = ("number", "integer")


def announce_run(run) -> None:
    """Flash a run's outcome in words."""
    if run is None:
        return
    if run.status == "failed":
        ui.flash("error", f"The run failed: {run.error}")
    elif not run.points_scored:
        ui.flash("success", "No new periods since the last run: upload a newer version of the dataset to score more.")
    else:
        text = (f"Run finished in {run.seconds or 0:.1f} s: scored {run.points_scored:,} new points, "
                f"found {run.anomalies_found} new anomal{'y' if run.anomalies_found == 1 else 'ies'}")
        ui.flash("success", text + (f", feedback rules suppressed {run.suppressed}." if run.suppressed else "."))


def _values() -> dict:
    ss = st.session_state
    split = ss.get("nm_split")
    return {"name": ss.get("nm_name") or "", "anomaly_type": ss.get("nm_type"), "date_column": ss.get("nm_date"),
            "frequency": ss.get("nm_freq", "daily"), "algorithm": ss.get("nm_algo", "auto"),
            "currency": ss.get("nm_currency") or "USD",
            "metrics": [{"column": None if ss.get(f"nm_col_{i}") in (None, "(none)") else ss.get(f"nm_col_{i}"),
                         "agg": ss.get(f"nm_agg_{i}", "sum"), "unit_value": ss.get(f"nm_unit_{i}") or None}
                        for i in range(METRIC_ROWS)],
            "split": None if split in (None, "(no split)") else split, "split_top_n": ss.get("nm_top_n"),
            "split_other": ss.get("nm_other", True),
            "thresholds": {k: float(ss.get(f"nm_{k}", d)) for k, d in SeverityThresholds().to_dict().items()}}


def _create(raw: dict, dataset_id: int, run_now: bool) -> None:
    try:
        mon = monitor_svc.create_monitor(ui.principal(), raw, dataset_id=dataset_id)
    except ValidationError as exc:
        label = FIELD_LABELS.get(exc.field or "", exc.field or "")
        ui.flash("error", f"**{label}** — {exc}" if label else str(exc))
        return
    except AihubError as exc:
        ui.flash("error", str(exc))
        return
    ui.flash("success", f"Created monitor **{mon.name}**.")
    st.session_state["mon_pick"] = mon.id
    if run_now:
        announce_run(ui.call(monitor_svc.run_monitor, ui.principal(), mon.id))


def on_create_form(dataset_id: int) -> None:
    raw = ui.call(monitor_config.form_config, _values())
    if raw is not None:
        _create(raw, dataset_id, bool(st.session_state.get("nm_run_now")))


def on_create_json(dataset_id: int) -> None:
    raw = ui.call(monitor_svc.parse_config_json, st.session_state.get("nm_json") or "")
    if raw is not None:
        _create(raw, dataset_id, bool(st.session_state.get("nm_run_now_json")))


def on_mode() -> None:
    """Switching to JSON shows the form's configuration; the form's own fields stay as they were."""
    if st.session_state.get("nm_mode") == "JSON":
        raw = ui.call(monitor_config.form_config, _values())
        if raw is not None:
            st.session_state["nm_json"] = json.dumps(raw, indent=2)


def _keep_form_state() -> None:
    """Keep the guided form's fields while the JSON view is shown (Streamlit drops state of unrendered widgets)."""
    buttons = ("nm_create", "nm_create_json")
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("nm_") and k not in buttons]:
        st.session_state[key] = st.session_state[key]


def _defaults(columns: dict) -> None:
    """Start values of the fields (set once, so widgets take their value from the session only)."""
    ss = st.session_state
    numbers = [c for c, k in columns.items() if k in NUMERIC]
    first = ("Sales" if "Sales" in numbers else numbers[0]) if numbers else "(none)"
    options = ["(none)", *columns]
    for i in range(METRIC_ROWS):
        if ss.get(f"nm_col_{i}") not in options:  # a new dataset: its own columns
            ss[f"nm_col_{i}"] = first if i == 0 else "(none)"
            ss[f"nm_unit_{i}"] = "1" if (i == 0 and first == "Sales") else ""
    for key, value in {"nm_top_n": 50, "nm_other": True, "nm_currency": "USD", "nm_run_now": True,
                       "nm_run_now_json": True, **{f"nm_{k}": v for k, v in SeverityThresholds().to_dict().items()}
                       }.items():
        ss.setdefault(key, value)


def _metric_rows(columns: dict) -> None:
    st.markdown("**Metrics** (any numeric column; leave *money per unit* empty when the metric is not money)")
    numbers = [c for c, k in columns.items() if k in NUMERIC]
    others = [c for c, k in columns.items() if k not in NUMERIC and k != "date"]
    for i in range(METRIC_ROWS):
        c1, c2, c3 = st.columns([3, 2, 2])
        c1.selectbox(f"Column {i + 1}", ["(none)", *numbers, *others], key=f"nm_col_{i}")
        c2.selectbox("Aggregation", list(monitor_config.FORM_AGGREGATIONS), key=f"nm_agg_{i}",
                     format_func=monitor_config.FORM_AGGREGATIONS.get)
        c3.text_input("Money per unit", key=f"nm_unit_{i}", help="e.g. 1 for revenue in your currency; empty: no "
                                                                   "money impact")


def _guided(rec, columns: dict) -> None:
    dates = [c for c, k in columns.items() if k == "date"]
    splits = ["(no split)", *[c for c, k in columns.items() if k in ("category", "boolean")]]
    st.text_input("Monitor name", key="nm_name", placeholder="e.g. Weekly volume by region")
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Anomaly type", anomaly.ANOMALY_TYPES, key="nm_type",
                 format_func=lambda t: t.replace("_anomaly", "").replace("_", " "))
    c2.selectbox("Date column", dates, key="nm_date")
    c3.selectbox("Frequency", ["daily", "weekly", "monthly", "hourly"], key="nm_freq")
    _metric_rows(columns)
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Split by", splits, key="nm_split",
                 help="One series per value (e.g. per Region) besides the total; root causes name the values.")
    c2.number_input("Watch the largest N values", 1, MAX_SPLIT_VALUES, key="nm_top_n",
                    help=f"Values ranked by volume; at most {MAX_SPLIT_VALUES}.")
    c3.checkbox("The rest together as Other", key="nm_other")
    c1, c2 = st.columns(2)
    c1.selectbox("Algorithm", anomaly.ALGORITHMS, key="nm_algo",
                 help="auto combines the robust seasonal and forecast-band detectors (chosen on NAB).")
    c2.text_input("Currency", key="nm_currency")
    with st.expander("Severity thresholds (anomaly score 0–1)"):
        for col, k in zip(st.columns(len(SEVERITIES)), SEVERITIES):
            col.number_input(k, 0.01, 0.99, step=0.01, key=f"nm_{k}")
    st.checkbox("Run it now", key="nm_run_now")
    st.button("Create monitor", type="primary", key="nm_create", on_click=on_create_form, args=(rec.id,))


def new_monitor_form(p) -> None:
    """The whole form: dataset, Guided/JSON switch, fields, create."""
    if not p.can("create"):
        st.caption("Your role can view monitors but not create them.")
        return
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    _keep_form_state()
    names = {r.name: r for r in records}
    rec = names[st.selectbox("Dataset", list(names), key="nm_dataset")]
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    columns = {c["name"]: c["kind"] for c in version.column_schema} if version else {}
    _defaults(columns)
    mode = st.radio("How", ["Guided form", "JSON"], horizontal=True, key="nm_mode", on_change=on_mode)
    if mode == "Guided form":
        _guided(rec, columns)
        return
    st.session_state.setdefault("nm_json", json.dumps(monitor_config.form_config(_values()), indent=2))
    st.text_area("Monitor JSON", height=320, key="nm_json",
                 help="Metrics named daily_revenue, transaction_count or average_order_value are defined from the "
                      "dataset's columns; others need a 'metrics' entry.")
    st.checkbox("Run it now", key="nm_run_now_json")
    st.button("Create from JSON", type="primary", key="nm_create_json", on_click=on_create_json, args=(rec.id,))
