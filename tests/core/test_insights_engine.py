"""generate_insights: ranking, feedback, filters, deduplication, validation, the rephrasing hook."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from aihub.charts.insights import chart_figure
from aihub.errors import ValidationError
from aihub.insights import (
    Insight,
    InsightParams,
    OrdersInput,
    feedback_factor,
    fingerprint,
    generate_insights,
    priority_of,
    priority_score,
)
from tests.fixtures import NOW, _inputs


# ---------------------------------------------------------------- ranking
def test_priority_score_formula_and_thresholds():
    s = priority_score(confidence=0.9, money=10_000, money_scale=10_000, type_weight=1.0, direction="risk")
    assert s == pytest.approx(100 * 0.9 * (0.3 + 0.7 * 0.5))
    opp = priority_score(confidence=0.9, money=10_000, money_scale=10_000, type_weight=1.0, direction="opportunity")
    assert opp == pytest.approx(0.85 * s, abs=0.01)
    assert priority_score(confidence=1, money=0, money_scale=1, type_weight=1, direction="risk") == 30.0
    assert [priority_of(x) for x in (80, 70, 50, 30, 10)] == ["critical", "critical", "high", "medium", "low"]


def test_feedback_factor_beta_prior():
    assert feedback_factor(None) == 1.0
    assert feedback_factor({"useful": 0, "dismissed": 0}) == 1.0
    assert feedback_factor({"dismissed": 10}) == pytest.approx((2 / 14) / 0.5)
    assert feedback_factor({"dismissed": 100}) == 0.2  # floor
    assert feedback_factor({"useful": 100}) == 1.2  # cap
    assert feedback_factor({"useful": 3, "not_useful": 3}) == 1.0


def test_ranked_by_score_and_dismissed_types_sink():
    out = generate_insights(_inputs(), now=NOW)
    # forecast: conf 0.9, $30k; anomalies: conf 1, $5k; churn: conf 0.72, $10k (money scale $10k).
    assert [i.type for i in out] == ["forecast", "anomaly_digest", "churn_risk"]
    assert [i.score for i in out] == sorted((i.score for i in out), reverse=True)
    top = out[0].type
    fb = {top: {"useful": 0, "dismissed": 12}}
    after = generate_insights(_inputs(), now=NOW, feedback=fb)
    moved = next(i for i in after if i.type == top)
    before = next(i for i in out if i.type == top)
    assert moved.score == pytest.approx(before.score * feedback_factor(fb[top]), abs=0.02)
    assert after[0].type != top and after[-1].type == top


def test_type_weights_filters_and_limit():
    out = generate_insights(_inputs(), now=NOW, type_weights={"forecast": 0})
    assert "forecast" not in {i.type for i in out}
    assert {i.category for i in generate_insights(_inputs(), now=NOW, categories="customer")} == {"customer"}
    assert {i.category for i in generate_insights(_inputs(), now=NOW, categories=["operations", "finance"])} == {
        "operations",
        "finance",
    }
    assert len(generate_insights(_inputs(), now=NOW, limit=1)) == 1
    high = generate_insights(_inputs(), now=NOW, min_priority="high")
    assert high and all(i.priority in ("high", "critical") for i in high)
    assert generate_insights(_inputs(), now=NOW, types=["churn_risk"])[0].type == "churn_risk"


# ---------------------------------------------------------------- fingerprints and validity
def test_fingerprint_is_stable_and_ignores_figures():
    assert fingerprint("drivers", "sales by Region", "2022Q4 vs 2022Q3") == fingerprint(
        "drivers", "  Sales  by region ", "2022Q4 vs 2022Q3"
    )
    assert fingerprint("drivers", "sales by Region", "2022Q4 vs 2022Q3") != fingerprint(
        "drivers", "sales by Region", "2023Q1 vs 2022Q4"
    )
    assert fingerprint("trend", "sales", "p") != fingerprint("drivers", "sales", "p")
    a = generate_insights(_inputs(), now=NOW)
    b = generate_insights(_inputs(), now=NOW + timedelta(hours=3))
    assert [i.fingerprint for i in a] == [i.fingerprint for i in b]


def test_regeneration_does_not_duplicate_still_valid_insights():
    first = generate_insights(_inputs(), now=NOW)
    # Still valid: nothing new (objects, dicts from the database, or bare fingerprints).
    assert generate_insights(_inputs(), now=NOW + timedelta(hours=1), existing=first) == []
    stored = [i.to_dict() for i in first]
    assert generate_insights(_inputs(), now=NOW + timedelta(hours=1), existing=stored) == []
    assert generate_insights(_inputs(), now=NOW, existing=[i.fingerprint for i in first]) == []
    # The anomaly digest is valid one day: the next day it comes back, the others do not.
    nxt = generate_insights(_inputs(), now=NOW + timedelta(days=2), existing=first)
    assert [i.type for i in nxt] == ["anomaly_digest"]


def test_insight_roundtrip_and_validity():
    ins = generate_insights(_inputs(), now=NOW)[0]
    data = json.loads(json.dumps(ins.to_dict()))
    back = Insight.from_dict(data)
    assert back.fingerprint == ins.fingerprint and back.valid_until == ins.valid_until
    assert back.is_valid(NOW) and not back.is_valid(ins.valid_until + timedelta(seconds=1))
    assert ins.status == "new"


def test_chart_evidence_draws_with_plotly():
    ins = next(i for i in generate_insights(_inputs(), now=NOW) if i.type == "forecast")
    spec = next(e["spec"] for e in ins.evidence if e["kind"] == "chart")
    fig = chart_figure(spec)
    assert len(fig.data) == 4  # band (2 traces), actual, forecast


# ---------------------------------------------------------------- the optional LLM hook
def test_provider_rephrases_only_when_numbers_stay_true():
    def faithful(narrative, *, insight_type, title, figure_text):
        return "In short: " + narrative

    def inventive(narrative, *, insight_type, title, figure_text):
        return "Revenue will drop by 99.9% next week."

    def broken(narrative, **kwargs):
        raise RuntimeError("LLM down")

    base = generate_insights(_inputs(), now=NOW)
    ok = generate_insights(_inputs(), now=NOW, provider=faithful)
    assert all(i.narrative_source == "provider" and i.narrative.startswith("In short: ") for i in ok)
    for p in (inventive, broken):
        kept = generate_insights(_inputs(), now=NOW, provider=p)
        assert [i.narrative for i in kept] == [i.narrative for i in base]
        assert all(i.narrative_source == "template" for i in kept)


# ---------------------------------------------------------------- validation in one place
@pytest.mark.parametrize(
    "kwargs, field, shown",
    [
        ({"categories": "marketing"}, "categories", "'sales'"),
        ({"min_priority": "urgent"}, "min_priority", "'critical'"),
        ({"limit": 0}, "limit", "[1, 10000]"),
        ({"type_weights": {"forecats": 1}}, "type_weights key", "'forecast'"),
        ({"type_weights": {"forecast": -1}}, "type_weights.forecast", "[0, 10]"),
        ({"feedback": {"trend": {"liked": 1}}}, "feedback.trend key", "'useful'"),
        ({"params": {"alpha": 1.5}}, "alpha", "(0, 0.5]"),
        ({"params": {"trend_freq": "H"}}, "trend_freq", "'M'"),
        ({"params": {"alpah": 0.1}}, "alpah", "alpha"),
        ({"now": "yesterday"}, "now", "datetime"),
    ],
)
def test_bad_arguments_name_the_field_and_the_allowed_values(kwargs, field, shown):
    with pytest.raises(ValidationError) as err:
        generate_insights(_inputs(), **kwargs)
    assert err.value.field == field
    assert shown in str(err.value)


def test_orders_contract_errors():
    df = pd.DataFrame({"d": ["2022-01-01", "2022-01-02"], "amt": [1.0, 2.0], "Region": ["W", "E"]})
    with pytest.raises(ValidationError) as err:
        OrdersInput(df, date="d", amount="Sales")
    assert err.value.field == "amount" and "'Sales'" in str(err.value) and "amt" in str(err.value)
    with pytest.raises(ValidationError) as err:
        OrdersInput(df, date="d", amount="amt", dimensions=["Regoin"])
    assert err.value.field == "dimensions[0]"
    with pytest.raises(ValidationError) as err:
        OrdersInput(pd.DataFrame({"d": ["03/01/19"], "amt": [1.0]}), date="d", amount="amt")
    assert err.value.field == "d" and "read_upload" in str(err.value)
    with pytest.raises(ValidationError) as err:
        OrdersInput(pd.DataFrame({"d": ["2022-01-01"], "amt": ["ten"]}), date="d", amount="amt")
    assert err.value.field == "amt"
    ok = OrdersInput.from_roles(df, {"date": "d", "amount": "amt", "dimensions": ["Region"]})
    assert ok.dimensions == ("Region",)
    with pytest.raises(ValidationError):
        InsightParams(validity_days={"trend": 0})


def test_monthly_rows_dated_on_the_first_need_pre_aggregated():
    df = pd.DataFrame({"d": pd.date_range("2021-01-01", periods=24, freq="MS"), "amt": 100.0})
    as_of = pd.Timestamp("2023-01-10")
    assert OrdersInput(df, "d", "amt").periods("M", as_of).index[-1] == pd.Period("2022-11", "M")
    assert OrdersInput(df, "d", "amt", pre_aggregated=True).periods("M", as_of).index[-1] == pd.Period("2022-12", "M")
