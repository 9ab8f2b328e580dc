"""Insights on the real Superstore orders: every figure is recomputed here with plain pandas/scipy."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from aihub.ingest import read_upload
from aihub.insights import InsightInputs, OrdersInput, generate_insights


def _data_dir() -> Path:
    """``../shared/data``, or ``$AIHUB_SHARED_DIR`` (the shared folder or its ``data`` folder)."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return Path(__file__).resolve().parents[3] / "shared" / "data"


DATA = _data_dir()


def _pct(fraction: float) -> str:
    """Percent as the narratives write it, formatted independently: whole percent from 10%, one decimal below."""
    p = fraction * 100
    return f"{round(p):.0f}%" if abs(round(p, 1)) >= 10 else f"{round(p, 1):g}%"


@pytest.fixture(scope="module")
def superstore() -> pd.DataFrame:
    path = DATA / "superstore" / "superstore_orders.csv"
    if not path.exists():
        pytest.fail(f"shared data file {path} is missing; set AIHUB_SHARED_DIR to the shared folder")
    return read_upload(path.name, path.read_bytes()).typed()


@pytest.fixture(scope="module")
def orders(superstore) -> OrdersInput:
    return OrdersInput(
        superstore,
        date="Order Date",
        amount="Sales",
        customer="Customer ID",
        customer_name="Customer Name",
        product="Product Name",
        dimensions=["Region", "Category"],
        dataset_id=42,
        dataset_name="superstore_orders.csv",
    )


