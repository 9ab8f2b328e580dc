"""One form row without pandas: the validation, preprocessing, prediction and reasons of a single prediction.

:func:`aihub.ml.predict.predict_one` used to put one row through the batch machinery: a one-row
``DataFrame``, the column validator, ``FrameCoercer`` and every fitted scikit-learn block (each with its own
input checks), an output ``DataFrame`` and a display ``DataFrame`` for the reasons. For one row that
machinery costs several times the work itself (about 25 ms of a 60 ms prediction on the Telco forest).

A :class:`RowPlan` is built once per model (kept in ``model._cache``) from its fitted pipeline:

* numeric cells are parsed by the cell parser the batch path uses for a form row
  (:func:`aihub.ml.preprocess._number_cell`), or read as the number pandas would hold;
* the numeric block (``SimpleImputer`` with or without its missing indicator, then an optional
  ``StandardScaler``) is computed with the same float64 operations scikit-learn does (fill with
  ``statistics_``; ``x - mean_``; ``/ scale_``);
* a category block (imputer, then ``OneHotEncoder`` or ``TargetEncoder``, then an optional scaler) works
  column by column, so its output for a cell is looked up in a table of **the fitted block's own output**
  for every category it knows, the blank cell and an unseen value, made once when the plan is built.

The plan checks itself when it is built: each probe row (rows of the model's explanation background, a
blank row and a row of unseen values) must come out bit for bit equal to ``model.transform`` of it as a
one-row frame. A model the plan does not cover (date or text features, orders tables, segmentation, another
step, a failed check) gets ``None`` and the general path; so does a value of a type the plan does not emulate (anything but ``None``, ``str``,
``bool``, ``int`` and ``float``; an infinite float).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub.ml.model import TrainedModel
from aihub.ml.preprocess import _number_cell
from aihub.ml.validate import RowIssue, _known_categories

log = logging.getLogger(__name__)

#: A value no category table holds (an unseen category).
_UNSEEN = "\x00aihub-unseen\x00"


def _category_cell(v: Any) -> Any:
    """:func:`aihub.ml.preprocess.to_category_strings` of a one-row column holding the plain value ``v``."""
    if type(v) is str:
        return v.strip() or np.nan
    if v is None:
        return np.nan
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        if math.isnan(v):
            return np.nan
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v).strip() or np.nan  # int


def _number(v: Any) -> tuple[float, bool] | None:
    """``(number or NaN, unparseable)`` as :func:`aihub.ml.preprocess.parse_numeric` gives for a one-row
    column holding ``v``; None for a value whose column pandas would type otherwise (the general path)."""
    if v is None or type(v) is str:
        return _number_cell(v)
    if isinstance(v, bool):  # a bool column: 1.0 / 0.0
        return float(v), False
    if isinstance(v, int) and abs(v) >= 2**53:  # pandas may keep it as an object column
        return None
    if isinstance(v, (int, float)):
        f = float(v)
        if math.isinf(f):  # its message quotes numpy's repr: the general path words it
            return None
        return f, False
    return None


@dataclass
class _CategoryBlock:
    start: int
    stop: int
    columns: list[str]
    tables: list[dict[str, np.ndarray]]  # per column: category -> its output cells
    blank: list[np.ndarray]
    unseen: list[np.ndarray]


class RowPlan:
    """Validate and preprocess one ``{feature: value}`` row of a model without pandas.

    Build it with :func:`row_plan`. ``check`` gives the validation issues and the parsed cells,
    ``transform`` the preprocessed row, both equal to what :func:`aihub.ml.validate.validate` and
    :meth:`aihub.ml.model.TrainedModel.transform` give for the same row as a one-row frame.
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        prepare = model.pipeline.named_steps["prepare"]
        pre = model.pipeline.named_steps["preprocess"]
        self.specs = list(model.feature_schema)
        self.features = [s.name for s in self.specs]
        self.drop_mode = model.config.feature_engineering.handle_missing == "drop"
        self.known = _known_categories(model)
        self.log_columns = set(prepare.log_columns)
        self.width = len(model.transformed_origins)
        self.numeric: list[tuple[int, int, list[str], Any, Any]] = []
        self.categories: list[_CategoryBlock] = []
        start = 0
        for name, trans, cols in pre.transformers_:
            if isinstance(trans, str):
                if trans != "drop":
                    raise _Unsupported(f"block {name} is {trans}")
                continue
            cols = list(cols) if not isinstance(cols, str) else [cols]
            if not cols:
                continue
            if name == "num":
                stop = start + self._numeric_width(trans, cols)
                self.numeric.append((start, stop, cols, *self._numeric_steps(trans)))
            elif name in ("cat", "te"):
                block = self._category_block(trans, cols, start)
                stop = block.stop
                self.categories.append(block)
            else:
                raise _Unsupported(f"block {name}")
            start = stop
        if start != self.width:
            raise _Unsupported("block widths do not add up to the transformed columns")

    # ------------------------------------------------------------------ building
    @staticmethod
    def _numeric_steps(trans) -> tuple[Any, Any]:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        if not isinstance(trans, Pipeline):
            raise _Unsupported("numeric block is not a pipeline")
        steps = [s for _, s in trans.steps]
        if not steps or type(steps[0]) is not SimpleImputer or len(steps) > 2:
            raise _Unsupported("numeric block steps")
        imp = steps[0]
        if not (isinstance(imp.missing_values, float) and math.isnan(imp.missing_values)):
            raise _Unsupported("imputer missing_values")
        if not np.all(np.isfinite(np.asarray(imp.statistics_, dtype=float))):
            raise _Unsupported("imputer with empty columns")
        scaler = steps[1] if len(steps) == 2 else None
        if scaler is not None and type(scaler) is not StandardScaler:
            raise _Unsupported("numeric block scaler")
        return imp, scaler

    def _numeric_width(self, trans, cols: list[str]) -> int:
        imp, _ = self._numeric_steps(trans)
        extra = len(imp.indicator_.features_) if getattr(imp, "indicator_", None) is not None else 0
        return len(cols) + extra

    def _category_block(self, trans, cols: list[str], start: int) -> _CategoryBlock:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

        if not isinstance(trans, Pipeline):
            raise _Unsupported("category block is not a pipeline")
        kinds = [type(s) for _, s in trans.steps]
        if (len(kinds) not in (2, 3) or kinds[0] is not SimpleImputer or kinds[1] not in (OneHotEncoder, TargetEncoder)
                or (len(kinds) == 3 and kinds[2] is not StandardScaler)):
            raise _Unsupported("category block steps")
        enc = trans.steps[1][1]
        if getattr(enc, "sparse_output", False):
            raise _Unsupported("sparse one-hot output")
        origins = self.model.transformed_origins
        # each column's output cells, by the origins of the transformed columns after this block's start
        spans, pos = [], start
        for c in cols:
            n = 0
            while pos + n < len(origins) and origins[pos + n] == c:
                n += 1
            if n == 0:
                raise _Unsupported(f"no transformed column comes from {c}")
            spans.append((pos - start, pos - start + n))
            pos += n
        values: list[list[Any]] = []
        for j, cats in enumerate(enc.categories_):
            values.append([str(c) for c in cats] + [np.nan, _UNSEEN])
        rows = sum(len(v) for v in values)
        first = [v[0] for v in values]
        probe = np.empty((rows, len(cols)), dtype=object)
        probe[:] = first
        r = 0
        for j, vs in enumerate(values):
            probe[r:r + len(vs), j] = vs
            r += len(vs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unseen values warn
            out = np.asarray(trans.transform(pd.DataFrame(probe, columns=cols)), dtype=np.float64)
        tables, blank, unseen = [], [], []
        r = 0
        for j, vs in enumerate(values):
            a, b = spans[j]
            cells = out[r:r + len(vs), a:b]
            tables.append({v: cells[i].copy() for i, v in enumerate(vs[:-2])})
            blank.append(cells[-2].copy())
            unseen.append(cells[-1].copy())
            r += len(vs)
        return _CategoryBlock(start, pos, cols, tables, blank, unseen)

    # ------------------------------------------------------------------ serving
    def check(self, values: dict[str, Any]) -> tuple[list[RowIssue], dict[str, Any]] | None:
        """Issues and parsed cells of one row, as :func:`aihub.ml.validate.validate` of a one-row frame.

        Returns
        -------
        issues : list of RowIssue
            Fatal ones first, then warnings, each in feature order (``row`` is 1).
        cells : dict
            Feature -> float (NaN when blank) or category text (NaN when blank).
        None
            For a value the plan does not emulate (the caller takes the general path).
        """
        fatal: list[RowIssue] = []
        warn: list[RowIssue] = []
        cells: dict[str, Any] = {}
        for spec in self.specs:
            v = values.get(spec.name)
            if spec.kind == "numeric":
                parsed = _number(v)
                if parsed is None:
                    return None
                num, bad = parsed
                if bad:
                    if spec.unparseable_share > 0 and not self.drop_mode:
                        warn.append(RowIssue(1, spec.name, v, f"row 1: {spec.name} = {v!r} is not a number; treated as "
                                                              "blank as in training", fatal=False))
                    else:
                        fatal.append(RowIssue(1, spec.name, v, f"row 1: {spec.name} = {v!r} is not a number"))
                elif self.drop_mode and math.isnan(num):
                    fatal.append(RowIssue(1, spec.name, None, f"row 1: {spec.name} is blank and this model needs a value"))
                cells[spec.name] = num
            else:
                if v is not None and not isinstance(v, (str, int, float)):
                    return None
                cat = _category_cell(v)
                if not isinstance(cat, str):
                    if self.drop_mode:
                        fatal.append(RowIssue(1, spec.name, None, f"row 1: {spec.name} is blank and this model needs a value"))
                else:
                    allowed = self.known.get(spec.name)
                    if allowed and cat not in allowed:
                        warn.append(RowIssue(1, spec.name, cat, f"row 1: {spec.name} = {cat!r} was not seen in training; "
                                                                "predicted as an unknown value", fatal=False))
                cells[spec.name] = cat
        return fatal + warn, cells

    def transform(self, cells: dict[str, Any]) -> np.ndarray:
        """The preprocessed row, shape (1, n_transformed), equal to ``model.transform`` of the row."""
        out = np.empty((1, self.width), dtype=np.float64)
        for start, stop, cols, imp, scaler in self.numeric:
            x = np.array([[cells[c] for c in cols]], dtype=np.float64)
            if self.log_columns:
                for j, c in enumerate(cols):
                    if c in self.log_columns:
                        col = x[:, j]
                        x[:, j] = np.sign(col) * np.log1p(np.abs(col))
            missing = np.isnan(x)
            filled = np.where(missing, np.asarray(imp.statistics_, dtype=np.float64)[None, :], x)
            if getattr(imp, "indicator_", None) is not None:
                filled = np.hstack((filled, missing[:, imp.indicator_.features_].astype(np.float64)))
            if scaler is not None:
                if scaler.with_mean:
                    filled -= scaler.mean_
                if scaler.with_std:
                    filled /= scaler.scale_
            out[0, start:stop] = filled[0]
        for block in self.categories:
            pos = block.start
            for j, c in enumerate(block.columns):
                v = cells[c]
                cell = block.blank[j] if not isinstance(v, str) else block.tables[j].get(v, block.unseen[j])
                out[0, pos:pos + len(cell)] = cell
                pos += len(cell)
        return out


class _Unsupported(Exception):
    """The plan does not cover this model (it takes the general path)."""


def _self_check(plan: RowPlan, model: TrainedModel, n_rows: int = 12) -> bool:
    """Probe rows through the plan equal ``model.transform`` of each as a one-row frame, bit for bit.

    The probes: up to ``n_rows`` rows of the model's explanation background, a blank row and a row of unseen
    values. One-row frames, because that is the path the plan replaces (a numeric ufunc such as ``log1p`` may
    round a long column differently in its last bit).
    """
    probes: list[dict[str, Any]] = []
    bg = model.explain_background
    if bg is not None and all(f in bg.columns for f in plan.features):
        head = bg[plan.features].head(n_rows)
        probes += head.astype(object).where(head.notna(), None).to_dict("records")
    probes.append({f: None for f in plan.features})
    probes.append({s.name: (_UNSEEN if s.kind != "numeric" else -1.5e9) for s in plan.specs})
    for p in probes:
        checked = plan.check(p)
        if checked is None:
            return False
        expected = model.transform(pd.DataFrame([p], columns=plan.features))
        got = plan.transform(checked[1])
        if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=True):
            return False
    return True


def row_plan(model: TrainedModel) -> RowPlan | None:
    """The model's :class:`RowPlan` (built once and kept in ``model._cache``), or None when it does not apply.

    Applies to classification and regression models on numeric and category features without an orders
    table (``data_prep``), whose preprocessing is made of the blocks :func:`aihub.ml.pipeline.build_preprocessor`
    writes for them, after the plan passed its self-check.
    """
    key = "row_plan"
    if key in model._cache:
        return model._cache[key]
    plan = None
    if (model.task in ("classification", "regression") and model.config.data_prep is None
            and all(s.kind in ("numeric", "categorical") for s in model.feature_schema)):
        try:
            candidate = RowPlan(model)
            if _self_check(candidate, model):
                plan = candidate
        except _Unsupported:
            plan = None
        except Exception:
            log.warning("no single-row plan for this model; single predictions take the frame path", exc_info=True)
            plan = None
    model._cache[key] = plan
    return plan


__all__ = ["RowPlan", "row_plan"]
