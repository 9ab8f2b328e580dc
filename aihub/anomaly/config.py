"""Monitor configuration: what to aggregate, how to detect, when to alert.

A monitor is configured from a form or from JSON such as::

    {
      "detection_name": "revenue_monitoring",
      "anomaly_type": "revenue_anomaly",
      "algorithm": "auto",
      "detection_config": {"contamination": 0.01},
      "threshold_config": {"severity_thresholds":
          {"low": 0.5, "medium": 0.7, "high": 0.85, "critical": 0.95}},
      "monitored_metrics": ["daily_revenue", "transaction_count", "average_order_value"],
      "detection_frequency": "daily",
      "timestamp_column": "Order Date",
      "timestamp_format": "%d/%m/%y",
      "dimensions": ["Region"],
      "metrics": [
        {"name": "daily_revenue", "agg": "sum", "column": "Sales", "unit_value": 1.0},
        {"name": "transaction_count", "agg": "nunique", "column": "Order ID"},
        {"name": "average_order_value", "agg": "ratio",
         "numerator": "daily_revenue", "denominator": "transaction_count"}
      ],
      "currency": "USD"
    }

:meth:`MonitorConfig.from_dict` validates every field and raises
:class:`aihub.errors.ValidationError` whose ``field`` names the offending key
(``"metrics[2].numerator"``, ``"threshold_config.severity_thresholds.high"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from aihub.errors import ValidationError
from aihub.anomaly.detectors import ALGORITHMS, DetectorParams
from aihub.anomaly.severity import SeverityThresholds

ANOMALY_TYPES: tuple[str, ...] = (
    "revenue_anomaly",
    "inventory_anomaly",
    "transaction_anomaly",
    "customer_behavior_anomaly",
    "operational_anomaly",
    "quality_anomaly",
)
"""Canonical anomaly types."""

_TYPE_ALIASES = {
    "revenue": "revenue_anomaly",
    "inventory": "inventory_anomaly",
    "transaction": "transaction_anomaly",
    "customer_behavior": "customer_behavior_anomaly",
    "customer_behaviour": "customer_behavior_anomaly",
    "customer_behaviour_anomaly": "customer_behavior_anomaly",
    "operational": "operational_anomaly",
    "quality": "quality_anomaly",
}

AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "count", "nunique", "ratio")
"""Metric aggregations: over the rows of a period, or the ratio of two metrics."""

FREQUENCIES: dict[str, str] = {
    "minutely": "min",
    "5min": "5min",
    "15min": "15min",
    "hourly": "h",
    "daily": "D",
    "weekly": "W",
    "monthly": "M",
}
"""Detection frequencies and the period each aggregates to (weeks start on Monday)."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")

_TOP_KEYS = (
    "detection_name",
    "anomaly_type",
    "algorithm",
    "detection_config",
    "threshold_config",
    "monitored_metrics",
    "detection_frequency",
    "timestamp_column",
    "timestamp_format",
    "dayfirst",
    "dimensions",
    "dimension",
    "metrics",
    "unit_values",
    "currency",
)


