"""Insights on any table, on the real shared tables: every figure is recomputed here with plain pandas/scipy/sklearn."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import mutual_info_score

from aihub.errors import ValidationError
from aihub.ingest import read_upload
from aihub.insights import (
    DEFAULT_TYPE_WEIGHTS,
    DEFAULT_VALIDITY_DAYS,
    DETECTORS,
    INSIGHT_TYPES,
    InsightInputs,
    TableInput,
    TableRoles,
    generate_insights,
    infer_roles,
)
from aihub.insights.narratives import TEMPLATES
from tests.conftest import shared_file

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _pct(fraction: float) -> str:
    """Percent as narratives write it, formatted independently: whole percent from 10%, one decimal below."""
    p = fraction * 100
    return f"{round(p):.0f}%" if abs(round(p, 1)) >= 10 else f"{round(p, 1):g}%"


def _load(*parts: str) -> tuple[pd.DataFrame, list]:
    path = shared_file(*parts)
    up = read_upload(path.name, path.read_bytes())
    return up.typed(), up.schema


def _table(frame: pd.DataFrame, schema, name: str, **changes) -> TableInput:
    roles = infer_roles(frame, schema).suggested().model_copy(update=changes)
    return TableInput(frame, roles, dataset_id=name, dataset_name=name)


def _run(t: TableInput, **kw):
    out = generate_insights(InsightInputs(tables=[t]), now=NOW, **kw)
    for ins in out:  # the engine's rule: every number in the text is a computed figure
        assert ins.untraced_numbers() == [], (ins.title, ins.untraced_numbers())
    return out


def _one(out, insight_type: str, **figures):
    hits = [i for i in out if i.type == insight_type and all(i.figures.get(k) == v for k, v in figures.items())]
    assert hits, [(i.type, i.title) for i in out]
    return hits[0]


def _mask(frame: pd.DataFrame, conditions) -> pd.Series:
    """A rule applied with pandas alone (independent of aihub's rule_mask)."""
    m = pd.Series(True, index=frame.index)
    for c in conditions:
        col, op, v = frame[c["column"]], c["op"], c.get("value")
        if op == "missing":
            m &= col.isna()
        elif op in ("<=", ">=", "between") or (op == "=" and isinstance(v, (int, float))):
            x = pd.to_numeric(col, errors="coerce").astype(float)
            m &= {"<=": x <= v, ">=": x >= v, "=": x == v}[op] if op != "between" else (x >= v[0]) & (x <= v[1])
        elif op == "=":
            m &= col.astype(str) == str(v)
        else:
            inside = col.astype(str).isin([str(u) for u in v])
            m &= inside if op == "in" else ~inside
    return m


def _theil_u(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    """Bias-corrected uncertainty coefficient U(y|x) and the G-test p-value, computed independently."""
    mi = mutual_info_score(x.astype(str), y.astype(str))
    n = len(x)
    r, c = x.nunique(), y.nunique()
    hy = sps.entropy(y.value_counts().to_numpy())
    g = 2 * n * mi
    return max(0.0, (mi - (r - 1) * (c - 1) / (2 * n)) / hy), float(sps.chi2.sf(g, (r - 1) * (c - 1)))


# ---------------------------------------------------------------------------- heart disease: 0/1 target
@pytest.fixture(scope="module")
def heart():
    return _load("tables", "heart_disease.csv")


def test_heart_disease_driver_is_thal_with_recomputed_figures(heart):
    frame, schema = heart
    t = _table(frame, schema, "heart_disease.csv")
    assert (t.outcome_kind_, t.positive_) == ("binary", "1")
    ins = _one(_run(t, types=["outcome_drivers"]), "outcome_drivers")
    f = ins.figures
    assert f["driver"] == "thal" and f["conditions"] == [{"column": "thal", "op": "=", "value": "2"}]
    u, p = _theil_u(frame["thal"], frame["target"])
    assert f["stat"] == pytest.approx(u, rel=1e-9)
    assert f["p"] == pytest.approx(min(1.0, p * f["n_tested"]), rel=1e-6)
    assert f["stat_lo"] <= f["stat"] <= f["stat_hi"]
    m = frame["thal"] == 2
    seg, rest = frame.loc[m, "target"].mean(), frame.loc[~m, "target"].mean()
    assert f["seg_rate"] == pytest.approx(seg) and f["rest_rate"] == pytest.approx(rest)
    assert ins.title == f"thal is the strongest driver of target = 1: {_pct(seg)} with thal = 2 vs {_pct(rest)}"
    assert f"{int(m.sum())} and {int((~m).sum())} rows" in ins.narrative
    assert f["n_tested"] == 13 and ins.priority == "high" and ins.category == "operations"


def test_heart_disease_segment_is_checked_on_rows_the_tree_did_not_see(heart):
    frame, schema = heart
    t = _table(frame, schema, "heart_disease.csv")
    ins = _one(_run(t, types=["outcome_segments"]), "outcome_segments")
    f = ins.figures
    m = _mask(frame, f["conditions"])
    assert 1 <= len(f["conditions"]) <= 2  # a depth-2 tree, conditions that did not hold up pruned
    assert f["seg_n"] == m.sum() and f["seg_rate"] == pytest.approx(frame.loc[m, "target"].mean())
    assert f["rest_rate"] == pytest.approx(frame.loc[~m, "target"].mean())
    # the held-out rows: the seeded permutation of the detector, 40% of the rows
    rng = np.random.default_rng([0, zlib.crc32(b"segments of target")])
    hold = np.zeros(len(frame), dtype=bool)
    hold[rng.permutation(len(frame))[: round(0.4 * len(frame))]] = True
    hs, hr = m.to_numpy() & hold, ~m.to_numpy() & hold
    y = frame["target"].to_numpy()
    assert f["h_seg_rate"] == pytest.approx(y[hs].mean()) and f["h_rest_rate"] == pytest.approx(y[hr].mean())
    fisher = sps.fisher_exact([[y[hs].sum(), hs.sum() - y[hs].sum()], [y[hr].sum(), hr.sum() - y[hr].sum()]]).pvalue
    assert f["h_p"] == pytest.approx(min(1.0, fisher * f["n_tests"]), rel=1e-9)
    if f["seg_rate"] > f["rest_rate"]:
        expected = f"{f['lift']:.1f} times as often ({_pct(f['seg_rate'])} vs {_pct(f['rest_rate'])})"
    else:
        expected = f"only {_pct(f['seg_rate'])} of the time (vs {_pct(f['rest_rate'])})"
    assert ins.title == f"Rows with {f['seg_text']} have target = 1 {expected}"
    assert "which it did not see" in ins.narrative and ins.confidence > 0.99


# ---------------------------------------------------------------------------- car evaluation: 4 classes
def test_car_evaluation_classes_driver_and_precondition_segment():
    frame, schema = _load("tables", "car_evaluation.csv")
    t = _table(frame, schema, "car_evaluation.csv")
    assert t.outcome_kind_ == "categorical" and t.positive_ is None
    out = _run(t)
    d = _one(out, "outcome_drivers")
    u, _ = _theil_u(frame["safety"], frame["class"])
    assert d.figures["driver"] == "safety" and d.figures["stat"] == pytest.approx(u, rel=1e-9)
    low = frame["safety"] == "low"
    assert (
        d.figures["seg_class"] == "unacc"
        and d.figures["seg_rate"] == 1.0 == (frame.loc[low, "class"] == "unacc").mean()
    )
    assert d.figures["rest_rate"] == pytest.approx((frame.loc[~low, "class"] == "unacc").mean())
    every = [i for i in out if i.type == "outcome_segments" and i.title.startswith("Every class = ")]
    assert every  # a class that only occurs under some conditions: car evaluation is a rule set
    for ins in every:
        m = _mask(frame, ins.figures["conditions"])
        cls = ins.figures["target"]
        assert frame.index[frame["class"] == cls].isin(frame.index[m]).all()  # every such car is in the segment
        assert ins.figures["seg_rate"] == pytest.approx((frame.loc[m, "class"] == cls).mean())
        assert ins.figures["rest_rate"] == 0.0


# ---------------------------------------------------------------------------- bike sharing: counts with dates
@pytest.fixture(scope="module")
def bike():
    return _load("tables", "bike_sharing_hourly.csv")


def test_bike_sharing_hour_drives_counts_epsilon_squared(bike):
    frame, schema = bike
    t = _table(frame, schema, "bike_sharing_hourly.csv")
    assert t.outcome_kind_ == "numeric" and "hr" in t.dimensions_ and "instant" in t.roles_.ignore
    ins = _one(_run(t, types=["outcome_drivers"]), "outcome_drivers")
    f = ins.figures
    g = frame.groupby("hr")["cnt"]
    n, k = len(frame), frame["hr"].nunique()
    sst = ((frame["cnt"] - frame["cnt"].mean()) ** 2).sum()
    ssb = (g.count() * (g.mean() - frame["cnt"].mean()) ** 2).sum()
    eps2 = (ssb - (k - 1) * (sst - ssb) / (n - k)) / sst  # Kelley 1935
    assert f["driver"] == "hr" and f["stat"] == pytest.approx(eps2, rel=1e-9)
    assert f["seg_text"] == "hr = 17" and f["seg_mean"] == pytest.approx(g.mean()[17])
    assert f["rest_mean"] == pytest.approx(frame.loc[frame["hr"] != 17, "cnt"].mean())
    assert (
        ins.title
        == f"hr is the strongest driver of cnt: average {f['seg_mean']:.0f} with hr = 17 vs {f['rest_mean']:.0f}"
    )


def test_bike_sharing_christmas_week_shift_recomputed(bike):
    frame, schema = bike
    t = _table(frame, schema, "bike_sharing_hourly.csv")
    ins = _one(_run(t, types=["period_shift"]), "period_shift", measure="cnt")
    f = ins.figures
    assert f["freq"] == "W" and f["period"] == "week of 24 Dec 2012" and f["seg_text"] == "weekday = 3"
    seg = frame[frame["weekday"] == 3]
    weekly = seg.groupby(seg["dteday"].dt.to_period("W-SUN"))["cnt"].sum()
    weeks = pd.period_range("2011-01-03", "2012-12-30", freq="W-SUN")
    weekly = weekly.reindex(weeks, fill_value=0).astype(float)
    assert f["value"] == weekly.iloc[-1] and f["ref_value"] == weekly.iloc[-2]
    c = np.log(weekly.to_numpy()[1:] / weekly.to_numpy()[:-1])
    hist = c[:-1][-60:]
    z = (c[-1] - np.median(hist)) / (1.4826 * np.median(np.abs(hist - np.median(hist))))
    assert f["z"] == pytest.approx(z, rel=1e-9) and f["z_abs"] >= 3.5
    assert ins.title == f"Cnt fell {_pct(1 - weekly.iloc[-1] / weekly.iloc[-2])} for weekday = 3 in week of 24 Dec 2012"
    assert "$" not in ins.narrative and "USD" not in ins.narrative


# ---------------------------------------------------------------------------- Telco churn
def test_telco_contract_drives_churn_and_segment_lift():
    frame, schema = _load("telco_churn", "telco_customer_churn.csv")
    t = _table(frame, schema, "telco_customer_churn.csv")
    assert t.positive_ == "Yes" and t.roles_.row_noun == "customers" and t.roles_.category == "customer"
    out = _run(t)
    d = _one(out, "outcome_drivers")
    mtm = frame["Contract"] == "Month-to-month"
    churn = frame["Churn"] == "Yes"
    assert d.figures["driver"] == "Contract"
    assert d.figures["seg_rate"] == pytest.approx(churn[mtm].mean()) and d.figures["rest_rate"] == pytest.approx(
        churn[~mtm].mean()
    )
    assert "Customers with Contract = Month-to-month have Churn = Yes 43% of the time, against 6.8%" in d.narrative
    high = [i for i in out if i.type == "outcome_segments" and i.figures["seg_rate"] > i.figures["rest_rate"]]
    assert len(high) == 1 and high[0].figures["seg_text"].startswith("Contract = Month-to-month and ")
    f = high[0].figures
    m = _mask(frame, f["conditions"])
    lift = churn[m].mean() / churn[~m].mean()
    assert f["lift"] == pytest.approx(lift) and lift > 3
    assert high[0].title == (
        f"Customers with {f['seg_text']} have Churn = Yes {lift:.1f} times as often "
        f"({_pct(churn[m].mean())} vs {_pct(churn[~m].mean())})"
    )
    assert f"{int(m.sum()):,} customers ({_pct(m.mean())}) have {f['seg_text']}" in high[0].narrative


# ---------------------------------------------------------------------------- Superstore as a plain table
@pytest.fixture(scope="module")
def superstore():
    return _load("superstore", "superstore_orders.csv")


def test_superstore_money_only_when_confirmed(superstore):
    frame, schema = superstore
    proposal = infer_roles(frame, schema)
    assert [c.column for c in proposal.money_candidates] == ["Sales", "Profit"]
    assert proposal.suggested().money == {}
    plain = _run(_table(frame, schema, "superstore_orders.csv"), types=["outliers"])
    assert plain and not any("$" in i.title + i.narrative or "USD" in i.narrative for i in plain)
    money = _run(
        _table(frame, schema, "superstore_orders.csv", money={"Sales": "USD", "Profit": "USD"}), types=["outliers"]
    )
    tables = _one(money, "outliers", segment="Tables")
    med = frame.groupby("Sub-Category", observed=True)["Profit"].median()
    assert tables.figures["seg_median"] == pytest.approx(med["Tables"])
    assert tables.figures["typical"] == pytest.approx(med.median())
    assert tables.title == "Sub-Category Tables stands out on Profit: median -$30 vs $9.18"
    assert tables.currency == "USD"


def test_superstore_far_out_losses_recomputed(superstore):
    frame, schema = superstore
    out = _run(_table(frame, schema, "superstore_orders.csv"), types=["outliers"])
    ins = next(i for i in out if i.figures.get("column") == "Profit" and "n_values" in i.figures)
    x = frame["Profit"].to_numpy(dtype=float)
    far = []
    for v in (x, np.sign(x) * np.log1p(np.abs(x))):  # Tukey's far-out fences as it is and on the log-modulus scale
        q1, q3 = np.quantile(v, [0.25, 0.75])
        far.append((v < q1 - 3 * (q3 - q1)) | (v > q3 + 3 * (q3 - q1)))
    both = far[0] & far[1]
    assert ins.figures["log_scale"] and far[0].sum() > 1000  # on its own scale a thousand rows look extreme
    assert ins.figures["n_out"] == both.sum() and (x[both] < 0).all()
    assert ins.title == f"{both.sum()} rows lie far below the usual range of Profit"
    assert ins.figures["extreme_value"] == x.min()


# ---------------------------------------------------------------------------- red wine: numeric 3-8 outcome
def test_wine_alcohol_drives_quality():
    frame, schema = _load("tables", "winequality_red.csv")
    t = _table(frame, schema, "winequality_red.csv")
    assert t.outcome_kind_ == "numeric"
    d = _one(_run(t, types=["outcome_drivers"]), "outcome_drivers")
    assert d.figures["driver"] == "alcohol"
    m = _mask(frame, d.figures["conditions"])
    assert d.figures["seg_text"] == f"alcohol {frame.loc[m, 'alcohol'].min():g} or more"
    assert d.figures["seg_mean"] == pytest.approx(frame.loc[m, "quality"].mean())
    assert d.figures["ranking"][0]["share"] > d.figures["ranking"][1]["share"]


# ---------------------------------------------------------------------------- roles on every shared table
def test_role_inference_on_the_shared_tables():
    bike_frame, bike_schema = _load("tables", "bike_sharing_hourly.csv")
    p = infer_roles(bike_frame, bike_schema)
    assert p.columns["instant"].role == "ignore" and p.columns["dteday"].role == "date"
    assert p.columns["hr"].kind == "category" and p.columns["cnt"].role == "outcome"
    assert p.suggested().aggregations["temp"] == "mean" and p.date_candidates[0].column == "dteday"
    telco, telco_schema = _load("telco_churn", "telco_customer_churn.csv")
    p = infer_roles(telco, telco_schema)
    assert p.outcome_candidates[0].column == "Churn" and p.outcome_candidates[0].confidence >= 0.9
    assert {c.column for c in p.money_candidates} == {"MonthlyCharges", "TotalCharges"}
    assert all(c.currency is None for c in p.money_candidates)  # no symbol in the file: the analyst picks it
    assert p.columns["customerID"].role == "ignore" and p.row_noun == "customers"
    heart, heart_schema = _load("tables", "heart_disease.csv")
    p = infer_roles(heart, heart_schema)
    assert p.suggested().outcome == "target" and p.columns["cp"].kind == "category"
    car, car_schema = _load("tables", "car_evaluation.csv")
    assert infer_roles(car, car_schema).suggested().outcome == "class"
    concrete, concrete_schema = _load("tables", "concrete_strength.csv")
    p = infer_roles(concrete, concrete_schema)
    assert p.suggested().outcome is None  # nothing is named like an outcome: the analyst chooses
    assert p.outcome_candidates[0].column.startswith("Concrete compressive strength")
    assert p.columns["Age (day)"].unit == "day" and p.suggested().units == {}


# ---------------------------------------------------------------------------- registry and contract
def test_every_insight_type_is_fully_registered():
    fields = set(InsightInputs.__dataclass_fields__)
    for t in INSIGHT_TYPES:
        assert t in DETECTORS, f"{t}: no detector in aihub.insights.detector_registry"
        source, fn = DETECTORS[t]
        assert source in fields and callable(fn)
        assert t in DEFAULT_TYPE_WEIGHTS and t in DEFAULT_VALIDITY_DAYS and TEMPLATES.get(t)
    assert set(DETECTORS) == set(INSIGHT_TYPES)


@pytest.mark.parametrize(
    ("roles", "field", "shown"),
    [
        ({"outcome": "Outcome"}, "roles.outcome", "'Outcome'"),
        ({"outcome": "target", "positive": "yes"}, "roles.positive", "'yes'"),
        ({"money": {"chol": "usd"}, "measures": ["age"]}, None, None),
        ({"money": {"chol": "dollars"}}, "money.chol", "DOLLARS"),
        ({"dimensions": ["cp"], "measures": ["cp"]}, "roles.dimensions", "'cp'"),
        ({"outcome": "fbs", "units": {"age": "{x}"}}, "units", "braces"),
        ({"outcome": "target", "date": "target"}, "roles.outcome", "date"),
        ({"colour": "red"}, "colour", "not a known setting"),
    ],
)
def test_bad_roles_name_the_field(heart, roles, field, shown):
    frame, _ = heart
    if field is None:
        t = TableInput(frame, roles)
        assert t.currency_of("chol") == "USD" and t.measures_[0] == "chol"
        return
    with pytest.raises(ValidationError) as err:
        TableInput(frame, roles)
    assert err.value.field == field and shown in str(err.value)


def test_one_valued_outcome_and_table_without_rows_are_refused(heart):
    frame, _ = heart
    with pytest.raises(ValidationError, match="at least two"):
        TableInput(frame.assign(flat=1), {"outcome": "flat"})
    with pytest.raises(ValidationError, match="no rows"):
        TableInput(frame.iloc[:0], {})
    assert isinstance(TableInput(frame, '{"outcome": "target"}').roles_, TableRoles)


def test_tables_without_what_a_detector_needs_give_nothing(heart):
    frame, _ = heart
    t = TableInput(frame, {"dimensions": ["cp"], "measures": ["chol"]})
    assert [i.type for i in _run(t, types=["outcome_drivers", "outcome_segments", "period_shift"])] == []
    assert TableInput(frame.iloc[:20], {"outcome": "target"}) and not _run(
        TableInput(frame.iloc[:20], {"outcome": "target"}), types=["outcome_drivers", "outcome_segments"]
    )


def test_validity_and_regeneration_of_table_insights(heart):
    frame, schema = heart
    t = _table(frame, schema, "heart_disease.csv")
    first = _run(t)
    assert all(i.valid_until - i.valid_from == timedelta(days=30) for i in first)
    again = generate_insights(InsightInputs(tables=[t]), now=NOW, existing=[i.fingerprint for i in first])
    assert again == []
    other = TableInput(frame, t.roles_, dataset_id="copy", dataset_name="copy.csv")
    assert {i.fingerprint for i in _run(other)}.isdisjoint(i.fingerprint for i in first)
    v1 = _run(TableInput(frame, t.roles_, dataset_id="h", version=1))
    v2 = _run(TableInput(frame, t.roles_, dataset_id="h", version=2))
    assert [i.title for i in v1] == [i.title for i in v2] and not {i.fingerprint for i in v1} & {
        i.fingerprint for i in v2
    }
    assert math.isclose(sum(1 for i in first if i.type == "outcome_drivers"), 1)


def test_untyped_text_goes_through_the_hubs_parsers():
    raw = pd.DataFrame(
        {
            "when": ["2024-01-05", "2024-01-12", "2024-01-19"] * 10,
            "Income": ["$1,200.00", "$980.50", "$2,000"] * 10,
            "kind": ["a", "b", "c"] * 10,
        }
    )
    t = TableInput(raw, {"date": "when", "money": {"Income": "usd"}, "dimensions": ["kind"], "measures": []})
    assert t.data["Income"].tolist()[:3] == [1200.0, 980.5, 2000.0] and t.currency_of("Income") == "USD"
    assert str(t.data["when"].dtype) == "datetime64[ns]"
    with pytest.raises(ValidationError) as err:
        TableInput(raw.assign(Income=["$1,200.00", "n/a?", "3"] * 10), {"measures": ["Income"], "dimensions": []})
    assert err.value.field == "roles.measures" and "row 2" in str(err.value)
