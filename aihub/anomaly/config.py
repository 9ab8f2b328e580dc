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

:meth:`MonitorConfig.from_dict` validates every field with pydantic 2 through
:func:`aihub.userconfig.parse` and raises one :class:`aihub.errors.ValidationError`
whose ``field`` names the offending key (``"metrics[2].numerator"``,
``"threshold_config.severity_thresholds.high"``; list positions in brackets, as
the monitor service and page expect), whose message shows the bad value and
what is allowed, and whose ``details["errors"]`` lists every problem pydantic
found.

Any numeric column can be watched with any aggregation (issue 9): a metric is
``{"column": "Total Volume", "agg": "median"}`` and is named after its column
when no name is given (``median_total_volume``; a sum keeps the column's name,
``total_volume``). ``unit_value`` is money per unit; a metric without one has
no money impact, and ``"unit_value": null`` given explicitly is kept on the way
to storage so that nothing fills one in later. A split by a dimension watches
its ``split_top_n`` largest values by volume (up to :data:`MAX_SPLIT_VALUES`)
and, with ``split_other``, the rest together as :data:`OTHER_SLICE`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, Strict, ValidationInfo, field_validator, model_validator

from aihub.anomaly.detectors import ALGORITHMS, DetectorParams
from aihub.anomaly.severity import SeverityThresholds
from aihub.errors import ValidationError
from aihub.userconfig import UserConfig, parse

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

AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "median", "count", "nunique", "min", "max", "ratio")
"""Metric aggregations over the rows of a period (``nunique`` = count distinct), or the ratio of two metrics."""

ADDITIVE_AGGREGATIONS: tuple[str, ...] = ("sum", "count", "nunique")
"""Aggregations whose slices add up to the total (0 in a period without rows)."""

COLUMN_AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "median", "nunique", "min", "max")
"""Aggregations that need a source column (``count`` takes one optionally)."""

NUMERIC_AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "median", "min", "max")
"""Aggregations whose column must be numeric."""

_AGG_ALIASES = {"count_distinct": "nunique", "distinct_count": "nunique", "average": "mean", "avg": "mean"}

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

MAX_SPLIT_VALUES = 500
"""Most values of one dimension watched as series of their own (``split_top_n``)."""

DEFAULT_SPLIT_VALUES = 50
"""Default ``split_top_n``."""

OTHER_SLICE = "Other"
"""Slice holding the values of a dimension beyond its top ``split_top_n``."""

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"

Frequency = Literal[tuple(FREQUENCIES)]  # type: ignore[valid-type]
Algorithm = Literal[tuple(ALGORITHMS)]  # type: ignore[valid-type]
AnomalyType = Literal[ANOMALY_TYPES]  # type: ignore[valid-type]
Aggregation = Literal[AGGREGATIONS]  # type: ignore[valid-type]
Money = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


def metric_name_for(column: str | None, agg: str) -> str:
    """The name a metric gets from its column: ``total_volume`` for a sum, ``median_total_volume`` otherwise.

    ``count`` without a column is ``row_count``; names are cut to 100 characters.
    """
    if not column:
        return "row_count" if agg == "count" else agg
    slug = re.sub(r"[^0-9A-Za-z]+", "_", column).strip("_").lower() or "column"
    if slug[0].isdigit():
        slug = "c_" + slug
    name = slug if agg == "sum" else f"{'count_distinct' if agg == 'nunique' else agg}_{slug}"
    return name[:100]


