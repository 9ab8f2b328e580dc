"""Automations of the demo tenant: the three workflow templates, and a drift that is waiting for approval.

``aihub demo`` connects the templates to the demo's churn model and revenue
monitor. Then it scores a batch of *simulated* newer customers whose mix has
shifted (shorter tenures, pricier fibre plans, more month-to-month
contracts, electronic checks and support calls; generated, not real) and checks input drift, so the "drift opens
an approval to retrain" workflow has a run waiting on the Workflows page.
"""

from __future__ import annotations

import logging

import numpy as np

from aihub import auth, demo, demo_sources, workflows
from aihub.auth import Principal
from aihub.errors import AihubError
from aihub.services import batch_predictions, health, registry

log = logging.getLogger(__name__)

WEBHOOK_SECRET = demo_sources.WEBHOOK_SECRET


def shifted_customers(n: int = 300, seed: int = 21):
    """Generated newer customers whose mix drifted from the training data (for the demo only)."""
    frame = demo.generate_customers(n, seed=seed, start=9000).drop(columns="Churned")
    rng = np.random.default_rng(seed)
    frame["Tenure Months"] = rng.integers(1, 13, n)
    frame["Monthly Charges"] = (frame["Monthly Charges"] * 1.45).round(2)
    frame.loc[rng.random(n) < 0.9, "Contract"] = "Month-to-month"
    frame.loc[rng.random(n) < 0.9, "Internet Service"] = "Fiber optic"
    frame.loc[rng.random(n) < 0.9, "Payment Method"] = "Electronic check"
    frame["Support Calls"] = frame["Support Calls"] + rng.poisson(2.0, n)
    return frame


def seed_demo_workflows(admin: Principal) -> list[str]:
    """Create the demo's workflows from the templates (once) and stage a drift that waits for approval.

    Returns the names of the workflows created (none when they exist already).
    """
    if workflows.list_workflows(admin):
        return []
    models = {m.name: m for m in registry.list_models(admin)}
    churn = models.get("Demo churn")
    created = []
    analyst = next((u.username for u in auth.list_users(admin) if u.role == "analyst"), admin.username)
    specs = [("critical_revenue_alert", {
        "webhook_url": f"http://127.0.0.1:{demo_sources.API_PORT}/webhook", "webhook_secret": WEBHOOK_SECRET,
        "assignee": analyst})]
    if churn is not None:
        specs += [("weekly_retrain_promote", {"model_id": churn.id}),
                  ("drift_retrain_approval", {"model_id": churn.id})]
    for key, params in specs:
        try:
            created.append(workflows.create_from_template(admin, key, params).name)
        except AihubError as exc:
            log.warning("demo workflow %s not created: %s", key, exc)
    if churn is not None:
        try:
            batch_predictions.predict_batch(admin, churn.id, "newer_customers.csv",
                                            shifted_customers().to_csv(index=False).encode())
            report = health.check_drift(admin, churn.id)
            log.info("demo drift check: %.0f%% of features drifted", 100 * report.share_drifted)
        except AihubError as exc:
            log.warning("demo drift check failed: %s", exc)
    return created
