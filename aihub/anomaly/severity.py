"""Severity levels and the mapping from anomaly scores to them.

An anomaly score is a number in ``[0, 1]`` on a logarithmic probability
scale: ``score = -log10(p) / 10`` where ``p`` is how likely the observed
behaviour is under the detector's model of normal behaviour (clipped to
``[0, 1]``). A score of 0.5 therefore means ``p = 1e-5``, the alert level
Numenta recommends for its anomaly likelihood (Ahmad et al., 2017,
"Unsupervised real-time anomaly detection for streaming data",
Neurocomputing 262), 0.7 means ``p = 1e-7`` and so on.

The lowest threshold (``low``) is the alert threshold: points at or above it
raise an alarm (unless a cooldown or a feedback rule suppresses them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from aihub.errors import ValidationError

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
"""Severity names from least to most severe."""

NO_SEVERITY = "none"
"""Severity of a point that is not an alarm."""


@dataclass(frozen=True)
class SeverityThresholds:
    """Score thresholds of the four severity levels.

    Parameters
    ----------
    low, medium, high, critical : float
        Anomaly-score thresholds, each in the open interval ``(0, 1)`` and
        strictly increasing from ``low`` to ``critical``. ``low`` is also the
        alert threshold.

    Raises
    ------
    aihub.errors.ValidationError
        With ``field="threshold_config.severity_thresholds.<name>"`` when a
        threshold is missing, not a number, outside ``(0, 1)`` or not larger
        than the previous level.
    """

    low: float = 0.5
    medium: float = 0.7
    high: float = 0.85
    critical: float = 0.95

    def __post_init__(self) -> None:
        prefix = "threshold_config.severity_thresholds"
        previous_name, previous = None, 0.0
        for name in SEVERITIES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ValidationError(
                    f"Severity threshold '{name}' must be a number in (0, 1); got {value!r}.",
                    field=f"{prefix}.{name}",
                    details={"value": repr(value)},
                )
            if not 0.0 < float(value) < 1.0:
                raise ValidationError(
                    f"Severity threshold '{name}' must lie in (0, 1), strictly between 0 and 1; got {value!r}.",
                    field=f"{prefix}.{name}",
                    details={"value": value, "allowed": "(0, 1)"},
                )
            if previous_name is not None and float(value) <= previous:
                raise ValidationError(
                    f"Severity thresholds must increase low < medium < high < critical; "
                    f"'{name}' = {value!r} is not larger than '{previous_name}' = {previous!r}.",
                    field=f"{prefix}.{name}",
                    details={"value": value, "previous": previous},
                )
            object.__setattr__(self, name, float(value))
            previous_name, previous = name, float(value)

    @property
    def alert(self) -> float:
        """The alert threshold (same as ``low``)."""
        return self.low

    def to_dict(self) -> dict[str, float]:
        """Return ``{"low", "medium", "high", "critical"}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SeverityThresholds:
        """Build from a mapping such as ``{"low": 0.5, "medium": 0.7, ...}``.

        Missing levels take their defaults; unknown keys are rejected.
        """
        if data is None:
            return cls()
        if isinstance(data, SeverityThresholds):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"Severity thresholds must be an object like {{'low': 0.5, ...}}; got {type(data).__name__}.",
                field="threshold_config.severity_thresholds",
            )
        unknown = sorted(set(data) - set(SEVERITIES))
        if unknown:
            raise ValidationError(
                f"Unknown severity level(s) {unknown}; allowed: {list(SEVERITIES)}.",
                field=f"threshold_config.severity_thresholds.{unknown[0]}",
                details={"allowed": list(SEVERITIES)},
            )
        return cls(**dict(data))


def severity_of(scores: Any, thresholds: SeverityThresholds | None = None) -> np.ndarray:
    """Map anomaly scores to severity names.

    Parameters
    ----------
    scores : array-like of float, shape (n,)
        Anomaly scores in ``[0, 1]``; NaN maps to ``"none"``.
    thresholds : SeverityThresholds, optional
        Defaults to ``SeverityThresholds()`` (0.5, 0.7, 0.85, 0.95).

    Returns
    -------
    numpy.ndarray of str, shape (n,)
        ``"none"`` below ``low``, else the highest level whose threshold the
        score reaches (thresholds are inclusive).
    """
    th = thresholds or SeverityThresholds()
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-1.0)
    out = np.full(s.shape, NO_SEVERITY, dtype=object)
    for name in SEVERITIES:
        out[s >= getattr(th, name)] = name
    return out