class MetricDefinition(UserConfig):
    """How one metric is computed from the rows of each period.

    Parameters
    ----------
    name : str, optional
        Identifier (letters, digits, underscore; starts with a letter or
        underscore; at most 100 characters). Defaults to
        :func:`metric_name_for` of the column and aggregation.
    agg : {"sum", "mean", "median", "count", "nunique", "min", "max", "ratio"}
        ``sum``/``mean``/``median``/``min``/``max`` of a numeric ``column``;
        ``count`` of rows (or of non-empty ``column`` cells); ``nunique``
        distinct values of ``column`` (``count_distinct`` is accepted);
        ``ratio`` = metric ``numerator`` / metric ``denominator`` per period
        (NaN where the denominator is 0). ``aggregation`` is accepted for ``agg``.
    column : str, optional
        Source column (required except for count and ratio).
    numerator, denominator : str, optional
        Names of other, non-ratio metrics (ratio only).
    unit_value : float, optional
        Money per unit of the metric, used for business impact (1.0 for a
        revenue metric; the average order value for an order count). None
        means impact is not expressed in money.

    Raises
    ------
    aihub.errors.ValidationError
        From :meth:`from_dict`, ``field`` is ``"metrics.<attribute>"``;
        :class:`MonitorConfig` names the position (``"metrics[i].<attribute>"``).
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=_NAME_PATTERN)
    agg: Aggregation
    column: Text | None = None
    numerator: Text | None = None
    denominator: Text | None = None
    unit_value: Money | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "aggregation" in data and "agg" not in data:
            data["agg"] = data.pop("aggregation")
        if isinstance(data.get("agg"), str):
            data["agg"] = _AGG_ALIASES.get(data["agg"].strip().lower(), data["agg"].strip().lower())
        if data.get("name") is None and isinstance(data.get("column"), str) and isinstance(data.get("agg"), str):
            data["name"] = metric_name_for(data["column"].strip(), data["agg"])
        return data

    @field_validator("column")
    @classmethod
    def _column_fits_agg(cls, value: str | None, info: ValidationInfo) -> str | None:
        agg, name = info.data.get("agg"), info.data.get("name", "?")
        if agg in COLUMN_AGGREGATIONS and not value:
            raise ValueError(f"metric '{name}' ({agg}) needs the column to aggregate")
        if agg == "ratio" and value is not None:
            raise ValueError(f"metric '{name}' is a ratio of two metrics and takes no column")
        return value

    @field_validator("numerator", "denominator")
    @classmethod
    def _parts_fit_agg(cls, value: str | None, info: ValidationInfo) -> str | None:
        agg, name = info.data.get("agg"), info.data.get("name", "?")
        if agg == "ratio" and not value:
            raise ValueError(f"metric '{name}' is a ratio and needs '{info.field_name}': the name of another metric")
        if agg is not None and agg != "ratio" and value is not None:
            raise ValueError(f"metric '{name}': '{info.field_name}' applies only to agg 'ratio'")
        return value

    @property
    def label(self) -> str:
        """Words for the metric: ``"Total Volume (median)"``, ``"Order ID (count distinct)"``, or the name."""
        if self.column is None:
            return self.name
        return f"{self.column} ({'count distinct' if self.agg == 'nunique' else self.agg})"

    @property
    def additive(self) -> bool:
        """True when slices add up to the total (sum, count, count distinct)."""
        return self.agg in ADDITIVE_AGGREGATIONS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without empty optional fields (an explicit ``unit_value: null`` is kept)."""
        d = {"name": self.name, "agg": self.agg}
        for k in ("column", "numerator", "denominator", "unit_value"):
            if getattr(self, k) is not None or (k == "unit_value" and k in self.model_fields_set):
                d[k] = getattr(self, k)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricDefinition:
        """Build from ``{"name"?, "agg", "column"?, "numerator"?, "denominator"?, "unit_value"?}``."""
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"A metric definition must be an object like {{'name': ..., 'agg': 'sum', 'column': ...}}; got {data!r}.",
                field="metrics",
            )
        return _parse(cls, {k: v for k, v in data.items()}, "Metric definition", prefix="metrics")


class ThresholdConfig(UserConfig):
    """``threshold_config``: severity thresholds (checked by :class:`SeverityThresholds`)."""

    severity_thresholds: dict[str, Any] | None = None


