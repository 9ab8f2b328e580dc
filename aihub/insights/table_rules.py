"""Segments as rules: conditions on a table's columns, applied to rows and said in plain words.

A rule is a list of conditions ``{"column", "op", "value"}`` (see
:func:`rule_mask`). The detectors build them from a group of a column
(:func:`group_rule`) or a decision-tree path (:func:`path_rule`), always on
values the table holds, so the words and the rows they select agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from aihub.insights.formatting import render
from aihub.insights.table_common import plain_number
from aihub.insights.tables import TableInput, labels_of

__all__ = ["code_range", "describe_rule", "group_rule", "label_list", "leaf_paths", "path_rule", "rule_mask"]


def rule_mask(conditions: Sequence[dict[str, Any]], frame: pd.DataFrame) -> np.ndarray:
    """Rows of ``frame`` that satisfy every condition of a rule.

    Parameters
    ----------
    conditions : list of dict
        ``{"column", "op", "value"}`` with ``op`` one of ``=`` (a number or a
        label), ``<=``, ``>=``, ``between`` (value ``[low, high]``, both
        included), ``in`` / ``not in`` (a list of labels), ``missing``.
        Labels are compared as text (``2.0`` and ``2`` are both ``"2"``).
    frame : pandas.DataFrame
        The table (original or :attr:`TableInput.data`).

    Returns
    -------
    numpy.ndarray of bool, shape (n_rows,)
        Missing values satisfy only ``missing`` (and ``not in`` when
        ``"(missing)"`` is not listed).
    """
    mask = np.ones(len(frame), dtype=bool)
    for c in conditions:
        col, op, value = c["column"], c["op"], c.get("value")
        s = frame[col]
        if op == "missing":
            mask &= s.isna().to_numpy()
            continue
        if op in ("<=", ">=", "between") or (op == "=" and isinstance(value, (int, float))):
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                if op == "<=":
                    mask &= x <= float(value)
                elif op == ">=":
                    mask &= x >= float(value)
                elif op == "between":
                    mask &= (x >= float(value[0])) & (x <= float(value[1]))
                else:
                    mask &= x == float(value)
            continue
        labels = labels_of(s).fillna("(missing)").to_numpy(dtype=object)
        if op == "=":
            mask &= labels == str(value)
        elif op == "in":
            mask &= np.isin(labels, [str(v) for v in value])
        elif op == "not in":
            mask &= ~np.isin(labels, [str(v) for v in value])
        else:
            raise ValueError(f"unknown rule operator {op!r}")
    return mask


def _amount(t: TableInput, column: str, key: str) -> tuple[str, dict[str, Any]]:
    """Placeholder text for a number of ``column`` (money in its currency, else compact with its unit)."""
    cur = t.currency_of(column)
    unit = t.unit_of(column)
    if cur:
        return "{" + key + ":money}", {}
    return "{" + key + ":qty}" + ("{" + key + "_u}" if unit else ""), ({key + "_u": f" {unit}"} if unit else {})


def label_list(labels: Sequence[str], key: str, figs: dict[str, Any], conj: str = "or") -> str:
    """Template text ``"{key_0}, {key_1} or {key_2}"`` for ``labels``, which are added to ``figs`` as values."""
    names = [f"{key}_{i}" for i in range(len(labels))]
    for n, v in zip(names, labels, strict=True):
        figs[n] = v
    ph = ["{" + n + "}" for n in names]
    return ph[0] if len(ph) == 1 else ", ".join(ph[:-1]) + f" {conj} " + ph[-1]


def describe_rule(conditions: Sequence[dict[str, Any]], t: TableInput) -> str:
    """A rule in plain words: ``"Income 71 k or more and Teenhome = 0"``.

    Numbers are formatted by the column's confirmed role (money in its
    currency, else compact with its unit); column names and labels are
    inserted as values, never as template text.
    """
    parts: list[str] = []
    for c in conditions:
        col, op, value = c["column"], c["op"], c.get("value")
        figs: dict[str, Any] = {"col": col}
        cur = t.currency_of(col) or "USD"
        if op == "missing":
            tpl = "{col} missing"
        elif op in ("<=", ">=", "between") or (op == "=" and isinstance(value, (int, float))):
            if op == "between":
                a, fa = _amount(t, col, "a")
                b, fb = _amount(t, col, "b")
                figs.update(fa, **fb, a=value[0], b=value[1])
                tpl = "{col} from " + a + " to " + b
            else:
                v, fv = _amount(t, col, "v")
                figs.update(fv, v=value)
                tpl = "{col} " + {"<=": "up to " + v, ">=": v + " or more", "=": "= " + v}[op]
        elif op == "=":
            figs["v"] = str(value)
            tpl = "{col} = {v}"
        elif op in ("in", "not in"):
            vals = [str(v) for v in value]
            word = "= " if op == "in" else "other than "
            if len(vals) > 3:
                figs["k"] = len(vals)
                shown = label_list(vals[:3], "l", figs)
                tpl = "{col} " + word + "one of {k:count} values (" + shown + ", ...)"
            else:
                tpl = "{col} " + word + label_list(vals, "l", figs)
        else:
            raise ValueError(f"unknown rule operator {op!r}")
        parts.append(render(tpl, figs, cur)[0])
    return " and ".join(parts)


def group_rule(
    column: str, numeric: bool, group: int, ranges: list[tuple[float, float]], cats: list[str]
) -> list[dict]:
    """The rule of one group of a driver column: its value, a quantile bin's observed range, missing or "other"."""
    if not numeric:
        label = cats[group]
        if label == "(missing)":
            return [{"column": column, "op": "missing"}]
        if label == "(other)":
            return [{"column": column, "op": "not in", "value": [c for c in cats if c not in ("(other)",)]}]
        return [{"column": column, "op": "=", "value": label}]
    lo, hi = ranges[group]
    if not math.isfinite(lo):
        return [{"column": column, "op": "missing"}]
    finite = [r for r in ranges if math.isfinite(r[0])]
    if lo == hi:
        return [{"column": column, "op": "=", "value": plain_number(lo)}]
    if group == 0:
        return [{"column": column, "op": "<=", "value": plain_number(hi)}]
    if group == len(finite) - 1:
        return [{"column": column, "op": ">=", "value": plain_number(lo)}]
    return [{"column": column, "op": "between", "value": [plain_number(lo), plain_number(hi)]}]


