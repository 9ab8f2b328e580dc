"""Monitor configuration and severity mapping: validation names the field at fault."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from aihub.anomaly import DetectorParams, MonitorConfig, SeverityThresholds, severity_of
from aihub.errors import ValidationError

EXAMPLE = {
    "detection_name": "revenue_monitoring",
    "anomaly_type": "revenue_anomaly",
    "algorithm": "auto",
    "detection_config": {"contamination": 0.01},
    "threshold_config": {"severity_thresholds": {"low": 0.5, "medium": 0.7, "high": 0.85, "critical": 0.95}},
    "monitored_metrics": ["daily_revenue", "transaction_count", "average_order_value"],
    "detection_frequency": "daily",
    "timestamp_column": "Order Date",
    "timestamp_format": "%d/%m/%y",
    "dimensions": ["Region"],
    "metrics": [
        {"name": "daily_revenue", "agg": "sum", "column": "Sales", "unit_value": 1.0},
        {"name": "transaction_count", "agg": "nunique", "column": "Order ID"},
        {"name": "average_order_value", "agg": "ratio", "numerator": "daily_revenue", "denominator": "transaction_count"},
    ],
}


def _with(path: str, value):
    cfg = copy.deepcopy(EXAMPLE)
    node = cfg
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return cfg


_DELETE = object()


def test_example_config_parses_and_round_trips():
    cfg = MonitorConfig.from_dict(EXAMPLE)
    assert cfg.anomaly_type == "revenue_anomaly"
    assert cfg.detector.algorithm == "auto" and cfg.detector.contamination == 0.01
    assert cfg.thresholds.high == 0.85
    assert cfg.metric("average_order_value").numerator == "daily_revenue"
    again = MonitorConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_short_anomaly_type_names_are_normalised():
    for short, canonical in [("revenue", "revenue_anomaly"), ("customer_behaviour", "customer_behavior_anomaly"),
                             ("quality", "quality_anomaly"), ("inventory", "inventory_anomaly"),
                             ("transaction", "transaction_anomaly"), ("operational", "operational_anomaly")]:
        assert MonitorConfig.from_dict(_with("anomaly_type", short)).anomaly_type == canonical


@pytest.mark.parametrize(
    "path, value, field, text",
    [
        ("anomaly_type", "weather_anomaly", "anomaly_type", "revenue_anomaly"),
        ("algorithm", "prophet", "algorithm", "isolation_forest"),
        ("detection_name", "  ", "detection_name", "detection_name"),
        ("detection_frequency", "fortnightly", "detection_frequency", "daily"),
        ("detection_config", {"contamination": 0.7}, "detection_config.contamination", "0.7"),
        ("detection_config", {"contamination": 0.01, "windw": 3}, "detection_config.windw", "level_window"),
        ("detection_config", {"cooldown": "soon"}, "detection_config.cooldown", "soon"),
        ("threshold_config.severity_thresholds.high", 0.6, "threshold_config.severity_thresholds.high", "medium"),
        ("threshold_config.severity_thresholds.critical", 1.0, "threshold_config.severity_thresholds.critical", "(0, 1)"),
        ("threshold_config.severity_thresholds.low", "high", "threshold_config.severity_thresholds.low", "'high'"),
        ("monitored_metrics", ["daily_revenue", "profit"], "monitored_metrics[1]", "profit"),
        ("monitored_metrics", [], "monitored_metrics", "at least one"),
        ("metrics.1.agg", "mode", "metrics[1].agg", "nunique"),
        ("metrics.0.column", _DELETE, "metrics[0].column", "daily_revenue"),
        ("metrics.2.numerator", "revenue", "metrics[2].numerator", "revenue"),
        ("metrics.0.unit_value", "ten", "metrics[0].unit_value", "ten"),
        ("metrics.0.name", "daily revenue", "metrics[0].name", "daily revenue"),
        ("dimensions", ["Region", "Region"], "dimensions", "duplicates"),
    ],
)
def test_invalid_fields_are_named(path, value, field, text):
    with pytest.raises(ValidationError) as err:
        MonitorConfig.from_dict(_with(path, value))
    assert err.value.field == field
    assert text in str(err.value)


def test_unknown_top_level_key_lists_allowed_keys():
    bad = dict(EXAMPLE, monitored_metric=["daily_revenue"])
    with pytest.raises(ValidationError) as err:
        MonitorConfig.from_dict(bad)
    assert err.value.field == "monitored_metric" and "monitored_metrics" in str(err.value)


def test_check_columns_names_the_config_key():
    cfg = MonitorConfig.from_dict(EXAMPLE)
    cols = ["Order Date", "Region", "Sales"]  # no Order ID
    with pytest.raises(ValidationError) as err:
        cfg.check_columns(cols)
    assert err.value.field == "metrics[1].column" and "Order ID" in str(err.value)
    with pytest.raises(ValidationError) as err:
        cfg.check_columns(["Order ID", "Region", "Sales"])
    assert err.value.field == "timestamp_column"


def test_detector_params_validation_messages_show_value_and_allowed():
    with pytest.raises(ValidationError) as err:
        DetectorParams(level_window=0)
    assert err.value.field == "detection_config.level_window" and ">= 1" in str(err.value)
    with pytest.raises(ValidationError) as err:
        DetectorParams(seasonal_periods=("one day",))
    assert err.value.field == "detection_config.seasonal_periods"
    with pytest.raises(ValidationError) as err:
        DetectorParams(min_periods=500, scale_window=100)
    assert err.value.field == "detection_config.min_periods"


def test_thresholds_must_increase_in_open_unit_interval():
    with pytest.raises(ValidationError) as err:
        SeverityThresholds(low=0.5, medium=0.5, high=0.8, critical=0.9)
    assert err.value.field.endswith(".medium")
    with pytest.raises(ValidationError) as err:
        SeverityThresholds(low=0.0)
    assert err.value.field.endswith(".low")
    with pytest.raises(ValidationError):
        SeverityThresholds.from_dict({"severe": 0.9})


def test_severity_mapping_is_inclusive_and_ordered():
    scores = [0.0, 0.49, 0.5, 0.69, 0.7, 0.85, 0.949, 0.95, 1.0, np.nan]
    got = list(severity_of(scores))
    assert got == ["none", "none", "low", "low", "medium", "high", "high", "critical", "critical", "none"]
    custom = SeverityThresholds(low=0.3, medium=0.4, high=0.6, critical=0.9)
    assert list(severity_of([0.35, 0.45, 0.65, 0.95], custom)) == ["low", "medium", "high", "critical"]