class MonitorConfig(UserConfig):
    """A validated monitor configuration.

    Parameters
    ----------
    detection_name : str
        Monitor name (1 to 100 characters).
    anomaly_type : str
        One of :data:`ANOMALY_TYPES` (short forms such as "revenue" or
        "customer_behaviour" are normalised).
    metrics : tuple of MetricDefinition
        Metric definitions (monitored ones and the parts of ratios).
    monitored_metrics : tuple of str, optional
        Names of defined metrics to score (no duplicates); default all of them.
    algorithm : str, default "auto"
        One of :data:`aihub.anomaly.detectors.ALGORITHMS`.
    detection_config : dict
        Detector settings; :attr:`detector` holds them merged with ``algorithm``.
    threshold_config : ThresholdConfig
        ``{"severity_thresholds": {...}}``; :attr:`thresholds` holds them.
    detection_frequency : str, default "daily"
        Period to aggregate to, a key of :data:`FREQUENCIES`.
    timestamp_column : str, default "timestamp"
    timestamp_format : str, optional
        ``strftime`` format of the timestamp column (``"%d/%m/%y"``).
    dayfirst : bool, default False
        Parse ambiguous dates day first when no format is given.
    dimensions : tuple of str
        Columns to slice by (for example ``("Region",)``); the total is always
        included. ``dimension`` (one column) is accepted.
    split_top_n : int, default 50
        Values of each dimension watched as series of their own, the largest
        by volume first; at most :data:`MAX_SPLIT_VALUES`.
    split_other : bool, default True
        Watch the values beyond ``split_top_n`` together as one series
        (:data:`OTHER_SLICE`); False leaves them out of the splits (they still
        count in the total).
    split_rank_by : str, optional
        Metric whose total over the data ranks the values (a sum, count or
        count distinct); default the first such monitored metric, else the
        number of rows.
    currency : str, default "USD"
        Currency of unit values.
    unit_values : dict, optional
        ``{metric: money per unit}``, filled into the metrics (input only).
    """

    model_config = ConfigDict(frozen=True)

    detection_name: str = Field(min_length=1, max_length=100)
    anomaly_type: AnomalyType
    metrics: tuple[MetricDefinition, ...] = ()
    monitored_metrics: tuple[str, ...] | None = None
    algorithm: Algorithm = "auto"
    detection_config: dict[str, Any] = Field(default_factory=dict)
    threshold_config: ThresholdConfig = Field(default_factory=ThresholdConfig)
    detection_frequency: Frequency = "daily"
    timestamp_column: Text = "timestamp"
    timestamp_format: Text | None = None
    dayfirst: Annotated[bool, Strict()] = False
    dimensions: tuple[Text, ...] = ()
    split_top_n: int = Field(default=DEFAULT_SPLIT_VALUES, ge=1, le=MAX_SPLIT_VALUES)
    split_other: Annotated[bool, Strict()] = True
    split_rank_by: str | None = None
    currency: Text = "USD"

    _detector: DetectorParams = PrivateAttr(default_factory=DetectorParams)
    _thresholds: SeverityThresholds = PrivateAttr(default_factory=SeverityThresholds)

    # ------------------------------------------------------------------ input shapes
    @model_validator(mode="before")
    @classmethod
    def _input_shapes(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "dimension" in data:
            one = data.pop("dimension")
            data.setdefault("dimensions", one)
        if isinstance(data.get("dimensions"), str):
            data["dimensions"] = [data["dimensions"]]
        if data.get("dimensions") is None:
            data.pop("dimensions", None)
        for key in ("detection_config", "threshold_config", "metrics"):
            if data.get(key) is None:
                data.pop(key, None)
        data = _merge_unit_values(data)
        if isinstance(data.get("anomaly_type"), str):
            data["anomaly_type"] = _TYPE_ALIASES.get(data["anomaly_type"], data["anomaly_type"])
        return data

    @field_validator("metrics")
    @classmethod
    def _some_metrics(cls, value: tuple[MetricDefinition, ...]) -> tuple[MetricDefinition, ...]:
        if not value:
            raise ValueError("define at least one metric, e.g. {'name': 'daily_revenue', 'agg': 'sum', "
                             "'column': 'Sales'}")
        return value

    @field_validator("monitored_metrics")
    @classmethod
    def _some_monitored(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("monitored_metrics must name at least one metric")
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"monitored_metrics has duplicates: {list(value)}")
        return value

    @field_validator("dimensions")
    @classmethod
    def _distinct_dimensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"dimensions has duplicates: {list(value)}")
        return value

    # ------------------------------------------------------------------ cross-field rules
    @model_validator(mode="after")
    def _cross_checks(self) -> MonitorConfig:
        names = _check_metric_names(self.metrics)
        if self.monitored_metrics is None:
            object.__setattr__(self, "monitored_metrics", tuple(names))
        for i, name in enumerate(self.monitored_metrics):
            if name not in names:
                raise ValidationError(
                    f"Monitored metric {name!r} is not defined in 'metrics'; defined: {list(names)}.",
                    field=f"monitored_metrics[{i}]", details={"value": repr(name), "allowed": list(names)},
                )
        if self.timestamp_column in self.dimensions:
            raise ValidationError(
                f"The timestamp column '{self.timestamp_column}' cannot also be a dimension.", field="dimensions")
        if self.split_rank_by is not None:
            ranks = [m.name for m in self.metrics if m.additive]
            if self.split_rank_by not in ranks:
                raise ValidationError(
                    f"split_rank_by {self.split_rank_by!r} must be a sum, count or count-distinct metric; "
                    f"allowed: {ranks}.", field="split_rank_by", details={"value": self.split_rank_by, "allowed": ranks})
        if "algorithm" in self.detection_config:
            raise ValidationError("Set the algorithm with the top-level 'algorithm' field, not inside "
                                  "detection_config.", field="detection_config.algorithm")
        self._detector = DetectorParams.from_dict(self.detection_config, algorithm=self.algorithm)
        self._thresholds = SeverityThresholds.from_dict(self.threshold_config.severity_thresholds)
        return self

    def __eq__(self, other: object) -> bool:
        """Equal when the validated settings are (``detection_config`` {} and the defaults spelt out are the same)."""
        return isinstance(other, MonitorConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    # ------------------------------------------------------------------ helpers
    @property
    def detector(self) -> DetectorParams:
        """``detection_config`` merged with ``algorithm``."""
        return self._detector

    @property
    def thresholds(self) -> SeverityThresholds:
        """The severity thresholds of ``threshold_config``."""
        return self._thresholds

    @property
    def rank_metric(self) -> str | None:
        """Metric that ranks split values by volume (:attr:`split_rank_by` or its default); None = row count."""
        if self.split_rank_by:
            return self.split_rank_by
        return next((n for n in self.monitored_metrics if self.metric(n).additive), None)

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
        out = {
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
        for key in ("split_top_n", "split_other", "split_rank_by"):  # only when set, so stored configs stay as they were
            if key in self.model_fields_set:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorConfig:
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
        return _parse(cls, data, "Monitor configuration")


# --------------------------------------------------------------------------- helpers
def _merge_unit_values(data: dict[str, Any]) -> dict[str, Any]:
    """Fill ``unit_values`` ({metric: money per unit}) into the metric definitions."""
    units = data.pop("unit_values", None) or {}
    if not isinstance(units, Mapping):
        raise ValidationError("unit_values must map metric names to money per unit.", field="unit_values")
    if not units:
        return data
    metrics = [dict(m) if isinstance(m, Mapping) else m for m in data.get("metrics") or []]
    names = []
    for m in metrics:
        if isinstance(m, dict):
            name = m.get("name") or (metric_name_for(m["column"], m.get("agg", ""))
                                     if isinstance(m.get("column"), str) else None)
            names.append(name)
            if name in units:
                m["unit_value"] = units[name]
    for k in units:
        if k not in names:
            raise ValidationError(f"unit_values names metric {k!r}, which is not defined; defined: "
                                  f"{sorted(n for n in names if n)}.", field=f"unit_values.{k}")
    data["metrics"] = metrics
    return data


def _check_metric_names(metrics: tuple[MetricDefinition, ...]) -> dict[str, int]:
    names: dict[str, int] = {}
    for i, m in enumerate(metrics):
        if m.name in names:
            raise ValidationError(f"Metric name '{m.name}' is defined twice.", field=f"metrics[{i}].name")
        names[m.name] = i
    for i, m in enumerate(metrics):
        if m.agg != "ratio":
            continue
        for part in ("numerator", "denominator"):
            ref = getattr(m, part)
            if ref not in names:
                raise ValidationError(
                    f"Metric '{m.name}': {part} '{ref}' is not a defined metric; defined: {list(names)}.",
                    field=f"metrics[{i}].{part}", details={"value": ref, "allowed": list(names)})
            if metrics[names[ref]].agg == "ratio":
                raise ValidationError(
                    f"Metric '{m.name}': {part} '{ref}' is itself a ratio; use a metric with another aggregation.",
                    field=f"metrics[{i}].{part}")
    return names


def _bracketed(path: str | None) -> str | None:
    """pydantic's dotted path with list positions in brackets: ``metrics.1.agg`` -> ``metrics[1].agg``."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path) if path else path


def _parse(model: type[UserConfig], data: Mapping[str, Any], what: str, prefix: str | None = None) -> Any:
    """:func:`aihub.userconfig.parse` with the monitor's field style and the allowed keys named."""
    try:
        return parse(model, data, what=what)
    except ValidationError as exc:
        errors = exc.details.get("errors") or []
        first = errors[0] if errors else {}
        field = _bracketed(exc.field)
        message = exc.message
        if first.get("type") == "extra_forbidden":
            owner = _owner_model(model, first["field"])
            message = message.rstrip(".") + f"; allowed: {list(owner.model_fields)}."
        if prefix and field and not field.startswith(prefix):
            field = f"{prefix}.{field}"
        message = message.replace(f": {exc.field}:", f": {field}:", 1) if exc.field else message
        raise ValidationError(message, field=field, details=exc.details) from None


def _owner_model(model: type[UserConfig], path: str) -> type[UserConfig]:
    """The model class that owns the last key of a dotted path (for listing its allowed keys)."""
    owner: Any = model
    for part in path.split(".")[:-1]:
        if part.isdigit():
            continue
        info = owner.model_fields.get(part)
        if info is None:
            break
        ann = info.annotation
        inner = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, UserConfig)]
        if isinstance(ann, type) and issubclass(ann, UserConfig):
            owner = ann
        elif inner:
            owner = inner[0]
    return owner