def leaf_paths(tree: Any) -> dict[int, list[tuple[int, str, float]]]:
    """``{leaf node: [(feature index, "<=" or ">", threshold), ...]}`` of a fitted scikit-learn tree."""
    tr = tree.tree_
    paths: dict[int, list[tuple[int, str, float]]] = {}
    stack = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = tr.children_left[node], tr.children_right[node]
        if left == right:
            paths[node] = path
            continue
        f, thr = int(tr.feature[node]), float(tr.threshold[node])
        stack.append((left, [*path, (f, "<=", thr)]))
        stack.append((right, [*path, (f, ">", thr)]))
    return paths


def path_rule(path, features, orders, t: TableInput) -> list[dict[str, Any]] | None:
    """Turn a tree path into conditions on observed values (equivalent on the table's rows)."""
    bounds: dict[int, list[float]] = {}
    for f, op, thr in path:
        lo, hi = bounds.setdefault(f, [-math.inf, math.inf])
        if op == "<=":
            bounds[f][1] = min(hi, thr)
        else:
            bounds[f][0] = max(lo, thr)
    conds = []
    for f, (lo, hi) in bounds.items():
        name = features[f]
        if name in orders:
            order = orders[name]
            chosen = [c for i, c in enumerate(order) if lo < i <= hi]
            rest = [c for c in order if c not in chosen]
            if not chosen or not rest:
                return None
            ranged = code_range(name, chosen, t)
            if ranged is not None:
                conds.append(ranged)
            elif len(chosen) == 1:
                conds.append(
                    {"column": name, "op": "=", "value": chosen[0]}
                    if chosen[0] != "(missing)"
                    else {"column": name, "op": "missing"}
                )
            elif len(chosen) <= len(rest):
                conds.append({"column": name, "op": "in", "value": chosen})
            elif len(rest) == 1 and rest[0] != "(missing)":
                conds.append({"column": name, "op": "not in", "value": rest})
            else:
                conds.append({"column": name, "op": "not in", "value": rest})
            continue
        vals = np.unique(t.data[name].to_numpy(dtype=float))
        vals = vals[np.isfinite(vals)]
        inside = vals[(vals > lo) & (vals <= hi)]
        if len(inside) == 0:
            return None
        if len(inside) == 1:
            conds.append({"column": name, "op": "=", "value": plain_number(inside[0])})
        elif not math.isfinite(lo):
            conds.append({"column": name, "op": "<=", "value": plain_number(inside.max())})
        elif not math.isfinite(hi):
            conds.append({"column": name, "op": ">=", "value": plain_number(inside.min())})
        else:
            conds.append(
                {"column": name, "op": "between", "value": [plain_number(inside.min()), plain_number(inside.max())]}
            )
    return conds


def code_range(column: str, chosen: list[str], t: TableInput) -> dict[str, Any] | None:
    """A set of numeric codes (hours, months, classes 0-4) as one range condition when it is a run of the codes."""
    try:
        values = sorted({float(v) for v in t.data[column].dropna()})
        picked = sorted(float(v) for v in chosen)
    except (TypeError, ValueError):
        return None
    if not picked or len(values) < 3:
        return None
    i = values.index(picked[0]) if picked[0] in values else -1
    if i < 0 or values[i : i + len(picked)] != picked:
        return None
    lo, hi = plain_number(picked[0]), plain_number(picked[-1])
    if lo == hi:
        return {"column": column, "op": "=", "value": lo}
    if i == 0:
        return {"column": column, "op": "<=", "value": hi}
    if i + len(picked) == len(values):
        return {"column": column, "op": ">=", "value": lo}
    return {"column": column, "op": "between", "value": [lo, hi]}
