"""Anomaly detection core: pure Python, no database, no Streamlit.

Public API
----------
Configuration
    :class:`MonitorConfig`, :class:`MetricDefinition`,
    :class:`DetectorParams`, :class:`SeverityThresholds`
Metric series
    :func:`build_metric_frame`, :func:`detect_metric_frame`
Detection (one series, causal, streaming)
    :func:`detect`, :func:`init_state`, :func:`update`,
    :func:`detect_multivariate`, :class:`StreamingDetector`
Explanation
    :func:`dimension_breakdown`, :func:`metric_movers`,
    :func:`business_impact`, :func:`impact_for`, :func:`snapshot`
    (drawn by :func:`aihub.charts.anomalies.snapshot_figure`)
Feedback
    :class:`FeedbackEvent`, :class:`FeedbackRule`,
    :func:`learn_from_feedback`, :func:`apply_rules`
Anomaly types and record risk
    :func:`classify_anomaly` (:mod:`aihub.anomaly.types`),
    :class:`RecordScorer` (:mod:`aihub.anomaly.records`)
"""

from aihub.anomaly.config import AGGREGATIONS, ANOMALY_TYPES, FREQUENCIES, MetricDefinition, MonitorConfig
from aihub.anomaly.detectors import (
    ALGORITHMS,
    OUTPUT_COLUMNS,
    DetectorParams,
    StreamingDetector,
    detect,
    detect_multivariate,
    init_state,
    update,
)
from aihub.anomaly.feedback import FeedbackEvent, FeedbackRule, apply_rules, learn_from_feedback
from aihub.anomaly.metrics import SCORED_COLUMNS, TOTAL, build_metric_frame, detect_metric_frame, series_key
from aihub.anomaly.records import RecordScorer
from aihub.anomaly.rootcause import (
    BusinessImpact,
    business_impact,
    dimension_breakdown,
    impact_for,
    metric_movers,
    snapshot,
)
from aihub.anomaly.severity import SEVERITIES, SeverityThresholds, severity_of
from aihub.anomaly.types import ANOMALY_SHAPES, classify_anomaly

__all__ = [
    "AGGREGATIONS",
    "ALGORITHMS",
    "ANOMALY_SHAPES",
    "ANOMALY_TYPES",
    "FREQUENCIES",
    "OUTPUT_COLUMNS",
    "SCORED_COLUMNS",
    "SEVERITIES",
    "TOTAL",
    "BusinessImpact",
    "DetectorParams",
    "FeedbackEvent",
    "FeedbackRule",
    "MetricDefinition",
    "MonitorConfig",
    "RecordScorer",
    "SeverityThresholds",
    "StreamingDetector",
    "apply_rules",
    "build_metric_frame",
    "business_impact",
    "classify_anomaly",
    "detect",
    "detect_metric_frame",
    "detect_multivariate",
    "dimension_breakdown",
    "impact_for",
    "init_state",
    "learn_from_feedback",
    "metric_movers",
    "series_key",
    "severity_of",
    "snapshot",
    "update",
]
