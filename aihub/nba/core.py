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
4. Choose without over-fitting the chooser. Picking the largest of many noisy
   estimated effects per customer favours actions whose estimate happens to be
   high (the winner's curse; Smith & Winkler 2006, "The Optimizer's Curse",
   Management Science 52(3), 311-322). So, when the training table is given,
   ``folds`` cross-fitted copies of the model (same configuration, each trained
   without one fold) re-score every change, and:

   * each customer's effect of a change is the members' mean, shrunk toward
     that change's mean effect over the at-risk customers by the normal-normal
     empirical Bayes weight ``tau^2 / (tau^2 + s^2 / K)`` (``s^2`` the members'
     variance for this customer, ``tau^2`` the between-customer variance net of
     it; Efron & Morris 1975);
   * the **global action**, the change with the largest mean effect over the
     at-risk customers, is each customer's default; another change replaces it
     only when its shrunk effect is larger and **every** member estimates it
     larger for this customer ("the global action unless the customer's own
     evidence says otherwise").

   Without the training table the single model is the only member: effects
   are not shrunk and the rule cannot check agreement, so any larger estimate
   wins (the first version's behaviour).
5. List the chosen action first and then the next best changes (one value per
   feature, shrunk effect at least ``min_risk_drop``) up to ``max_actions``, and
   the risk with all of them applied at once.

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
    "estimated_drop", "estimated_drop_low", "basis", "shap_contribution", "risk_if_all_applied", "action",
)
_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*%$")
_DELTA = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)$")


class ActionParams(UserConfig):
    """Settings of :func:`next_best_actions`."""

    risk_threshold: float = Field(0.5, ge=0.0, le=1.0, description="customers at or above this risk get actions")
    max_actions: int = Field(3, ge=1, le=20, description="actions listed per customer")
    min_risk_drop: float = Field(0.01, ge=0.0, le=1.0, description="smallest fall in risk worth suggesting")
    only_reasons: bool = Field(True, description="only change features that raise this customer's risk (SHAP > 0)")
    folds: int = Field(5, ge=2, le=10, description="cross-fitted models when the training table is given")
    seed: int = Field(0, ge=0)


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


def cross_fitted_models(model, training: pd.DataFrame, folds: int = 5, seed: int = 0) -> list:
    """``folds`` copies of ``model`` retrained with its own configuration, each without one stratified fold.

    Parameters
    ----------
    model : aihub.ml.TrainedModel
    training : DataFrame with the model's features and target column
    folds : int, default 5
    seed : int, default 0

    Returns
    -------
    list of TrainedModel

    Raises
    ------
    ValidationError
        The table lacks the target column, or a fold leaves one class only.
    """
    from sklearn.model_selection import StratifiedKFold

    from aihub.ml.train import train_model

    target = model.config.target
    require_columns(training, {"target": target}, "training table")
    y = training[target].astype(str).to_numpy()
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [train_model(model.config, training.iloc[keep].reset_index(drop=True))
            for keep, _ in split.split(np.zeros(len(y)), y)]


@dataclass
class _Changes:
    keys: list[tuple[int, str, Any]]          # (customer j, feature, value)
    drops: np.ndarray                         # (members, changes): risk now - risk changed
    main_new: np.ndarray                      # (changes,): the deployed model's risk after the change


def _changes(model, members: list, rows: pd.DataFrame, acts: list[Actionable], contrib: np.ndarray,
             only_reasons: bool) -> _Changes:
    spec = {f.name: f for f in model.feature_schema}
    feat_pos = {f: i for i, f in enumerate(model.features)}
    variants, keys = [], []
    for j in range(len(rows)):
        base = rows.iloc[j]
        for a in acts:
            if only_reasons and contrib[j, feat_pos[a.feature]] <= 0:
                continue
            for v in _candidates(a, base[a.feature], spec[a.feature]):
                variants.append(base.to_dict() | {a.feature: v})
                keys.append((j, a.feature, v))
    if not variants:
        return _Changes(keys, np.zeros((len(members), 0)), np.zeros(0))
    frame = pd.DataFrame(variants, columns=rows.columns)
    js = np.array([k[0] for k in keys])
    changed = [_risk(m, frame) for m in members]
    drops = np.vstack([_risk(m, rows)[js] - c for m, c in zip(members, changed)])
    main_new = changed[0] if members == [model] else _risk(model, frame)
    return _Changes(keys, np.nan_to_num(drops, nan=-np.inf), main_new)


