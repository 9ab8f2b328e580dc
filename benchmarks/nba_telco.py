"""Benchmark: personalised next best actions on Telco against one action for everyone, judged by a second model.

An action's effect cannot be observed in historical data, so every figure
here is a model estimate. To keep the comparison from rewarding the quirks of
the model that chose the actions, the data are split in halves (stratified,
seed 0): model A (the churn template, random forest) is trained on one half
and chooses actions for the at-risk customers (A's risk >= 0.5) of the other
half; model B, trained on that other half, re-scores the chosen changes.

Compared (same customers, same allowed changes: Contract, TechSupport,
OnlineSecurity, PaymentMethod to an automatic or mailed method):

* **next best action** (:func:`aihub.nba.next_best_actions` with A's training
  half): five cross-fitted copies of A re-score every change; each customer's
  effects are shrunk toward the change's mean over the at-risk customers; the
  global best change is the default, replaced only when every copy agrees
  another is better for this customer;
* first version: each customer's largest estimate under A alone (no training table);
* **baseline: one action for everyone**: the single change that lowers A's
  mean risk the most over all at-risk customers, applied to each of them;
* random allowed change (context).

Reported: the mean drop of B's churn risk per at-risk customer.

Usage::

    python benchmarks/nba_telco.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.ml import predict, suggest_config, train_model
from aihub.nba import next_best_actions

ALLOWED = {
    "Contract": ["One year", "Two year"],
    "TechSupport": ["Yes"],
    "OnlineSecurity": ["Yes"],
    "PaymentMethod": ["Bank transfer (automatic)", "Credit card (automatic)", "Mailed check"],
}


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def _train(frame: pd.DataFrame):
    cfg = suggest_config("churn", frame, algorithm="random_forest",
                         hyperparameters={"n_estimators": 100, "class_weight": "balanced"})
    return train_model(cfg, frame)


def _risk(model, frame: pd.DataFrame) -> np.ndarray:
    return predict(model, frame)["probability"].to_numpy(dtype=float)


def main() -> int:
    telco = pd.read_csv(shared_dir() / "telco_churn" / "telco_customer_churn.csv")
    half_a, half_b = train_test_split(telco, test_size=0.5, random_state=0, stratify=telco["Churn"])
    model_a, model_b = _train(half_a), _train(half_b)
    customers = half_b.drop(columns=["Churn"]).reset_index(drop=True)
    risk_a = _risk(model_a, customers)
    at_risk = customers[risk_a >= 0.5].reset_index(drop=True)
    before_b = _risk(model_b, at_risk)

    def applied(actions: pd.DataFrame) -> pd.DataFrame:
        out = at_risk.copy()
        for _, r in actions[actions["feature"].notna() & (actions["rank"] == 1)].iterrows():
            out.loc[r["row"] - 1, r["feature"]] = r["suggested_value"]
        return out

    changes = [(f, v) for f, vals in ALLOWED.items() for v in vals]
    mean_a = {(f, v): _risk(model_a, at_risk.assign(**{f: v})).mean() for f, v in changes}
    f_best, v_best = min(mean_a, key=mean_a.get)
    everyone = at_risk.assign(**{f_best: v_best})

    chosen = next_best_actions(model_a, at_risk, ALLOWED, only_reasons=False, max_actions=1, min_risk_drop=0.0,
                               training=half_a)
    first = next_best_actions(model_a, at_risk, ALLOWED, only_reasons=False, max_actions=1, min_risk_drop=0.0)
    basis = chosen.loc[chosen["rank"] == 1, "basis"].value_counts()

    rng = np.random.default_rng(0)
    rand = at_risk.copy()
    for i in range(len(rand)):
        f, v = changes[rng.integers(len(changes))]
        rand.loc[i, f] = v

    print(f"Telco: {len(at_risk)} at-risk customers (model A risk >= 0.5) of {len(customers)} held-out customers; "
          f"mean judge (model B) risk {before_b.mean():.3f}")
    print(f"next best action: the global change for {basis.get('global', 0)} customers, a personal one for "
          f"{basis.get('personal', 0)}")
    own = (chosen["rank"] == 1) & (chosen["basis"] == "personal")
    if own.any():
        idx = chosen.loc[own, "row"].to_numpy() - 1
        mine = (before_b - _risk(model_b, applied(chosen)))[idx].mean()
        theirs = (before_b - _risk(model_b, everyone))[idx].mean()
        print(f"  those {len(idx)} customers, judge B's mean drop: {mine:.3f} with their own action, {theirs:.3f} "
              "with the global one")
    print(f"{'policy':<52}{'mean drop, judge B':>20}{'mean drop, chooser A':>22}")
    for name, frame in (("next best action (ensemble, shrunk, global default)", applied(chosen)),
                        ("first version (largest estimate under A)", applied(first)),
                        (f"baseline: everyone {f_best} = {v_best}", everyone),
                        ("random allowed change", rand)):
        print(f"{name:<52}{(before_b - _risk(model_b, frame)).mean():>20.3f}"
              f"{(_risk(model_a, at_risk) - _risk(model_a, frame)).mean():>22.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