def _quarter_sales(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby([df["Order Date"].dt.to_period("Q"), "Region"], observed=True)["Sales"].sum().unstack()


def test_west_region_share_of_q4_2020_growth(superstore, orders):
    # On 10 Jan 2021 the last complete quarter is Q4 2020; compare with Q3 2020.
    q = _quarter_sales(superstore)
    d = q.loc[pd.Period("2020Q4")] - q.loc[pd.Period("2020Q3")]
    share_west = d["West"] / d.sum()
    assert d.idxmax() == "West"

    out = generate_insights(InsightInputs(orders=orders), now=datetime(2021, 1, 10), types=["drivers"])
    ins = next(i for i in out if i.subject == "sales by Region")
    f = ins.figures
    assert f["slice"] == "West"
    assert f["share"] == pytest.approx(share_west, rel=1e-9)
    assert f["delta"] == pytest.approx(d.sum(), rel=1e-9)
    assert f["slice_delta"] == pytest.approx(d["West"], rel=1e-9)
    assert f["total_before"] == pytest.approx(q.loc[pd.Period("2020Q3")].sum(), rel=1e-9)
    assert ins.title == f"West region drove {_pct(share_west)} of Q4 2020 sales growth"
    assert f"West region drove {_pct(share_west)} of that change" in ins.narrative
    assert f"grew {_pct(d.sum() / q.loc[pd.Period('2020Q3')].sum())} in Q4 2020 against Q3 2020" in ins.narrative
    # Shares of all regions sum to 1.
    assert sum(f["contributions"].values()) == pytest.approx(d.sum())
    assert ins.confidence >= 0.9 and ins.direction == "opportunity" and ins.category == "sales"
    assert ins.untraced_numbers() == []
    assert {"kind": "dataset", "id": 42, "name": "superstore_orders.csv"} in ins.evidence


def test_drivers_year_over_year_with_detractor(superstore, orders):
    q = _quarter_sales(superstore)
    d = q.loc[pd.Period("2022Q4")] - q.loc[pd.Period("2021Q4")]
    # +21% year on year, but a few large order lines make it fragile: under the Poisson bootstrap the
    # total keeps its sign in only about 92% of resamples, so at alpha 0.05 the detector stays quiet ...
    yoy = {"drivers_compare": "year_ago"}
    quiet = generate_insights(InsightInputs(orders=orders), now=datetime(2023, 1, 5), types=["drivers"], params=yoy)
    assert quiet == []
    # ... and reports it when the analyst accepts more noise.
    loose = {**yoy, "alpha": 0.2, "drivers_min_confidence": 0.8}
    out = generate_insights(InsightInputs(orders=orders), now=datetime(2023, 1, 5), types=["drivers"], params=loose)
    ins = next(i for i in out if i.subject == "sales by Region")
    assert 0.8 <= ins.figures["confidence"] <= ins.figures["confidence_total"] < 0.975
    assert ins.figures["slice"] == d.idxmax() == "East"
    assert ins.figures["share"] == pytest.approx(d["East"] / d.sum())
    assert ins.figures["detractor"] == "Central" and d["Central"] < 0
    assert f"East region drove {_pct(d['East'] / d.sum())} of Q4 2022 sales growth" == ins.title
    assert "Central moved the other way (-$22k)" in ins.narrative
    assert ins.untraced_numbers() == []


def test_trend_matches_scipy_on_last_24_months(superstore, orders):
    m = superstore.groupby(superstore["Order Date"].dt.to_period("M"))["Sales"].sum()
    y = m.loc["2021-01":"2022-12"].to_numpy()
    ref = sps.kendalltau(np.arange(24), y)
    slope = sps.theilslopes(y).slope

    out = generate_insights(InsightInputs(orders=orders), now=datetime(2023, 1, 5), types=["trend"])
    assert len(out) == 1
    ins = out[0]
    assert ins.figures["tau"] == pytest.approx(ref.statistic)  # no ties in monthly sales
    assert ins.figures["slope"] == pytest.approx(slope)
    assert ins.figures["p"] < 0.05 and ins.confidence == pytest.approx(1 - ins.figures["p"], abs=1e-4)
    assert ins.figures["start"] == "Jan 2021" and ins.figures["end"] == "Dec 2022"
    assert f"about +${slope * 12 / 1000:.1f}k a year" in ins.narrative
    assert ins.untraced_numbers() == []


def test_incomplete_month_is_not_analysed(orders):
    # On 15 Dec 2022 December is incomplete: the window ends in November.
    out = generate_insights(InsightInputs(orders=orders), now=datetime(2022, 12, 15), types=["trend"])
    assert out and out[0].figures["end"] == "Nov 2022"


def test_customer_concentration_figures(superstore, orders):
    end = superstore["Order Date"].max().normalize()
    start = end - pd.Timedelta(days=364)
    win = superstore[(superstore["Order Date"] >= start) & (superstore["Order Date"] <= end)]
    rev = win.groupby("Customer ID")["Sales"].sum().sort_values(ascending=False)
    rev = rev[rev > 0]
    share = rev / rev.sum()
    top10 = share.iloc[:10].sum()
    hhi = (share**2).sum()
    pareto = (np.searchsorted(share.cumsum().to_numpy(), 0.8 - 1e-12) + 1) / len(share)

    # Superstore's customers are not concentrated: the default rules stay quiet ...
    assert top10 < 0.5 and share.iloc[0] < 0.1 and hhi < 0.15
    quiet = generate_insights(InsightInputs(orders=orders), now=datetime(2023, 1, 5), types=["concentration"])
    assert quiet == []
    # ... and with a 10% top-10 alert level the figures are exact.
    out = generate_insights(
        InsightInputs(orders=orders),
        now=datetime(2023, 1, 5),
        types=["concentration"],
        params={"concentration_top_share": 0.1},
    )
    ins = next(i for i in out if i.category == "customer")
    f = ins.figures
    assert f["top_share"] == pytest.approx(top10)
    assert f["hhi"] == pytest.approx(hhi)
    assert f["pareto_share"] == pytest.approx(pareto)
    assert f["top_revenue"] == pytest.approx(rev.iloc[:10].sum())
    top_name = superstore.loc[superstore["Customer ID"] == rev.index[0], "Customer Name"].iloc[0]
    assert f["top1_name"] == f"{top_name} ({rev.index[0]})"
    assert ins.title == f"Top 10 customers hold {_pct(top10)} of sales"
    assert f"Herfindahl-Hirschman index is {round(hhi * 10000):,}" in ins.narrative
    assert f"{_pct(pareto)} of customers make up 80% of sales" in ins.narrative
    assert ins.untraced_numbers() == []


def test_full_run_is_fast_consistent_and_serialisable(orders):
    import time

    t = time.perf_counter()
    now = datetime(2023, 1, 5, tzinfo=UTC)
    out = generate_insights(InsightInputs(orders=orders), now=now)
    assert time.perf_counter() - t < 5
    assert out, "Superstore should yield at least the trend and driver insights"
    assert [i.score for i in out] == sorted((i.score for i in out), reverse=True)
    for ins in out:
        assert ins.untraced_numbers() == [], (ins.type, ins.narrative)
        assert 0 <= ins.confidence <= 1 and 0 <= ins.score <= 100
        assert ins.valid_from == now and ins.valid_until > now
        assert ins.recommended_actions
        json.dumps(ins.to_dict())
    # Same data a few days later: same fingerprints, nothing new while the old ones are valid.
    again = generate_insights(InsightInputs(orders=orders), now=datetime(2023, 1, 8, tzinfo=UTC))
    assert {i.fingerprint for i in again} == {i.fingerprint for i in out}
    assert generate_insights(InsightInputs(orders=orders), now=datetime(2023, 1, 8), existing=out) == []


def test_file_mode_cli(capsys):
    from aihub.insights.cli import main

    path = DATA / "superstore" / "superstore_orders.csv"
    args = ["--orders", str(path), "--date-col", "Order Date", "--amount-col", "Sales", "--dimension", "Region"]
    assert main([*args, "--now", "2021-01-10", "--category", "sales", "--limit", "1", "--json"]) == 0
    (ins,) = json.loads(capsys.readouterr().out)
    assert ins["title"].startswith("West region drove 45% of Q4 2020 sales growth")
    assert main([*args[:-2], "--amount-col", "Sale"]) == 2
    assert "'Sale' is not in the table" in capsys.readouterr().err
