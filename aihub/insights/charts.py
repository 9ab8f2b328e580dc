"""Chart evidence: small JSON specs stored with an insight (drawn by :func:`aihub.charts.insights.chart_figure`).

A spec is ``{"title": str, "x": [labels], "y_title": str, "series": [...]}``
where each series is one of

* ``{"name", "kind": "line" | "bar" | "dash", "y": [float or None]}``
* ``{"name", "kind": "band", "lower": [...], "upper": [...]}`` (a shaded range)

and every list has the length of ``x``. Specs are plain JSON, so the
database can store them next to the insight.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from aihub.errors import ValidationError

SERIES_KINDS: tuple[str, ...] = ("line", "bar", "dash", "band")


def _clean(values: Sequence[Any]) -> list[float | None]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            out.append(None)
            continue
        out.append(f if math.isfinite(f) else None)
    return out


def chart_spec(title: str, x: Sequence[Any], series: Sequence[Mapping[str, Any]], y_title: str = "") -> dict[str, Any]:
    """Build a JSON chart spec (values rounded to cents, NaN as None)."""
    out = []
    for s in series:
        item = {"name": str(s.get("name", "")), "kind": s.get("kind", "line")}
        if item["kind"] not in SERIES_KINDS:
            raise ValidationError(
                f"chart series kind must be one of {', '.join(SERIES_KINDS)}; got {item['kind']!r}", field="kind"
            )
        for key in ("y", "lower", "upper"):
            if key in s:
                item[key] = [None if v is None else round(v, 2) for v in _clean(s[key])]
        out.append(item)
    return {"title": str(title), "x": [str(v) for v in x], "y_title": str(y_title), "series": out}