def _require_str(value: Any, fld: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty text; got {value!r}.", field=fld, details={"value": repr(value)})
    return value.strip()


@dataclass(frozen=True)
class MetricDefinition:
    """How one metric is computed from the rows of each period.

    Parameters
    ----------
    name : str
        Identifier (letters, digits, underscore; starts with a letter or
        underscore; at most 100 characters).
    agg : {"sum", "mean", "count", "nunique", "ratio"}
        ``sum``/``mean`` of a numeric ``column``; ``count`` of rows (or of
        non-empty ``column`` cells); ``nunique`` distinct values of ``column``;
        ``ratio`` = metric ``numerator`` / metric ``denominator`` per period
        (NaN where the denominator is 0).
    column : str, optional
        Source column (required for sum, mean, nunique).
    numerator, denominator : str, optional
        Names of other, non-ratio metrics (ratio only).
    unit_value : float, optional
        Money per unit of the metric, used for business impact (1.0 for a
        revenue metric; the average order value for an order count). None
        means impact is not expressed in money.

    Raises
    ------
    aihub.errors.ValidationError
        ``field`` is ``"metrics.<attribute>"``; :class:`MonitorConfig` rewrites
        it to ``"metrics[i].<attribute>"``.
    """

    name: str
    agg: str
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    unit_value: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValidationError(
                f"Metric name must be an identifier like 'daily_revenue' (letters, digits, _); got {self.name!r}.",
                field="metrics.name",
                details={"value": repr(self.name)},
            )
        if self.agg not in AGGREGATIONS:
            raise ValidationError(
                f"Metric '{self.name}': unknown aggregation {self.agg!r}; allowed: {list(AGGREGATIONS)}.",
                field="metrics.agg",
                details={"value": self.agg, "allowed": list(AGGREGATIONS)},
            )
        if self.agg in ("sum", "mean", "nunique"):
            object.__setattr__(self, "column", _require_str(self.column, "metrics.column", f"Metric '{self.name}' ({self.agg}) column"))
        elif self.agg == "count" and self.column is not None:
            object.__setattr__(self, "column", _require_str(self.column, "metrics.column", f"Metric '{self.name}' column"))
        if self.agg == "ratio":
            for part in ("numerator", "denominator"):
                v = getattr(self, part)
                if not isinstance(v, str) or not v.strip():
                    raise ValidationError(
                        f"Metric '{self.name}' is a ratio and needs '{part}': the name of another metric.",
                        field=f"metrics.{part}",
                    )
            if self.column is not None:
                raise ValidationError(
                    f"Metric '{self.name}' is a ratio of two metrics and takes no 'column'.", field="metrics.column"
                )
        elif self.numerator is not None or self.denominator is not None:
            raise ValidationError(
                f"Metric '{self.name}': 'numerator'/'denominator' apply only to agg 'ratio'.",
                field="metrics.numerator" if self.numerator is not None else "metrics.denominator",
            )
        u = self.unit_value
        if u is not None:
            if isinstance(u, bool) or not isinstance(u, (int, float)) or not math.isfinite(u):
                raise ValidationError(
                    f"Metric '{self.name}': unit_value must be a finite number (money per unit) or empty; got {u!r}.",
                    field="metrics.unit_value",
                    details={"value": repr(u)},
                )
            object.__setattr__(self, "unit_value", float(u))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without empty optional fields."""
        d = {"name": self.name, "agg": self.agg}
        for k in ("column", "numerator", "denominator", "unit_value"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MetricDefinition":
        """Build from ``{"name", "agg", "column"?, "numerator"?, "denominator"?, "unit_value"?}``."""
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"A metric definition must be an object like {{'name': ..., 'agg': 'sum', 'column': ...}}; got {data!r}.",
                field="metrics",
            )
        allowed = ("name", "agg", "column", "numerator", "denominator", "unit_value")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ValidationError(
                f"Unknown metric key(s) {unknown}; allowed: {list(allowed)}.",
                field=f"metrics.{unknown[0]}",
                details={"allowed": list(allowed)},
            )
        if "name" not in data or "agg" not in data:
            missing = "name" if "name" not in data else "agg"
            raise ValidationError(f"Metric definition lacks '{missing}'.", field=f"metrics.{missing}")
        return cls(**dict(data))


@dataclass(frozen=True)
class MonitorConfig:
    """A validated monitor configuration.

    Parameters
    ----------
    detection_name : str
        Monitor name (1 to 100 characters).
    anomaly_type : str
        One of :data:`ANOMALY_TYPES` (short forms such as "revenue" or
        "customer_behaviour" are normalised).
    monitored_metrics : tuple of str
        Names of defined metrics to score (at least one, no duplicates).
    metrics : tuple of MetricDefinition
        Metric definitions (monitored ones and the parts of ratios).
    algorithm : str, default "auto"
        One of :data:`aihub.anomaly.detectors.ALGORITHMS`.
    detector : DetectorParams
        ``detection_config`` merged with ``algorithm``.
    thresholds : SeverityThresholds
        From ``threshold_config.severity_thresholds``.
    detection_frequency : str, default "daily"
        Period to aggregate to, a key of :data:`FREQUENCIES`.
    timestamp_column : str, default "timestamp"
    timestamp_format : str, optional
        ``strftime`` format of the timestamp column (``"%d/%m/%y"``).
    dayfirst : bool, default False
        Parse ambiguous dates day first when no format is given.
    dimensions : tuple of str
        Columns to slice by (for example ``("Region",)``); the total is always
        included.
    currency : str, default "USD"
        Currency of unit values.
    """

    detection_name: str
    anomaly_type: str
    monitored_metrics: tuple[str, ...]
    metrics: tuple[MetricDefinition, ...]
    algorithm: str = "auto"
    detector: DetectorParams = field(default_factory=DetectorParams)
    thresholds: SeverityThresholds = field(default_factory=SeverityThresholds)
    detection_frequency: str = "daily"
    timestamp_column: str = "timestamp"
    timestamp_format: str | None = None
    dayfirst: bool = False
    dimensions: tuple[str, ...] = ()
    currency: str = "USD"

    def __post_init__(self) -> None:
        name = _require_str(self.detection_name, "detection_name", "detection_name")
        if len(name) > 100:
            raise ValidationError(
                f"detection_name must be at most 100 characters; got {len(name)}.", field="detection_name"
            )
        object.__setattr__(self, "detection_name", name)
        at = self.anomaly_type
        at = _TYPE_ALIASES.get(at, at) if isinstance(at, str) else at
        if at not in ANOMALY_TYPES:
            raise ValidationError(
                f"Unknown anomaly_type {self.anomaly_type!r}; allowed: {list(ANOMALY_TYPES)}.",
                field="anomaly_type",
                details={"value": repr(self.anomaly_type), "allowed": list(ANOMALY_TYPES)},
            )
        object.__setattr__(self, "anomaly_type", at)
        if self.algorithm not in ALGORITHMS:
            raise ValidationError(
                f"Unknown algorithm {self.algorithm!r}; allowed: {list(ALGORITHMS)}.",
                field="algorithm",
                details={"value": repr(self.algorithm), "allowed": list(ALGORITHMS)},
            )
        if self.detector.algorithm != self.algorithm:
            object.__setattr__(self, "detector", DetectorParams.from_dict(self.detector.to_dict(), algorithm=self.algorithm))
        if self.detection_frequency not in FREQUENCIES:
            raise ValidationError(
                f"Unknown detection_frequency {self.detection_frequency!r}; allowed: {list(FREQUENCIES)}.",
                field="detection_frequency",
                details={"value": repr(self.detection_frequency), "allowed": list(FREQUENCIES)},
            )
        object.__setattr__(self, "timestamp_column", _require_str(self.timestamp_column, "timestamp_column", "timestamp_column"))
        if self.timestamp_format is not None:
            _require_str(self.timestamp_format, "timestamp_format", "timestamp_format")
        if not isinstance(self.dayfirst, bool):
            raise ValidationError(f"dayfirst must be true or false; got {self.dayfirst!r}.", field="dayfirst")
        dims = tuple(self.dimensions)
        for i, d in enumerate(dims):
            _require_str(d, f"dimensions[{i}]", "A dimension column name")
        if len(set(dims)) != len(dims):
            raise ValidationError(f"dimensions has duplicates: {list(dims)}.", field="dimensions")
        if self.timestamp_column in dims:
            raise ValidationError(
                f"The timestamp column '{self.timestamp_column}' cannot also be a dimension.", field="dimensions"
            )
        object.__setattr__(self, "dimensions", dims)
        _require_str(self.currency, "currency", "currency")
        # metrics
        metrics = tuple(self.metrics)
        if not metrics:
            raise ValidationError(
                "Define at least one metric, e.g. {'name': 'daily_revenue', 'agg': 'sum', 'column': 'Sales'}.",
                field="metrics",
            )
        names: dict[str, int] = {}
        for i, m in enumerate(metrics):
            if m.name in names:
                raise ValidationError(f"Metric name '{m.name}' is defined twice.", field=f"metrics[{i}].name")
            names[m.name] = i
        for i, m in enumerate(metrics):
            if m.agg == "ratio":
                for part in ("numerator", "denominator"):
                    ref = getattr(m, part)
                    if ref not in names:
                        raise ValidationError(
                            f"Metric '{m.name}': {part} '{ref}' is not a defined metric; defined: {list(names)}.",
                            field=f"metrics[{i}].{part}",
                            details={"value": ref, "allowed": list(names)},
                        )
                    if metrics[names[ref]].agg == "ratio":
                        raise ValidationError(
                            f"Metric '{m.name}': {part} '{ref}' is itself a ratio; use sum/mean/count/nunique metrics.",
                            field=f"metrics[{i}].{part}",
                        )
        object.__setattr__(self, "metrics", metrics)
        mon = self.monitored_metrics
        if isinstance(mon, str) or not isinstance(mon, Iterable):
            raise ValidationError(
                f"monitored_metrics must be a list of metric names; got {mon!r}.", field="monitored_metrics"
            )
        mon = tuple(mon)
        if not mon:
            raise ValidationError("monitored_metrics must name at least one metric.", field="monitored_metrics")
        for i, name in enumerate(mon):
            if name not in names:
                raise ValidationError(
                    f"Monitored metric {name!r} is not defined in 'metrics'; defined: {list(names)}.",
                    field=f"monitored_metrics[{i}]",
                    details={"value": repr(name), "allowed": list(names)},
                )
        if len(set(mon)) != len(mon):
            raise ValidationError(f"monitored_metrics has duplicates: {list(mon)}.", field="monitored_metrics")
        object.__setattr__(self, "monitored_metrics", mon)

    # ------------------------------------------------------------------ helpers
    def metric(self, name: str) -> MetricDefinition:
        """Return the definition of metric ``name``.

        Raises
        ------
        aihub.errors.ValidationError
            ``field="metric"`` if no such metric is defined.
        """
        for m in self.metrics:
            if m.name == name:
                return m
        raise ValidationError(
            f"Unknown metric {name!r}; defined: {[m.name for m in self.metrics]}.",
            field="metric",
            details={"value": repr(name), "allowed": [m.name for m in self.metrics]},
        )

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Columns of the raw rows this monitor reads."""
        cols = [self.timestamp_column, *self.dimensions]
        cols += [m.column for m in self.metrics if m.column is not None]
        return tuple(dict.fromkeys(cols))

    def check_columns(self, columns: Iterable[str]) -> None:
        """Check that a dataset has every column the monitor reads.

        Raises
        ------
        aihub.errors.ValidationError
            ``field`` names the config key that refers to the missing column
            (``"timestamp_column"``, ``"dimensions[0]"``, ``"metrics[1].column"``).
        """
        have = list(columns)
        hs = set(have)

        def missing(col: str, fld: str) -> ValidationError:
            return ValidationError(
                f"Column '{col}' (from {fld}) is not in the dataset; its columns are {have}.",
                field=fld,
                details={"value": col, "allowed": have},
            )

        if self.timestamp_column not in hs:
            raise missing(self.timestamp_column, "timestamp_column")
        for i, d in enumerate(self.dimensions):
            if d not in hs:
                raise missing(d, f"dimensions[{i}]")
        for i, m in enumerate(self.metrics):
            if m.column is not None and m.column not in hs:
                raise missing(m.column, f"metrics[{i}].column")

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form accepted by :meth:`from_dict`."""
        det = self.detector.to_dict()
        det.pop("algorithm")
        defaults = DetectorParams().to_dict()
        det = {k: v for k, v in det.items() if v != defaults[k]}
        return {
            "detection_name": self.detection_name,
            "anomaly_type": self.anomaly_type,
            "algorithm": self.algorithm,
            "detection_config": det,
            "threshold_config": {"severity_thresholds": self.thresholds.to_dict()},
            "monitored_metrics": list(self.monitored_metrics),
            "detection_frequency": self.detection_frequency,
            "timestamp_column": self.timestamp_column,
            "timestamp_format": self.timestamp_format,
            "dayfirst": self.dayfirst,
            "dimensions": list(self.dimensions),
            "metrics": [m.to_dict() for m in self.metrics],
            "currency": self.currency,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MonitorConfig":
        """Validate a JSON/form mapping and build the config.

        Accepts the keys of the module docstring; ``dimension`` (one column)
        is an alias of ``dimensions``; ``unit_values`` (``{metric: money per
        unit}``) fills the metrics' ``unit_value``.

        Raises
        ------
        aihub.errors.ValidationError
            ``field`` names the offending key, e.g. ``"metrics[1].agg"``,
            ``"detection_config.contamination"``,
            ``"threshold_config.severity_thresholds.high"``.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(f"Monitor configuration must be an object; got {type(data).__name__}.", field="config")
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise ValidationError(
                f"Unknown configuration key(s) {unknown}; allowed: {list(_TOP_KEYS)}.",
                field=unknown[0],
                details={"allowed": list(_TOP_KEYS)},
            )
        for key in ("detection_name", "anomaly_type", "monitored_metrics"):
            if key not in data:
                raise ValidationError(f"Missing required field '{key}'.", field=key)
        algorithm = data.get("algorithm", "auto")
        dc = data.get("detection_config") or {}
        if not isinstance(dc, Mapping):
            raise ValidationError(
                f"detection_config must be an object like {{'contamination': 0.01}}; got {dc!r}.",
                field="detection_config",
            )
        if "algorithm" in dc:
            raise ValidationError(
                "Set the algorithm with the top-level 'algorithm' field, not inside detection_config.",
                field="detection_config.algorithm",
            )
        if algorithm not in ALGORITHMS:
            raise ValidationError(
                f"Unknown algorithm {algorithm!r}; allowed: {list(ALGORITHMS)}.",
                field="algorithm",
                details={"value": repr(algorithm), "allowed": list(ALGORITHMS)},
            )
        detector = DetectorParams.from_dict(dc, algorithm=algorithm)
        tc = data.get("threshold_config") or {}
        if not isinstance(tc, Mapping):
            raise ValidationError("threshold_config must be an object.", field="threshold_config")
        unknown = sorted(set(tc) - {"severity_thresholds"})
        if unknown:
            raise ValidationError(
                f"Unknown threshold_config key(s) {unknown}; allowed: ['severity_thresholds'].",
                field=f"threshold_config.{unknown[0]}",
            )
        thresholds = SeverityThresholds.from_dict(tc.get("severity_thresholds"))
        raw_metrics = data.get("metrics")
        if raw_metrics is None:
            raw_metrics = []
        if not isinstance(raw_metrics, (list, tuple)):
            raise ValidationError("metrics must be a list of metric definitions.", field="metrics")
        unit_values = data.get("unit_values") or {}
        if not isinstance(unit_values, Mapping):
            raise ValidationError("unit_values must map metric names to money per unit.", field="unit_values")
        metrics = []
        for i, m in enumerate(raw_metrics):
            try:
                md = MetricDefinition.from_dict(m)
            except ValidationError as exc:
                fld = (exc.field or "metrics").replace("metrics", f"metrics[{i}]", 1)
                raise ValidationError(exc.message, field=fld, details=exc.details) from None
            if md.name in unit_values:
                try:
                    md = MetricDefinition(**{**md.to_dict(), "unit_value": unit_values[md.name]})
                except ValidationError as exc:
                    raise ValidationError(exc.message, field=f"unit_values.{md.name}", details=exc.details) from None
            metrics.append(md)
        names = {m.name for m in metrics}
        for k in unit_values:
            if k not in names:
                raise ValidationError(
                    f"unit_values names metric {k!r}, which is not defined; defined: {sorted(names)}.",
                    field=f"unit_values.{k}",
                )
        dims = data.get("dimensions")
        if dims is None:
            dims = data.get("dimension")
        if dims is None:
            dims = ()
        elif isinstance(dims, str):
            dims = (dims,)
        elif not isinstance(dims, (list, tuple)):
            raise ValidationError(f"dimensions must be a list of column names; got {dims!r}.", field="dimensions")
        return cls(
            detection_name=data["detection_name"],
            anomaly_type=data["anomaly_type"],
            monitored_metrics=data["monitored_metrics"],
            metrics=tuple(metrics),
            algorithm=algorithm,
            detector=detector,
            thresholds=thresholds,
            detection_frequency=data.get("detection_frequency", "daily"),
            timestamp_column=data.get("timestamp_column", "timestamp"),
            timestamp_format=data.get("timestamp_format"),
            dayfirst=data.get("dayfirst", False),
            dimensions=tuple(dims),
            currency=data.get("currency", "USD"),
        )
