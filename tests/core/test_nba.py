"""Next best actions on Telco with a churn model trained here: re-scored effects, reasons, limits, command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.ml import dump_artifact, predict, suggest_config, train_model
from aihub.nba import OUTPUT_COLUMNS, next_best_actions
from aihub.nba.core import ActionParams, _Changes, _choose, _global_change, _shrunk
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
        assert r["estimated_drop"] == pytest.approx(r["risk_drop"])  # one model: its own estimate, unshrunk
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
    train_file = tmp_path / "train.csv"
    telco.iloc[1000:2500].to_csv(train_file, index=False)
    assert main(["next-best-action", "--model", str(model_file), "--input", str(src), "--actionable", "Contract",
                 "--training", str(train_file), "--folds", "2", "--key-file", str(tmp_path / "key"),
                 "--output", str(out)]) == 0
    assert set(pd.read_csv(out)["basis"].dropna()) <= {"global", "personal", "next"}
    unlabelled = tmp_path / "unlabelled.csv"
    telco.iloc[1000:1100].drop(columns=["Churn"]).to_csv(unlabelled, index=False)
    assert main(["next-best-action", "--model", str(model_file), "--input", str(src), "--actionable", "Contract",
                 "--training", str(unlabelled), "--key-file", str(tmp_path / "key"), "--output", str(out)]) == 2
    assert main(["next-best-action", "--model", str(model_file), "--input", str(src), "--actionable", "Contract",
                 "--allowed", "Tenure=1", "--key-file", str(tmp_path / "key"), "--output", str(out)]) == 2


def _changes(drops: list[list[float]], keys: list[tuple[int, str, str]]) -> _Changes:
    d = np.array(drops, dtype=float)
    return _Changes(keys, d, np.zeros(d.shape[1]))


def test_the_global_action_is_kept_unless_every_member_prefers_another():
    # 3 members; customers 0-3 can get A (the global action, large effect for all) or B
    keys = [(j, f, "x") for j in range(4) for f in ("A", "B")]
    drops = [[0.30, 0.10, 0.30, 0.50, 0.30, 0.10, 0.30, 0.40],
             [0.30, 0.10, 0.30, 0.25, 0.30, 0.10, 0.30, 0.40],
             [0.30, 0.10, 0.30, 0.50, 0.30, 0.10, 0.30, 0.40]]
    ch = _changes(drops, keys)
    shrunk, population = _shrunk(ch)
    glob = _global_change(ch, population, 4)
    chosen = _choose(ch, shrunk, glob, ActionParams(max_actions=2))
    assert glob == ("A", "x")
    assert chosen[0][0] == (0, "global") and chosen[0][1] == (1, "next")
    # customer 1: B's shrunk estimate beats A, but one member disagrees -> global
    assert shrunk[3] > shrunk[2] and chosen[1][0] == (2, "global")
    # customer 3: every member estimates B above A -> personal
    assert chosen[3][0] == (7, "personal")
    # shrinkage pulls customer 1's noisy B estimate toward B's mean over customers
    b_mean = np.mean(np.array(drops)[:, [1, 3, 5, 7]].mean(axis=0))
    assert abs(shrunk[3] - b_mean) < abs(np.mean(np.array(drops)[:, 3]) - b_mean)


def test_with_the_training_table_choices_are_robust_across_cross_fitted_models(churn, telco):
    from aihub.nba import cross_fitted_models

    training, customers = telco.iloc[:3000], telco.iloc[3000:3400].drop(columns=["Churn"])
    allowed = {"Contract": ["One year", "Two year"], "TechSupport": ["Yes"], "OnlineSecurity": ["Yes"]}
    out = next_best_actions(churn, customers, allowed, only_reasons=False, max_actions=1, training=training, folds=3)
    first = out[out["rank"] == 1]
    assert len(first) and set(first["basis"]) <= {"global", "personal"} and (first["basis"] == "global").any()
    glob = first.loc[first["basis"] == "global", ["feature", "suggested_value"]].drop_duplicates()
    assert len(glob) == 1  # one global action
    members = cross_fitted_models(churn, training, 3)
    assert len(members) == 3
    g_feat, g_val = glob.iloc[0]
    for _, r in first[first["basis"] == "personal"].head(10).iterrows():
        row = customers.iloc[[r["row"] - 1]]
        mine, theirs = row.assign(**{r["feature"]: r["suggested_value"]}), row.assign(**{g_feat: g_val})
        for m in members:
            assert predict(m, mine)["probability"].iloc[0] < predict(m, theirs)["probability"].iloc[0]
    assert np.isfinite(first["estimated_drop_low"]).all()
    assert first["action"].str.contains("across the at-risk customers|in every cross-fitted model").all()
