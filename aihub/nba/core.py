"""Next best action per at-risk customer, from the model's own reasons and the features the business can change.

For a binary classification model (a churn model, typically) and a table of
customers:

1. Score every row (:func:`aihub.ml.predict`); customers whose probability of
   the positive class ("risk") is at least ``risk_threshold`` are at risk.
2. Explain them with SHAP (:func:`aihub.ml.explain`): each feature's
   contribution to this customer's risk.
3. For each *actionable* feature (chosen by the user, with the values the
   business can offer) that raises this customer's risk (positive SHAP
   contribution; all actionable features with ``only_reasons=False``),
   re-score the customer with the feature set to each allowed value, all other
   features unchanged (a ceteris-paribus counterfactual, as in Wachter,
   Mittelstadt & Russell 2018, "Counterfactual Explanations without Opening
   the Black Box", Harvard JOLT 31(2)).
4. Keep, per feature, the value with the largest fall in risk when the fall is
   at least ``min_risk_drop``; list the ``max_actions`` largest per customer,
   and the risk with all of them applied at once.

Every figure is a model estimate, not a promise: the model learned
associations, not causes, and features that move together in reality (a new
contract and monthly charges, say) are changed one at a time here. The
action text says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from aihub.errors import ValidationError
from aihub.frames import require_columns, require_frame
from aihub.userconfig import UserConfig, parse

OUTPUT_COLUMNS: tuple[str, ...] = (
    "row", "rank", "current_risk", "feature", "current_value", "suggested_value", "new_risk", "risk_drop",
    "shap_contribution", "risk_if_all_applied", "action",
)
_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*%$")
_DELTA = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)$")


class ActionParams(UserConfig):
    """Settings of :func:`next_best_actions`."""

    risk_threshold: float = Field(0.5, ge=0.0, le=1.0, description="customers at or above this risk get actions")
    max_actions: int = Field(3, ge=1, le=20, description="actions listed per customer")
    min_risk_drop: float = Field(0.01, ge=0.0, le=1.0, description="smallest fall in risk worth suggesting")
    only_reasons: bool = Field(True, description="only change features that raise this customer's risk (SHAP > 0)")


@dataclass(frozen=True)
class Actionable:
    """One feature the business can change and the values it may take.

    ``values`` holds category labels (categorical) or numbers (absolute);
    ``changes`` holds numeric changes relative to the customer's value as
    ``("pct", -10.0)`` or ``("delta", +5.0)``.
    """

    feature: str
    kind: str
    values: tuple[Any, ...] = ()
    changes: tuple[tuple[str, float], ...] = ()


def parse_actionable(model, actionable: dict[str, list[Any] | None] | list[str]) -> list[Actionable]:
    """Check the actionable features and their allowed values against the model.

    Parameters
    ----------
    model : aihub.ml.TrainedModel
    actionable : list of feature names, or dict feature -> allowed values
        Categorical features default to every category seen in training;
        given values must be among them. Numeric features need values:
        numbers (absolute), ``"-10%"`` (relative) or ``"+5"``/``"-5"`` (change).

    Returns
    -------
    list of Actionable

    Raises
    ------
    ValidationError
        ``field`` names the feature: not a model feature, unknown category
        (the message lists the allowed ones), or a numeric feature without values.
    """
    spec = {f.name: f for f in model.feature_schema}
    items = actionable.items() if isinstance(actionable, dict) else [(f, None) for f in actionable]
    out = []
    for name, values in items:
        name = str(name).strip()
        if name not in spec:
            raise ValidationError(f"actionable feature {name!r} is not an input of the model; its inputs are: "
                                  f"{', '.join(model.features)}", field=name, details={"allowed": model.features})
        fs = spec[name]
        if fs.kind != "numeric":
            cats = [str(c) for c in fs.categories]
            chosen = cats if not values else [str(v).strip() for v in values]
            bad = [v for v in chosen if v not in cats]
            if bad:
                raise ValidationError(f"{name}: value {bad[0]!r} was never seen in training; allowed: {', '.join(cats)}",
                                      field=name, details={"allowed": cats})
            out.append(Actionable(name, "categorical", values=tuple(chosen)))
            continue
        if not values:
            raise ValidationError(f"numeric actionable feature {name!r} needs its allowed values, e.g. "
                                  f"{name}=-10%|+5|20", field=name)
        absolute, changes = [], []
        for v in values:
            text = str(v).strip()
            if m := _RELATIVE.match(text):
                changes.append(("pct", float(m.group(2)) * (-1 if m.group(1) == "-" else 1)))
            elif m := _DELTA.match(text):
                changes.append(("delta", float(m.group(2)) * (-1 if m.group(1) == "-" else 1)))
            else:
                try:
                    absolute.append(float(text))
                except ValueError:
                    raise ValidationError(f"{name}: {text!r} is not a number, a change such as +5 or a percentage "
                                          "such as -10%", field=name) from None
        out.append(Actionable(name, "numeric", values=tuple(absolute), changes=tuple(changes)))
    if not out:
        raise ValidationError("name at least one actionable feature", field="actionable")
    return out


def _candidates(a: Actionable, current: Any, spec) -> list[Any]:
    if a.kind == "categorical":
        return [v for v in a.values if v != (None if pd.isna(current) else str(current))]
    cur = float(current) if current is not None and not pd.isna(current) else None
    vals = list(a.values)
    if cur is not None:
        for kind, amount in a.changes:
            vals.append(cur * (1 + amount / 100.0) if kind == "pct" else cur + amount)
    lo = spec.min if spec.min is not None else -np.inf
    hi = spec.max if spec.max is not None else np.inf
    vals = [float(np.clip(v, lo, hi)) for v in vals]  # stay inside what the model saw
    return sorted({round(v, 10) for v in vals if cur is None or abs(v - cur) > 1e-12})


def _risk(model, frame: pd.DataFrame) -> np.ndarray:
    from aihub.ml.predict import predict

    return predict(model, frame)["probability"].to_numpy(dtype=float)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return repr(str(v))


def next_best_actions(model, customers: pd.DataFrame, actionable: dict[str, list[Any] | None] | list[str],
                      params: ActionParams | dict[str, Any] | None = None, *, id_columns: list[str] | None = None,
                      **overrides: Any) -> pd.DataFrame:
    """Suggested actions for every at-risk customer, largest estimated fall in risk first.

    Parameters
    ----------
    model : aihub.ml.TrainedModel
        Binary classification model (risk = probability of its positive class).
    customers : DataFrame of shape (n_customers, >= n_features)
    actionable : list or dict
        See :func:`parse_actionable`.
    params : ActionParams or dict, optional
    id_columns : list of str, optional
        Columns copied to the output to identify customers; default: the
        columns the model left out (identifiers such as ``customerID``) that
        are unique per row of ``customers``.

    Returns
    -------
    DataFrame with the id columns, then
    :data:`OUTPUT_COLUMNS`: ``row`` (1-based input row), ``rank`` (1 = largest
    drop), risks as probabilities (0 to 1), ``shap_contribution`` (in the
    explainer's output space: probability or log-odds), and ``action`` (one
    sentence stating the estimate). Customers at risk for whom no action
    lowers the risk by ``min_risk_drop`` get one row with ``feature`` empty
    and that said in ``action``. Rows that cannot be scored are left out.

    Raises
    ------
    ValidationError
        Not a binary classifier, bad settings, or bad actionable features.
    """
    from aihub.ml.explain import explain
    from aihub.ml.predict import predict

    p = parse(ActionParams, {**(params.model_dump() if isinstance(params, ActionParams) else dict(params or {})),
                             **{k: v for k, v in overrides.items() if v is not None}}, what="Next best action settings")
    if model.task != "classification" or len(model.classes or []) != 2:
        raise ValidationError("next best actions need a binary classification model (such as churn)", field="model")
    require_frame(customers, "customers table")
    acts = parse_actionable(model, actionable)
    spec = {f.name: f for f in model.feature_schema}
    scored = predict(model, customers)
    risk = scored["probability"].to_numpy(dtype=float)
    at_risk = np.flatnonzero(np.nan_to_num(risk, nan=-1.0) >= p.risk_threshold)
    if id_columns is None:
        ids = [c for c in model.excluded_columns if c in customers.columns and customers[c].is_unique]
    else:
        for c in id_columns:
            require_columns(customers, {"id_columns": c}, "customers table")
        ids = list(id_columns)
    if len(at_risk) == 0:
        return pd.DataFrame(columns=[*ids, *OUTPUT_COLUMNS])
    rows = customers.iloc[at_risk]
    ex = explain(model, rows[model.features])
    contrib = ex.contributions.to_numpy()
    feat_pos = {f: i for i, f in enumerate(model.features)}
    # one batch with every candidate change of every at-risk customer
    variants, keys = [], []
    for j in range(len(rows)):
        base = rows.iloc[j]
        for a in acts:
            if p.only_reasons and contrib[j, feat_pos[a.feature]] <= 0:
                continue
            for v in _candidates(a, base[a.feature], spec[a.feature]):
                variants.append(base.to_dict() | {a.feature: v})
                keys.append((j, a.feature, v))
    new_risk = _risk(model, pd.DataFrame(variants, columns=rows.columns)) if variants else np.zeros(0)
    best: dict[tuple[int, str], tuple[Any, float]] = {}
    for (j, feat, v), r in zip(keys, new_risk):
        if np.isfinite(r) and ((j, feat) not in best or r < best[(j, feat)][1]):
            best[(j, feat)] = (v, float(r))
    label = model.output_label.lower() if model.config.model_type == "churn_prediction" else "risk"
    chosen: dict[int, list[tuple[str, Any, float]]] = {}
    for (j, feat), (v, r) in best.items():
        if risk[at_risk[j]] - r >= p.min_risk_drop:
            chosen.setdefault(j, []).append((feat, v, r))
    combined = {}
    combo_rows = []
    for j, items in chosen.items():
        items.sort(key=lambda t: t[2])
        chosen[j] = items[: p.max_actions]
        combo_rows.append(rows.iloc[j].to_dict() | {f: v for f, v, _ in chosen[j]})
    if combo_rows:
        combo_risk = _risk(model, pd.DataFrame(combo_rows, columns=rows.columns))
        combined = dict(zip(chosen, combo_risk))
    out = []
    for j in range(len(rows)):
        i = int(at_risk[j])
        idvals = {c: customers[c].iloc[i] for c in ids}
        cur = float(risk[i])
        if j not in chosen:
            out.append({**idvals, "row": i + 1, "rank": None, "current_risk": cur, "feature": None,
                        "current_value": None, "suggested_value": None, "new_risk": None, "risk_drop": None,
                        "shap_contribution": None, "risk_if_all_applied": None,
                        "action": f"No allowed change lowers the model's {label} ({cur:.2f}) by "
                                  f"{p.min_risk_drop:.2f} or more."})
            continue
        for rank, (feat, v, r) in enumerate(chosen[j], 1):
            now = rows.iloc[j][feat]
            out.append({**idvals, "row": i + 1, "rank": rank, "current_risk": cur, "feature": feat,
                        "current_value": now, "suggested_value": v, "new_risk": r, "risk_drop": cur - r,
                        "shap_contribution": float(contrib[j, feat_pos[feat]]),
                        "risk_if_all_applied": float(combined[j]),
                        "action": f"Set {feat} to {_fmt(v)} (now {_fmt(now)}): the model's {label} would drop from "
                                  f"{cur:.2f} to {r:.2f}. A model estimate, not a promise."})
    frame = pd.DataFrame(out, columns=[*ids, *OUTPUT_COLUMNS])
    order = frame.groupby("row")["risk_drop"].transform("max").fillna(-1.0)
    return frame.assign(_o=order).sort_values(["_o", "row", "rank"], ascending=[False, True, True],
                                              kind="stable").drop(columns="_o").reset_index(drop=True)
