"""Business templates that pre-fill a :class:`~aihub.ml.config.TrainingConfig`.

==========================  ==================================================
template                    what it sets
==========================  ==================================================
``churn``                   classification (``churn_prediction``), target found
                            by name (Churn, Churned, Exited, Attrition...),
                            id columns excluded, ``class_weight="balanced"``.
``lead_scoring``            classification (``lead_scoring``): the probability
                            becomes a 0-100 lead score with hot (>= 70), warm
                            (>= 40) and cold bands; no class weighting, so the
                            score stays a calibrated-ish probability.
``rfm_segmentation``        clustering (``customer_segmentation``) of an
                            orders table: RFM per customer, K-Means with 5
                            segments named high-value / loyal / new / at-risk /
                            dormant (:func:`aihub.ml.rfm.name_segments`).
``customer_lifetime_value`` regression (``customer_lifetime_value``) of an
                            orders table: features before a cut-off, target =
                            spend in the next 365 days.
==========================  ==================================================

Use :func:`template_defaults` for the form before data is chosen and
:func:`suggest_config` once a table is known (it finds the columns).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from aihub.errors import ValidationError
from aihub.ml.config import TEMPLATE_NAMES, TrainingConfig
from aihub.ml.preprocess import looks_like_id


@dataclass(frozen=True)
class Template:
    """A pre-filled configuration for a business use case.

    Attributes
    ----------
    key, title, description : str
    defaults : dict
        ``TrainingConfig.from_dict`` input without data-dependent fields.
    target_hints : tuple of str
        Lower-case names tried, in order, to find the target column.
    column_hints : dict
        For orders-based templates: role -> candidate column names.
    """

    key: str
    title: str
    description: str
    defaults: dict[str, Any]
    target_hints: tuple[str, ...] = ()
    column_hints: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "defaults": copy.deepcopy(self.defaults),
            "target_hints": list(self.target_hints),
            "column_hints": {k: list(v) for k, v in self.column_hints.items()},
        }


_ORDER_HINTS = {
    "customer_column": ("customer id", "customer_id", "customerid", "customer", "client id", "client_id", "client", "user id", "user_id"),
    "date_column": ("order date", "order_date", "orderdate", "invoice date", "invoicedate", "invoice_date", "date", "purchase date", "transaction date"),
    "amount_column": ("sales", "amount", "revenue", "total", "order value", "order_total", "value", "price"),
    "order_column": ("order id", "order_id", "orderid", "invoice", "invoice no", "invoiceno", "invoice_id", "transaction id", "transaction_id"),
}

TEMPLATES: dict[str, Template] = {
    "churn": Template(
        "churn",
        "Churn prediction",
        "Which customers are likely to leave? Predicts the probability of churn per customer; rare churners are up-weighted.",
        {
            "model_name": "churn_model",
            "model_type": "churn_prediction",
            "algorithm": "auto",
            "hyperparameters": {"class_weight": "balanced"},
            "feature_engineering": {"normalize": True, "handle_missing": "median"},
            "validation_split": 0.1,
            "test_split": 0.2,
        },
        target_hints=("churn", "churned", "is_churn", "has_churned", "exited", "attrition", "attrition_flag", "cancelled", "canceled", "left"),
    ),
    "lead_scoring": Template(
        "lead_scoring",
        "Lead scoring",
        "Which leads will convert? Scores each lead 0-100 and bands it hot (70+), warm (40-69) or cold.",
        {
            "model_name": "lead_score_model",
            "model_type": "lead_scoring",
            "algorithm": "auto",
            "score_bands": {"hot": 70, "warm": 40},
            "feature_engineering": {"normalize": True, "handle_missing": "median"},
            "validation_split": 0.1,
            "test_split": 0.2,
        },
        target_hints=("converted", "conversion", "is_converted", "won", "is_won", "closed_won", "purchased", "signed_up", "outcome"),
    ),
    "rfm_segmentation": Template(
        "rfm_segmentation",
        "RFM customer segmentation",
        "Groups customers by how recently, how often and how much they buy (RFM) into five named segments.",
        {
            "model_name": "rfm_segments",
            "model_type": "customer_segmentation",
            "algorithm": "kmeans",
            "hyperparameters": {"n_clusters": 5},
            "test_split": 0.2,
            "validation_split": 0.0,
        },
        column_hints=_ORDER_HINTS,
    ),
    "customer_lifetime_value": Template(
        "customer_lifetime_value",
        "Customer lifetime value",
        "Predicts how much each customer will spend in the next 12 months from their order history.",
        {
            "model_name": "clv_model",
            "model_type": "customer_lifetime_value",
            "algorithm": "auto",
            "validation_split": 0.15,
            "test_split": 0.2,
        },
        column_hints=_ORDER_HINTS,
    ),
}


assert tuple(TEMPLATES) == TEMPLATE_NAMES


def list_templates() -> list[dict[str, Any]]:
    """All templates as dicts (for a picker)."""
    return [t.to_dict() for t in TEMPLATES.values()]


def _get(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValidationError(f"template must be one of {', '.join(TEMPLATES)}; got {name!r}", field="template")
    return TEMPLATES[name]


def template_defaults(name: str) -> dict[str, Any]:
    """The template's configuration dict before data is known (no target/columns)."""
    return copy.deepcopy(_get(name).defaults)


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-./]+", " ", str(s).strip().lower())


def find_column(frame: pd.DataFrame, hints: tuple[str, ...]) -> str | None:
    """First column whose normalised name equals a hint (hints in priority order)."""
    by_norm = {_norm(c): c for c in frame.columns}
    for h in hints:
        if _norm(h) in by_norm:
            return by_norm[_norm(h)]
    return None


def suggest_config(name: str, frame: pd.DataFrame, **overrides: Any) -> TrainingConfig:
    """Fill a template for a concrete table.

    Parameters
    ----------
    name : str
        Key of :data:`TEMPLATES`.
    frame : pandas.DataFrame
        The training table (orders table for RFM / CLV).
    **overrides
        Config fields that win over the template and the detection
        (e.g. ``target="Exited"``, ``data_prep={...}``).

    Returns
    -------
    TrainingConfig

    Raises
    ------
    ValidationError
        A needed column could not be found (``field`` is ``"target"`` or
        ``"data_prep.<role>"``; set it in ``overrides``), or the overrides are invalid.
    """
    tpl = _get(name)
    d = template_defaults(name)
    if "data_prep" not in overrides and tpl.column_hints:
        prep: dict[str, Any] = {"kind": "rfm" if name == "rfm_segmentation" else "clv"}
        for role, hints in tpl.column_hints.items():
            col = find_column(frame, hints)
            if col is None and role != "order_column":
                raise ValidationError(
                    f"could not find the {role.replace('_column', '')} column (tried: {', '.join(hints[:5])}...); choose it",
                    field=f"data_prep.{role}",
                )
            prep[role] = col
        d["data_prep"] = prep
    if tpl.target_hints and "target" not in overrides:
        target = find_column(frame, tpl.target_hints)
        if target is None:
            raise ValidationError(
                f"could not find the outcome column (tried: {', '.join(tpl.target_hints[:6])}...); choose the target",
                field="target",
            )
        d["target"] = target
    if not tpl.column_hints and "excluded_columns" not in overrides:
        target = overrides.get("target", d.get("target"))
        d["excluded_columns"] = [c for c in frame.columns if c != target and looks_like_id(frame[c], str(c))[0]]
    d.update(overrides)
    return TrainingConfig.from_dict(d)