def _shrunk(ch: _Changes) -> tuple[np.ndarray, dict[tuple[str, Any], float]]:
    """Per change: the members' mean effect shrunk toward the change's mean over customers; and those means."""
    k = ch.drops.shape[0]
    mean = ch.drops.mean(axis=0)
    var = ch.drops.var(axis=0, ddof=1) if k > 1 else np.zeros_like(mean)
    out = mean.copy()
    population: dict[tuple[str, Any], float] = {}
    labels = pd.Series([(f, v) for _, f, v in ch.keys])
    for change, idx in labels.groupby(labels).groups.items():
        i = np.asarray(idx)
        mu = float(np.mean(mean[i]))
        population[change] = mu
        if k > 1:
            noise = var[i] / k
            tau2 = max(float(np.var(mean[i])) - float(np.mean(noise)), 0.0)
            w = np.where(noise > 0, tau2 / (tau2 + noise), 1.0)
            out[i] = mu + w * (mean[i] - mu)
    return out, population


def _global_change(ch: _Changes, population: dict, n_customers: int) -> tuple[str, Any] | None:
    """The change with the largest mean effect over all at-risk customers (0 where it does not apply)."""
    counts = pd.Series([(f, v) for _, f, v in ch.keys]).value_counts()
    totals = {c: mu * counts[c] / n_customers for c, mu in population.items()}
    return max(totals, key=totals.get) if totals else None


def _choose(ch: _Changes, shrunk: np.ndarray, glob: tuple[str, Any] | None,
            p: ActionParams) -> dict[int, list[tuple[int, str]]]:
    """Per customer j: [(change index, basis)], the chosen action first (module docstring, step 4)."""
    several = ch.drops.shape[0] > 1
    by_customer: dict[int, list[int]] = {}
    for i, (j, _, _) in enumerate(ch.keys):
        by_customer.setdefault(j, []).append(i)
    chosen: dict[int, list[tuple[int, str]]] = {}
    for j, idx in by_customer.items():
        best_per_feature: dict[str, int] = {}
        for i in idx:
            f = ch.keys[i][1]
            if f not in best_per_feature or shrunk[i] > shrunk[best_per_feature[f]]:
                best_per_feature[f] = i
        ranked = sorted(best_per_feature.values(), key=lambda i: -shrunk[i])
        first, basis = ranked[0], "personal"
        g = next((i for i in idx if (ch.keys[i][1], ch.keys[i][2]) == glob), None)
        if g is not None and (first == g or shrunk[first] <= shrunk[g]
                              or (several and not np.all(ch.drops[:, first] > ch.drops[:, g]))):
            first, basis = g, "global"
        if shrunk[first] < p.min_risk_drop:
            continue
        rest = [i for i in ranked if ch.keys[i][1] != ch.keys[first][1] and shrunk[i] >= p.min_risk_drop]
        chosen[j] = [(first, basis)] + [(i, "next") for i in rest[: p.max_actions - 1]]
    return chosen


def _action_text(feat: str, v: Any, now: Any, cur: float, r: float, basis: str, label: str, glob: str) -> str:
    why = {"global": "the change that lowers risk most across the at-risk customers; this customer's own estimates "
                     "do not robustly favour another",
           "personal": f"for this customer it beats the population's best change ({glob}) in every cross-fitted model",
           "next": "a further option"}[basis]
    return (f"Set {feat} to {_fmt(v)} (now {_fmt(now)}): the model's {label} would drop from {cur:.2f} to {r:.2f}; "
            f"{why}. A model estimate, not a promise.")


