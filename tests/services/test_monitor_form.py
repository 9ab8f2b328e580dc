"""The guided monitor form's builders (service layer, pure): form values <-> monitor JSON, checked against a dataset."""

from __future__ import annotations

import pytest

from aihub.errors import ValidationError
from aihub.services.monitor_config import complete_config, form_config, form_values

COLUMNS = {"Date": "date", "region": "category", "type": "category", "Total Volume": "number",
           "AveragePrice": "number", "order": "id"}


def _values(**kw):
    base = {"name": "Volume by region", "anomaly_type": "operational", "date_column": "Date", "frequency": "weekly",
            "metrics": [{"column": "Total Volume", "agg": "sum", "unit_value": ""},
                        {"column": "AveragePrice", "agg": "median", "unit_value": None},
                        {"column": None, "agg": "sum", "unit_value": None}],
            "split": "region", "split_top_n": 60, "split_other": True,
            "thresholds": {"low": 0.5, "medium": 0.7, "high": 0.85, "critical": 0.95}}
    return {**base, **kw}


def test_any_numeric_column_with_no_money_and_a_top_n_split():
    raw = form_config(_values())
    cfg = complete_config(raw, COLUMNS)
    # named after the column, not "revenue"; no unit value means no money impact, even for a summed volume
    assert [m.name for m in cfg.metrics] == ["total_volume", "median_averageprice"]
    assert all(m.unit_value is None for m in cfg.metrics)
    assert cfg.split_top_n == 60 and cfg.split_other and cfg.dimensions == ("region",)
    assert cfg.detection_frequency == "weekly"


def test_a_unit_value_prices_the_metric_and_bad_ones_name_the_row():
    cfg = complete_config(form_config(_values(metrics=[{"column": "Total Volume", "agg": "sum",
                                                        "unit_value": "1.25"}])), COLUMNS)
    assert cfg.metrics[0].unit_value == 1.25
    with pytest.raises(ValidationError) as err:
        form_config(_values(metrics=[{"column": "Total Volume", "agg": "sum", "unit_value": "a lot"}]))
    assert err.value.field == "metrics[0].unit_value"


def test_count_of_rows_needs_no_column_and_no_split_drops_the_top_n():
    raw = form_config(_values(metrics=[{"column": None, "agg": "count", "unit_value": None}], split=None))
    assert "split_top_n" not in raw and raw["dimensions"] == []
    assert [m.name for m in complete_config(raw, COLUMNS).metrics] == ["row_count"]


def test_form_values_round_trip_so_switching_guided_and_json_keeps_every_field():
    values = _values()
    back = form_values(form_config(values))
    assert back["metrics"] == [{"column": "Total Volume", "agg": "sum", "unit_value": None},
                               {"column": "AveragePrice", "agg": "median", "unit_value": None}]
    for key in ("name", "anomaly_type", "date_column", "frequency", "split", "split_top_n", "split_other",
                "thresholds"):
        assert back[key] == values[key], key
