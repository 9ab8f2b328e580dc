"""File-mode CLI: ``train`` then ``predict`` in a subprocess, plus key handling and errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from aihub.ml.cli import main
from tests.conftest import DATA

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AIHUB_ARTIFACT_KEY")}
    e["HOME"] = str(tmp_path / "home")
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def run(args, env):
    return subprocess.run([sys.executable, "-m", "aihub.ml.cli", *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_train_predict_round_trip_in_subprocess(tmp_path, env):
    telco = pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv")
    train_csv, x_csv = tmp_path / "train.csv", tmp_path / "x.csv"
    telco.iloc[:1500].to_csv(train_csv, index=False)
    x = telco.iloc[1500:1520].drop(columns=["Churn"]).astype({"tenure": object})
    x.iloc[4, x.columns.get_loc("tenure")] = "n/a?"
    x.to_csv(x_csv, index=False)
    model = tmp_path / "churn.aihub"

    r = run(["train", "--input", str(train_csv), "--target", "Churn", "--model", "logistic_regression", "--output", str(model)], env)
    assert r.returncode == 0, r.stderr
    assert "roc_auc" in r.stdout and "brier" in r.stdout and "customerID" in r.stderr  # id column left out, with a warning
    assert "probability = P(Churn) (positive class 'Yes', a conventional positive label)" in r.stdout
    threshold = float(re.search(r"Decision threshold (\d\.\d\d) \(best f1 on ", r.stdout).group(1))
    key_file = Path(env["HOME"]) / ".aihub" / "artifact.key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"

    pred = tmp_path / "pred.csv"
    r = run(["predict", "--model", str(model), "--input", str(x_csv), "--output", str(pred), "--explain"], env)
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(pred)
    assert len(out) == 20 and out["customerID"].tolist() == x["customerID"].tolist()  # input order, ids kept
    assert {"prediction", "probability", "explanation", "top_contributions", "error"} <= set(out.columns)
    assert out["error"].notna().tolist() == [i == 4 for i in range(20)]
    assert "row 5" in out["error"].iloc[4] and "row 5" in r.stderr
    ok = out["error"].isna()
    assert out.loc[ok, "probability"].between(0, 1).all() and out.loc[ok, "explanation"].str.contains("log-odds").all()
    assert ((out.loc[ok, "prediction"] == "Yes") == (out.loc[ok, "probability"] >= threshold)).all()
    assert (out.loc[ok, "positive_class"] == "Yes").all() and "probability = P(Churn)" in r.stdout

    flipped = tmp_path / "flipped.csv"
    r = run(["predict", "--model", str(model), "--input", str(x_csv), "--output", str(flipped), "--positive-class", "No"], env)
    assert r.returncode == 0, r.stderr
    pd.testing.assert_series_equal(pd.read_csv(flipped)["probability"], 1 - out["probability"], check_names=False)

    env_wrong = dict(env, AIHUB_ARTIFACT_KEY="a-different-key-of-enough-length")
    r = run(["predict", "--model", str(model), "--input", str(x_csv), "--output", str(tmp_path / "p2.csv")], env_wrong)
    assert r.returncode == 1 and "signature does not match" in r.stderr
    assert not (tmp_path / "p2.csv").exists()


def test_main_reports_user_errors_with_exit_code_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY", raising=False)
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY_FILE", raising=False)
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": range(30), "b": ["x", "y", "z"] * 10}).to_csv(csv, index=False)
    assert main(["train", "--input", str(csv), "--target", "missing", "--output", str(tmp_path / "m.aihub")]) == 2
    assert "target column 'missing' is not in the data" in capsys.readouterr().err
    assert main(["train", "--input", str(tmp_path / "nope.csv"), "--target", "a", "--output", str(tmp_path / "m.aihub")]) == 2
    assert main(["predict", "--model", str(tmp_path / "m.aihub"), "--input", str(csv), "--output", str(tmp_path / "p.csv")]) == 1
    assert "no artifact key" in capsys.readouterr().err


def test_clustering_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY", raising=False)
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY_FILE", raising=False)
    telco = pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv", nrows=400)
    csv = tmp_path / "t.csv"
    telco[["customerID", "tenure", "MonthlyCharges", "Contract"]].to_csv(csv, index=False)
    model = tmp_path / "seg.aihub"
    assert main(["train", "--input", str(csv), "--task", "clustering", "--model", "kmeans", "--output", str(model)]) == 0
    assert main(["predict", "--model", str(model), "--input", str(csv), "--output", str(tmp_path / "s.csv")]) == 0
    seg = pd.read_csv(tmp_path / "s.csv")
    assert len(seg) == 400 and seg["segment"].str.startswith("Segment ").all()
