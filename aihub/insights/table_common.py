"""Pieces shared by the any-table detectors: thresholds, seeds, sampling and the figures every insight carries."""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from aihub.insights.detectors import Context
from aihub.insights.tables import TableInput

__all__ = [
    "LEVEL",
    "MAX_DRIVER_CATEGORIES",
    "MAX_FINDINGS",
    "MAX_SHIFT_SEGMENTS",
    "MIN_OUTLIER_VALUES",
    "MIN_PERIOD_COVERAGE",
    "MIN_PERIOD_ROWS",
    "MIN_SEGMENT_GAP_REL",
    "MIN_SEGMENT_GAP_SD",
    "cap",
    "common_figures",
    "feature_columns",
    "period_key",
    "plain_number",
    "rng_for",
    "sample_rows",
    "unit_figures",
    "z_effect",
]

#: Most categories of one column compared as a driver; the rest are grouped as "other".
MAX_DRIVER_CATEGORIES = 30
#: Most segments of one dimension followed for shifts (the largest by rows).
MAX_SHIFT_SEGMENTS = 50
#: Most findings of one kind per table (outlier columns, outlying segments, segments).
MAX_FINDINGS = 3
#: Fewest distinct values of a column checked for outliers (fewer: codes or counts, not amounts).
MIN_OUTLIER_VALUES = 20
#: A segment's median must also lie this many robust standard deviations of the rows from the typical median.
MIN_SEGMENT_GAP_SD = 1.0
#: ... or differ from it by at least this fraction of the typical median.
MIN_SEGMENT_GAP_REL = 0.5
#: Share of the recent periods (at most 60) in which a series must have rows to be tested for a shift.
MIN_PERIOD_COVERAGE = 0.8
#: Fewest rows a series of events (a rate always) needs in each of the two periods compared for a shift.
MIN_PERIOD_ROWS = 10
#: Bootstrap interval level.
LEVEL = 0.9


def rng_for(ctx: Context, key: str) -> np.random.Generator:
    """Random generator seeded by ``params.seed`` and ``key``: the same rows give the same answer."""
    return np.random.default_rng([ctx.params.seed, zlib.crc32(key.encode())])


def cap(text: str) -> str:
    """``text`` with its first letter in upper case (the rest untouched)."""
    return text[:1].upper() + text[1:]


def common_figures(t: TableInput) -> dict[str, Any]:
    """Figures every any-table narrative may quote: ``table``, ``rows``/``Rows``, ``outcome``, ``outcome_label``,
    ``level`` (of bootstrap intervals), ``n_rows`` and an empty ``unit_sfx``."""
    w = t.outcome_words()
    noun = t.roles_.row_noun
    return {
        "table": t.label,
        "rows": noun,
        "Rows": cap(noun),
        "outcome": w["name"],
        "outcome_label": w["label"],
        "level": LEVEL,
        "n_rows": len(t.data),
        "unit_sfx": "",
    }


def unit_figures(t: TableInput, column: str) -> tuple[dict[str, Any], str, bool]:
    """Figures for the column's unit, the insight currency ("" when not money) and whether it is money."""
    cur = t.currency_of(column)
    unit = t.unit_of(column)
    return {"unit_sfx": f" {unit}" if unit and not cur else ""}, cur or "", cur is not None


def period_key(t: TableInput) -> str:
    """Period part of a fingerprint for findings about the whole table: its version, else its number of rows."""
    return f"version {t.version}" if t.version is not None else f"{len(t.data)} rows"


def feature_columns(t: TableInput, ctx: Context) -> list[str]:
    """The columns examined as drivers and segment conditions: the first ``table_max_columns`` features."""
    return list(t.features_[: ctx.params.table_max_columns])


def sample_rows(t: TableInput, ctx: Context, key: str) -> np.ndarray:
    """Positions of the rows used, sorted: all of them, or a seeded sample of ``table_max_rows``."""
    n = len(t.data)
    if n <= ctx.params.table_max_rows:
        return np.arange(n)
    return np.sort(rng_for(ctx, key).choice(n, ctx.params.table_max_rows, replace=False))


def plain_number(v: float) -> float | int:
    """A whole float as int (``71001.0`` -> ``71001``) so rules read and serialise as the table's values."""
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def z_effect(z: float, threshold: float) -> float:
    """Ranking strength (0 to 1) of a score beyond its alert level: ``1 - threshold / |z|``."""
    return 1.0 if not math.isfinite(z) else max(0.0, 1.0 - threshold / abs(z)) if z else 0.0
