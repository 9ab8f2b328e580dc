"""The "New forecast" form of the Forecasts screen: every field validated with a message next to it.

Streamlit glue only; frequencies, horizons and holidays come from :mod:`aihub.forecasting`, the rules of a
forecast's configuration from :class:`aihub.services.forecasts.ForecastSpec`.
"""

from __future__ import annotations

import streamlit as st

from aihub import forecasting
from aihub.auth import Principal
from aihub.services import datasets
from aihub.services import forecasts as training
from app_pages import _common as ui

NO_FILTER = "(no filter)"
NO_HOLIDAYS = "(no holidays)"
FREQ_HELP = ("The period each value is summed or averaged over. Seasons follow it: a day and a week for hourly "
             "data, a week and a year for daily data, a year for weekly and monthly data.")
SPLIT_HELP = ("One forecast per value of these columns, e.g. per product, or per category and region. Each "
              "series gets its own backtest and method.")


def _field_error(key: str) -> None:
    errs = st.session_state.get("form_errors", {})
    if key in errs:
        st.error(errs[key])


def _filter(p: Principal, version_id: int, cats: list[str], n: int) -> dict[str, list[str]]:
    """Filter number ``n``: a column and the values to keep."""
    c1, c2 = st.columns(2)
    col = c1.selectbox(f"Filter {n} (optional)", [NO_FILTER, *cats], key=f"fc_filter_col{n}")
    if col == NO_FILTER:
        return {}
    values = ui.attempt(datasets.column_values, p, version_id, col) or []
    chosen = c2.multiselect(f"Keep {col}", values, key=f"fc_filter_values{n}")
    return {col: chosen} if chosen else {}


def _frequency() -> tuple[str, int, str | None]:
    """Frequency, horizon (defaulting to the frequency's) and holiday country."""
    table = forecasting.FREQUENCY_TABLE
    c1, c2, c3 = st.columns(3)
    freq = c1.selectbox("Frequency", list(table), index=list(table).index("M"), key="fc_freq",
                        format_func=lambda k: table[k].label.capitalize(), help=FREQ_HELP)
    _field_error("freq")
    f = table[freq]
    if st.session_state.get("fc_horizon_for") != freq:  # a new frequency starts from its own default
        st.session_state["fc_horizon"] = f.default_horizon
        st.session_state["fc_horizon_for"] = freq
    with c2:
        horizon = st.number_input(f"Horizon ({f.period}s)", min_value=0, max_value=10_000, step=1, key="fc_horizon",
                                  help=f"How far ahead: 1 to {f.max_horizon} {f.period}s.")
        _field_error("horizon")
    holidays = None
    with c3:
        if freq in forecasting.HOLIDAY_FREQUENCIES:
            countries = forecasting.holiday_countries()
            pick = st.selectbox("Public holidays of", [NO_HOLIDAYS, *countries], key="fc_holidays",
                                format_func=lambda c: countries.get(c, c),
                                help="Holidays as calendar effects (Prophet's country holidays); the backtest "
                                     "decides whether they help.")
            holidays = None if pick == NO_HOLIDAYS else pick
        else:
            st.caption("Holidays can be modelled on daily and faster data.")
        _field_error("holidays")
    return freq, int(horizon), holidays


def _split(cats: list[str]) -> tuple[list[str], int | None]:
    c1, c2 = st.columns(2)
    split = c1.multiselect("One forecast per value of (optional)", cats, key="fc_split",
                           max_selections=forecasting.MAX_SPLIT_COLUMNS, help=SPLIT_HELP)
    _field_error("split_by")
    top = c2.number_input("Largest series only (0 = all)", min_value=0, max_value=forecasting.MAX_SERIES, value=0,
                          step=10, key="fc_top_n", disabled=not split,
                          help="Keep the N series of largest total value, e.g. the top 50 products.")
    _field_error("top_n")
    return split, (int(top) or None) if split else None


def guided_form(p: Principal) -> None:
    """The new-forecast form; a valid one creates the model and queues its training."""
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    by_name = {r.name: r for r in records}
    ds_name = st.selectbox("Dataset", list(by_name), key="fc_dataset")
    _field_error("dataset_id")
    rec = by_name[ds_name]
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    if version is None:
        return
    columns = training.dataset_columns(version)
    dates = [c for c, k in columns.items() if k == "date"]
    numbers = [c for c, k in columns.items() if k in ("number", "integer")]
    cats = [c for c, k in columns.items() if k in ("category", "boolean", "text", "id")]

    c1, c2, c3 = st.columns(3)
    with c1:
        date_col = st.selectbox("Date column", dates, key="fc_date", placeholder="no date column")
        _field_error("date_column")
    with c2:
        value_col = st.selectbox("Value to forecast", numbers, key="fc_value",
                                 index=numbers.index("Sales") if "Sales" in numbers else 0)
        _field_error("value_column")
    with c3:
        agg = st.radio("Combine by", training.AGGS, key="fc_agg", horizontal=True,
                       help="sum: totals per period (sales); mean: averages per period (prices, temperatures).")
        _field_error("agg")
    filters = {**_filter(p, version.id, cats, 1), **_filter(p, version.id, cats, 2)}
    _field_error("filters")
    freq, horizon, holidays = _frequency()
    split, top_n = _split(cats)
    algorithm = st.selectbox("Algorithm", forecasting.ALGORITHMS, key="fc_algorithm",
                             help="auto backtests the candidates on the series' own history and keeps the one "
                                  "with the lowest error (MASE).")
    _field_error("algorithm")
    label = forecasting.FREQUENCY_TABLE[freq].label
    per = f" per {' × '.join(split)}" if split else ""
    default = f"{value_col} {label} forecast{per}" if value_col else ""
    if st.session_state.get("fc_name") in (None, st.session_state.get("fc_name_default")):
        st.session_state["fc_name"] = default  # follows the choices until the user types a name
    st.session_state["fc_name_default"] = default
    name = st.text_input("Model name", key="fc_name")
    _field_error("model_name")

    if st.button("Train forecast", type="primary", key="fc_train", disabled=not p.can("create")):
        raw = {"model_name": name, "dataset_id": rec.id, "date_column": date_col, "value_column": value_col,
               "freq": freq, "agg": agg, "horizon": horizon, "algorithm": algorithm, "filters": filters,
               "holidays": holidays, "split_by": split, "top_n": top_n}
        errors = training.ForecastSpec.check(raw, columns)
        st.session_state["form_errors"] = errors
        if errors:
            st.rerun()
        out = ui.attempt(training.create_forecast_model, p, raw)
        if out is not None:
            model, job = out
            st.session_state["watch_job"] = job.id
            st.session_state["selected_forecast"] = model.id
            st.session_state["_show_forecasts_tab"] = True
            st.rerun()
