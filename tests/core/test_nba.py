"""Next best actions on Telco with a churn model trained here: re-scored effects, reasons, limits, command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.ml import dump_artifact, predict, suggest_config, train_model
from aihub.nba import OUTPUT_COLUMNS, next_best_actions
from tests.conftest import DATA

TELCO = DATA / "telco_churn" / "telco_customer_churn.csv"


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(TELCO)


@pytest.fixture(scope="module")
def churn(telco):
    cfg = suggest_config("churn", telco, algorithm="logistic_regression", validation_split=0.0)
    return train_model(cfg, telco)


def test_actions_are_rescored_effects_of_the_customers_own_risk_reasons(churn, telco):
    customers = telco.head(300)
    out = next_best_actions(churn, customers, {"Contract": None, "TechSupport": ["Yes"], "MonthlyCharges": ["-20%"]})
    assert list(out.columns) == ["customerID", *OUTPUT_COLUMNS]
    risk = predict(churn, customers)["probability"].to_numpy()
    assert set(out["row"]) == set(np.flatnonzero(risk >= 0.5) + 1)
    acted = out[out["feature"].notna()]
    assert len(acted) > 0
    for _, r in acted.head(20).iterrows():
        changed = customers.iloc[[r["row"] - 1]].copy()
        assert r["current_risk"] == pytest.approx(risk[r["row"] - 1])
        changed[r["feature"]] = r["suggested_value"]
        assert predict(churn, changed)["probability"].iloc[0] == pytest.approx(r["new_risk"], abs=1e-9)
        assert r["risk_drop"] >= 0.01 and r["shap_contribution"] > 0  # only features that raise this customer's risk
        assert r["current_value"] != r["suggested_value"]
        assert f"drop from {r['current_risk']:.2f} to {r['new_risk']:.2f}" in r["action"]
        assert "model estimate, not a promise" in r["action"]
    month = acted[(acted["feature"] == "Contract")]
    assert set(month["current_value"]) == {"Month-to-month"} and set(month["suggested_value"]) <= {"One year", "Two year"}
    assert (acted.groupby("row")["rank"].max() <= 3).all()
    per = acted.groupby("row")
    assert (per["risk_if_all_applied"].first() <= per["new_risk"].min() + 1e-9).all()
    mc = acted[acted["feature"] == "MonthlyCharges"]
    assert np.allclose(mc["suggested_value"].astype(float),
                       np.maximum(mc["current_value"].astype(float) * 0.8, telco["MonthlyCharges"].min()))


def test_threshold_and_settings_are_checked(churn, telco):
    none = next_best_actions(churn, telco.head(50), ["Contract"], risk_threshold=1.0)
    assert none.empty and list(none.columns)[-len(OUTPUT_COLUMNS):] == list(OUTPUT_COLUMNS)
    with pytest.raises(ValidationError, match="risk_threshold"):
        next_best_actions(churn, telco.head(5), ["Contract"], risk_threshold=2)
    with pytest.raises(ValidationError, match="not an input of the model") as err:
        next_best_actions(churn, telco.head(5), ["tenure_years"])
    assert err.value.field == "tenure_years"
    with pytest.raises(ValidationError, match="Three year"):
        next_best_actions(churn, telco.head(5), {"Contract": ["Three year"]})
    with pytest.raises(ValidationError, match="needs its allowed values"):
        next_best_actions(churn, telco.head(5), ["MonthlyCharges"])


def test_command_writes_actions(tmp_path, churn, telco):
    (tmp_path / "key").write_bytes((b"k" * 32).hex().encode())
    (tmp_path / "key").chmod(0o600)
    model_file = tmp_path / "churn.aihub"
    from aihub.ml.artifacts import resolve_key

    k, _ = resolve_key(str(tmp_path / "key"), create=False)
    model_file.write_bytes(dump_artifact(churn, k))
    src = tmp_path / "customers.csv"
    telco.head(200).to_csv(src, index=False)
    out = tmp_path / "actions.csv"
    rc = main(["next-best-action", "--model", str(model_file), "--input", str(src), "--actionable", "Contract,TechSupport",
               "--allowed", "TechSupport=Yes", "--key-file", str(tmp_path / "key"), "--output", str(out)])
    assert rc == 0
    got = pd.read_csv(out)
    assert {"customerID", "action", "new_risk"} <= set(got.columns) and got["feature"].dropna().isin(["Contract", "TechSupport"]).all()
    assert main(["next-best-action", "--model", str(model_file), "--input", str(src), "--actionable", "Contract",
                 "--allowed", "Tenure=1", "--key-file", str(tmp_path / "key"), "--output", str(out)]) == 2
