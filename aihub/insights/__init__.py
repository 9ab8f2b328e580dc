"""Insight engine: ranked findings in plain language, computed from the tenant's data.

Pure Python (pandas, numpy, scipy); no database, no Streamlit. The caller
loads frames, wraps them in the input contracts and calls
:func:`generate_insights`::

    from aihub.insights import InsightInputs, OrdersInput, generate_insights

    orders = OrdersInput(df, date="Order Date", amount="Sales", customer="Customer ID",
                         dimensions=["Region", "Category"])
    for ins in generate_insights(InsightInputs(orders=orders), limit=5):
        print(ins.priority, ins.title)

Public API
----------
Records
    :class:`Insight`, :func:`fingerprint`, ``INSIGHT_TYPES``, ``CATEGORIES``,
    ``PRIORITIES``, ``STATUSES``, ``EVIDENCE_KINDS``.
Inputs
    :class:`InsightInputs`, :class:`OrdersInput`, :class:`ForecastInput`,
    :class:`PredictionsInput`, :class:`SegmentsInput`,
    :class:`AnomaliesInput`, :func:`top_reasons`; any table:
    :class:`TableInput` with :class:`TableRoles` proposed by :func:`infer_roles`.
Generation
    :func:`generate_insights`, :class:`InsightParams`,
    :class:`NarrativeProvider`, :func:`is_stale` (live types, ``LIVE_TYPES``).
Ranking
    :func:`priority_score`, :func:`feedback_factor`, :func:`priority_of`.
Statistics
    :func:`mann_kendall`, :func:`seasonal_mann_kendall`, :func:`sens_slope`,
    :func:`robust_z`, :func:`concentration`.
Formatting
    :func:`format_money`, :func:`format_percent`, :func:`render`,
    :func:`untraced_numbers`; charts: :func:`chart_spec` (drawn by :func:`aihub.charts.insights.chart_figure`).
"""

from aihub.insights.charts import chart_spec
from aihub.insights.detector_registry import DETECTORS
from aihub.insights.engine import NarrativeProvider, generate_insights, is_stale
from aihub.insights.formatting import format_count, format_money, format_p, format_percent, render, untraced_numbers
from aihub.insights.inputs import (
    AnomaliesInput,
    ForecastInput,
    InsightInputs,
    OrdersInput,
    PredictionsInput,
    SegmentsInput,
    top_reasons,
)
from aihub.insights.model import (
    CATEGORIES,
    DIRECTIONS,
    EVIDENCE_KINDS,
    INSIGHT_TYPES,
    LIVE_TYPES,
    PRIORITIES,
    PRIORITY_THRESHOLDS,
    STATUSES,
    Insight,
    fingerprint,
)
from aihub.insights.params import DEFAULT_TYPE_WEIGHTS, DEFAULT_VALIDITY_DAYS, InsightParams
from aihub.insights.ranking import feedback_factor, priority_of, priority_score
from aihub.insights.roles import TableRoles, infer_roles
from aihub.insights.stats import concentration, mann_kendall, robust_z, seasonal_mann_kendall, sens_slope
from aihub.insights.tables import TableInput

__all__ = [
    "CATEGORIES",
    "DEFAULT_TYPE_WEIGHTS",
    "DEFAULT_VALIDITY_DAYS",
    "DETECTORS",
    "DIRECTIONS",
    "EVIDENCE_KINDS",
    "INSIGHT_TYPES",
    "LIVE_TYPES",
    "PRIORITIES",
    "PRIORITY_THRESHOLDS",
    "STATUSES",
    "AnomaliesInput",
    "ForecastInput",
    "Insight",
    "InsightInputs",
    "InsightParams",
    "NarrativeProvider",
    "OrdersInput",
    "PredictionsInput",
    "SegmentsInput",
    "TableInput",
    "TableRoles",
    "chart_spec",
    "concentration",
    "feedback_factor",
    "fingerprint",
    "format_count",
    "format_money",
    "format_p",
    "format_percent",
    "generate_insights",
    "infer_roles",
    "is_stale",
    "mann_kendall",
    "priority_of",
    "priority_score",
    "render",
    "robust_z",
    "seasonal_mann_kendall",
    "sens_slope",
    "top_reasons",
    "untraced_numbers",
]
