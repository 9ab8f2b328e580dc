"""Churn-risk insight from a real model: aihub.ml predictions and SHAP contributions on the Telco data."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.insights import InsightInputs, PredictionsInput, format_money, generate_insights, top_reasons


def _data_dir() -> Path:
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def scored():
    path = _data_dir() / "telco_churn" / "telco_customer_churn.csv"
    if not path.exists():
        pytest.fail(f"shared data file {path} is missing; set AIHUB_SHARED_DIR to the shared folder")
    from aihub.ml import explain, predict, train_model

    telco = pd.read_csv(path)
    model = train_model(
        {
            "model_type": "churn_prediction",
            "target": "Churn",
            "algorithm": "logistic_regression",
            "validation_split": 0.0,
            "excluded_columns": ["customerID"],
        },
        telco,
    )
    pred = predict(model, telco)
    ex = explain(model, telco)
    return telco, pred, ex


def test_churn_insight_from_model_predictions_and_shap(scored):
    telco, pred, ex = scored
    frame = pd.DataFrame(
        {
            "customer": telco["customerID"],
            "probability": pred["probability"].to_numpy(),
            "revenue": 12 * telco["MonthlyCharges"].to_numpy(),
            "top_reasons": top_reasons(ex.contributions, k=3).to_numpy(),
        }
    )
    ins = generate_insights(
        InsightInputs(predictions=PredictionsInput(frame, model_id=11, model_name="Telco churn")),
        now=datetime(2024, 3, 4),
    )[0]

    # Independent recomputation.
    high = frame["probability"] >= 0.5
    contrib = ex.contributions.to_numpy()[high.to_numpy()]
    names = np.array(ex.contributions.columns)
    counts = Counter()
    for row in contrib:
        top = np.argsort(-row, kind="stable")[:3]
        counts.update(names[j] for j in top if row[j] > 0)
    (first, n_first), (second, n_second) = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    rev = frame.loc[high, "revenue"].sum()

    f = ins.figures
    assert f["n_high"] == int(high.sum()) > 0
    assert f["revenue_high"] == pytest.approx(rev)
    assert f["expected_loss"] == pytest.approx((frame.loc[high, "probability"] * frame.loc[high, "revenue"]).sum())
    assert (f["reason1"], f["reason1_count"]) == (first, n_first)
    assert (f["reason2"], f["reason2_count"]) == (second, n_second)
    # format_money is unit-tested in test_insights_stats.py; here the check is that the recomputed value is shown.
    assert ins.title.startswith(f"{int(high.sum()):,} at-risk customers hold {format_money(rev)} of annual revenue")
    assert ins.title.endswith(f"; top reason: {first}")
    assert f"{first} (for {n_first:,} of them)" in ins.narrative
    assert ins.untraced_numbers() == []


def test_reasons_name_the_category_with_values(scored):
    telco, pred, ex = scored
    frame = pd.DataFrame(
        {
            "probability": pred["probability"].to_numpy(),
            "top_reasons": top_reasons(ex.contributions, k=3, values=ex.values).to_numpy(),
        }
    )
    ins = generate_insights(InsightInputs(predictions=PredictionsInput(frame)), now=datetime(2024, 3, 4))[0]
    high = frame["probability"] >= 0.5
    assert ins.figures["reason1"].startswith("Contract = ")
    value = ins.figures["reason1"].split(" = ", 1)[1]
    # Every customer counted under this reason has that contract.
    assert ins.figures["reason1_count"] <= int((telco.loc[high.to_numpy(), "Contract"] == value).sum())