def next_best_actions(model, customers: pd.DataFrame, actionable: dict[str, list[Any] | None] | list[str],
                      params: ActionParams | dict[str, Any] | None = None, *, id_columns: list[str] | None = None,
                      training: pd.DataFrame | None = None, **overrides: Any) -> pd.DataFrame:
    """Suggested actions for every at-risk customer, largest estimated fall in risk first.

    Parameters
    ----------
    model : aihub.ml.TrainedModel
        Binary classification model (risk = probability of its positive class).
    customers : DataFrame of shape (n_customers, >= n_features)
    actionable : list or dict
        See :func:`parse_actionable`.
    params : ActionParams or dict, optional
        ``risk_threshold``, ``max_actions``, ``min_risk_drop``, ``only_reasons``, ``folds``, ``seed``.
    id_columns : list of str, optional
        Columns copied to the output to identify customers; default: the
        columns the model left out (identifiers such as ``customerID``) that
        are unique per row of ``customers``.
    training : DataFrame, optional
        The model's training table (features and target). Given, actions are
        chosen over ``folds`` cross-fitted models with shrinkage and the global
        default (module docstring, step 4); the deployed model still gives the
        reported risks.

    Returns
    -------
    DataFrame with the id columns, then :data:`OUTPUT_COLUMNS`: ``row``
    (1-based input row), ``rank`` (1 = the chosen action), ``current_risk`` and
    ``new_risk`` (the deployed model, 0 to 1), ``risk_drop`` (their difference),
    ``estimated_drop`` (the shrunk ensemble effect the choice used) and
    ``estimated_drop_low`` (its smallest member estimate), ``basis`` ("global",
    "personal" or "next"), ``shap_contribution`` (the explainer's output
    space: probability or log-odds), ``risk_if_all_applied`` and ``action``
    (one sentence stating the estimate). Customers at risk with no change
    worth ``min_risk_drop`` get one row with ``feature`` empty, said in
    ``action``. Rows that cannot be scored are left out.

    Raises
    ------
    ValidationError
        Not a binary classifier, bad settings, or bad actionable features.
    """
    from aihub.ml.explain import explain

    p = parse(ActionParams, {**(params.model_dump() if isinstance(params, ActionParams) else dict(params or {})),
                             **{k: v for k, v in overrides.items() if v is not None}}, what="Next best action settings")
    if model.task != "classification" or len(model.classes or []) != 2:
        raise ValidationError("next best actions need a binary classification model (such as churn)", field="model")
    require_frame(customers, "customers table")
    acts = parse_actionable(model, actionable)
    risk = _risk(model, customers)
    at_risk = np.flatnonzero(np.nan_to_num(risk, nan=-1.0) >= p.risk_threshold)
    ids = _id_columns(model, customers, id_columns)
    if len(at_risk) == 0:
        return pd.DataFrame(columns=[*ids, *OUTPUT_COLUMNS])
    rows = customers.iloc[at_risk]
    contrib = explain(model, rows[model.features]).contributions.to_numpy()
    members = cross_fitted_models(model, training, p.folds, p.seed) if training is not None else [model]
    ch = _changes(model, members, rows, acts, contrib, p.only_reasons)
    shrunk, population = _shrunk(ch)
    glob = _global_change(ch, population, len(rows))
    chosen = _choose(ch, shrunk, glob, p)
    return _table(model, customers, rows, at_risk, risk, ids, ch, shrunk, glob, chosen, contrib, p)


def _id_columns(model, customers: pd.DataFrame, id_columns: list[str] | None) -> list[str]:
    if id_columns is None:
        return [c for c in model.excluded_columns if c in customers.columns and customers[c].is_unique]
    for c in id_columns:
        require_columns(customers, {"id_columns": c}, "customers table")
    return list(id_columns)


def _table(model, customers, rows, at_risk, risk, ids, ch: _Changes, shrunk, glob, chosen, contrib,
           p: ActionParams) -> pd.DataFrame:
    label = model.output_label.lower() if model.config.model_type == "churn_prediction" else "risk"
    feat_pos = {f: i for i, f in enumerate(model.features)}
    glob_text = f"{glob[0]} = {_fmt(glob[1])}" if glob else ""
    combo_rows = [rows.iloc[j].to_dict() | {ch.keys[i][1]: ch.keys[i][2] for i, _ in items} for j, items in chosen.items()]
    combined = dict(zip(chosen, _risk(model, pd.DataFrame(combo_rows, columns=rows.columns)))) if combo_rows else {}
    out = []
    for j in range(len(rows)):
        i_row = int(at_risk[j])
        idvals = {c: customers[c].iloc[i_row] for c in ids}
        cur = float(risk[i_row])
        if j not in chosen:
            out.append({**idvals, "row": i_row + 1, "current_risk": cur,
                        "action": f"No allowed change lowers the model's {label} ({cur:.2f}) by "
                                  f"{p.min_risk_drop:.2f} or more."})
            continue
        for rank, (i, basis) in enumerate(chosen[j], 1):
            _, feat, v = ch.keys[i]
            now, r = rows.iloc[j][feat], float(ch.main_new[i])
            out.append({**idvals, "row": i_row + 1, "rank": rank, "current_risk": cur, "feature": feat,
                        "current_value": now, "suggested_value": v, "new_risk": r, "risk_drop": cur - r,
                        "estimated_drop": float(shrunk[i]), "estimated_drop_low": float(ch.drops[:, i].min()),
                        "basis": basis, "shap_contribution": float(contrib[j, feat_pos[feat]]),
                        "risk_if_all_applied": float(combined[j]),
                        "action": _action_text(feat, v, now, cur, r, basis, label, glob_text)})
    frame = pd.DataFrame(out, columns=[*ids, *OUTPUT_COLUMNS])
    order = frame.groupby("row")["estimated_drop"].transform("max").fillna(-1.0)
    return frame.assign(_o=order).sort_values(["_o", "row", "rank"], ascending=[False, True, True],
                                              kind="stable").drop(columns="_o").reset_index(drop=True)
