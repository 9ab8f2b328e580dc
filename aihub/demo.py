"""The demo tenant: generated orders and customers, three users, a forecast and a churn model.

The demo data is **generated**, not real: :func:`generate_orders` draws two
years of order lines of a fictional shop (four regions, three categories)
from a fixed seed, with a yearly cycle, a weekly cycle, growth and a few
planted disruptions; :func:`generate_customers` draws subscription customers
whose churn follows a stated logistic rule (contract, tenure, fibre internet,
support calls, payment method). Every run of ``make run`` seeds the same
rows. Real public data for tests and benchmarks lives in ``../shared/data``.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from aihub import auth, demo_analytics
from aihub.auth import Principal
from aihub.services import (
    batch_predictions,
    datasets,
    forecasts,
    jobs,
    model_config,
    model_training,
    outcomes,
    registry,
)
from aihub.services import monitors as monitor_svc

log = logging.getLogger(__name__)

DEMO_TENANT = "Demo Co"
DEMO_ADMIN = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_USERS = (("analyst@example.com", "Ana Analyst", "analyst"), ("viewer@example.com", "Vic Viewer", "viewer"))
REGIONS = {"West": 0.32, "East": 0.29, "Central": 0.22, "South": 0.17}
CATEGORIES = {"Technology": (420.0, 0.30), "Furniture": (350.0, 0.32), "Office Supplies": (90.0, 0.38)}


def generate_orders(seed: int = 7, start: str = "2023-01-01", days: int = 730) -> pd.DataFrame:
    """Generated order lines of a fictional shop (documented as generated, not real).

    Returns
    -------
    DataFrame with columns Order ID, Order Date (dd/mm/yyyy text), Customer ID, Region, Category, Sales
        (currency units), Quantity. About 9 lines a day.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    t = np.arange(days)
    rate = 7.0 * (1 + 0.25 * t / days) * (1 + 0.25 * np.sin(2 * np.pi * (t - 300) / 365.25))
    rate *= np.where(dates.dayofweek >= 5, 0.6, 1.1)
    rate[200:203] *= 0.1  # a warehouse outage
    rate[500] *= 3.0  # a flash sale
    counts = rng.poisson(rate)
    n = int(counts.sum())
    day_idx = np.repeat(np.arange(days), counts)
    cats = list(CATEGORIES)
    cat = rng.choice(len(cats), n, p=[v[1] for v in CATEGORIES.values()])
    means = np.array([v[0] for v in CATEGORIES.values()])[cat]
    sales = np.round(rng.lognormal(np.log(means) - 0.5, 1.0), 2)
    customers = rng.integers(1, 800, n)
    return pd.DataFrame({
        "Order ID": [f"DM-{i + 100000}" for i in range(n)],
        "Order Date": dates[day_idx].strftime("%d/%m/%Y"),
        "Customer ID": [f"C{c:04d}" for c in customers],
        "Region": rng.choice(list(REGIONS), n, p=list(REGIONS.values())),
        "Category": np.array(cats)[cat],
        "Sales": sales,
        "Quantity": rng.integers(1, 8, n),
    })


CONTRACTS = {"Month-to-month": 0.55, "One year": 0.25, "Two year": 0.20}
INTERNET = {"DSL": (0.35, 52.0), "Fiber optic": (0.45, 86.0), "None": (0.20, 22.0)}
PAYMENTS = {"Electronic check": 0.35, "Mailed check": 0.21, "Bank transfer": 0.22, "Credit card": 0.22}


def generate_customers(n: int = 1500, seed: int = 11, *, start: int = 0) -> pd.DataFrame:
    """Generated subscription customers of a fictional telecom (documented as generated, not real).

    Churn is drawn from a logistic rule, so a model has something real to
    learn: log-odds ``-1.3 + 1.4 [month-to-month] - 0.9 [two-year] + 0.8
    [fibre] - 0.035 tenure + 0.35 support calls + 0.5 [electronic check] + 0.2
    [paperless]``.

    Parameters
    ----------
    n : int
        Customers.
    seed : int
    start : int
        First customer number (ids ``CU00000``...), so a second draw can be new customers.

    Returns
    -------
    DataFrame with columns Customer ID, Tenure Months (1 to 72), Contract, Internet Service, Monthly Charges
        (currency units), Support Calls (last 12 months), Payment Method, Paperless Billing (Yes/No), Churned (Yes/No).
    """
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, n)
    contract = rng.choice(list(CONTRACTS), n, p=list(CONTRACTS.values()))
    internet = rng.choice(list(INTERNET), n, p=[v[0] for v in INTERNET.values()])
    monthly = np.round(np.array([INTERNET[i][1] for i in internet]) + rng.normal(0, 8, n), 2).clip(15, None)
    calls = rng.poisson(1.2, n)
    payment = rng.choice(list(PAYMENTS), n, p=list(PAYMENTS.values()))
    paperless = rng.choice(["Yes", "No"], n, p=[0.6, 0.4])
    logit = (-1.3 + 1.4 * (contract == "Month-to-month") - 0.9 * (contract == "Two year")
             + 0.8 * (internet == "Fiber optic") - 0.035 * tenure + 0.35 * calls
             + 0.5 * (payment == "Electronic check") + 0.2 * (paperless == "Yes"))
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "Customer ID": [f"CU{start + i:05d}" for i in range(n)],
        "Tenure Months": tenure,
        "Contract": contract,
        "Internet Service": internet,
        "Monthly Charges": monthly,
        "Support Calls": calls,
        "Payment Method": payment,
        "Paperless Billing": paperless,
        "Churned": np.where(churned, "Yes", "No"),
    })


def seed_churn_model(admin: Principal) -> int | None:
    """Train and deploy "Demo churn" on generated customers, score 300 new ones and record their outcomes.

    The new customers are scored with SHAP explanations, so the churn insight
    can name the top reasons. Returns the model id (None if training failed).
    Takes a few seconds.
    """
    data = generate_customers().to_csv(index=False).encode()
    saved = datasets.save_upload(admin, "Demo customers", "demo_customers.csv", data,
                                 description="Generated subscription customers with churn (not real data).")
    dataset_id = saved.version.dataset_id
    config = model_config.template_config(admin, "churn", dataset_id, model_name="Demo churn",
                                        algorithm="random_forest",
                                        hyperparameters={"n_estimators": 60, "class_weight": "balanced"})
    model, job = model_training.create_model(admin, config, dataset_id, run=False)
    if jobs.run_job(admin.tenant_id, job.id) != "succeeded":
        log.warning("demo churn model did not train: %s", registry.get_job(admin, job.id).error)
        return None
    registry.deploy(admin, model.id, registry.list_versions(admin, model.id)[0].id)
    new = generate_customers(300, seed=12, start=5000)
    batch = batch_predictions.predict_batch(admin, model.id, "new_customers.csv",
                                            new.drop(columns="Churned").to_csv(index=False).encode(), explain=True)
    actuals = pd.DataFrame({"prediction_id": batch.results["prediction_id"], "actual": new["Churned"]})
    outcomes.record_outcomes(admin, "outcomes.csv", actuals.to_csv(index=False).encode())
    return model.id


DEMO_MONITOR = {
    "detection_name": "Daily revenue by Region", "anomaly_type": "revenue_anomaly", "algorithm": "auto",
    "monitored_metrics": ["daily_revenue"], "detection_frequency": "daily", "dimensions": ["Region"],
}


def seed_demo(password: str | None = None, *, train: bool = True) -> Principal:
    """Create the demo tenant, its users, its datasets, a run revenue monitor, a deployed forecast and churn model,
    and its insights.

    Idempotent: when the tenant exists it is left as it is (nothing is lost); it only gains the business
    analytics of :mod:`aihub.demo_analytics` if it was made before they existed.

    Returns
    -------
    Principal
        The demo admin.
    """
    password = password or os.environ.get("AIHUB_DEMO_PASSWORD", DEMO_PASSWORD)
    if auth.find_tenant(DEMO_TENANT) is not None:
        admin = auth.principal_for(DEMO_ADMIN)
        if train:
            demo_analytics.seed_analytics(admin)  # an older demo gains the analytics; nothing else changes
        return admin
    admin = auth.create_tenant(DEMO_TENANT, DEMO_ADMIN, password, admin_name="Demo Admin")
    for email, name, role in DEMO_USERS:
        auth.add_user(admin, email, name, role, password)
    data = generate_orders().to_csv(index=False).encode()
    saved = datasets.save_upload(admin, "Demo orders", "demo_orders.csv", data,
                                 description="Generated order lines of a fictional shop (not real data).")
    monitor = monitor_svc.create_monitor(admin, DEMO_MONITOR, dataset_id=saved.version.dataset_id)
    run = monitor_svc.run_monitor(admin, monitor.id)
    monitor_svc.set_schedule(admin, monitor.id, {"every": "daily", "at": "06:00"})  # the worker runs it each morning
    log.info("demo monitor %s: %s, %d anomalies", monitor.name, run.status, run.anomalies_found)
    if train:
        model, job = forecasts.create_forecast_model(admin, {
            "model_name": "Demo monthly sales", "dataset_id": saved.version.dataset_id,
            "date_column": "Order Date", "value_column": "Sales", "freq": "M", "agg": "sum",
            "horizon": 6, "algorithm": "auto",
        }, run=False)
        if jobs.run_job(admin.tenant_id, job.id) == "succeeded":
            version = registry.list_versions(admin, model.id)[0]
            registry.deploy(admin, model.id, version.id)
        seed_churn_model(admin)
        demo_analytics.seed_analytics(admin)
    seed_insights(admin, trained=train)
    return admin


def seed_insights(admin: Principal, *, trained: bool = True) -> int:
    """Record the seeding's uses of the AI features and generate the demo tenant's insights.

    Returns how many insights were stored (0 if generation failed; seeding
    never fails because of it).
    """
    from aihub.errors import AihubError
    from aihub.services import insights as insights_service
    from aihub.services import usage

    for feature, action in (("data", "upload"), ("detect", "run"), *((("train", "forecast"), ("train", "ml"),
                                                                      ("predict", "batch")) if trained else ())):
        usage.record(admin, feature, action)
    try:
        found = insights_service.generate(admin)
    except AihubError as exc:
        log.warning("demo insights were not generated: %s", exc)
        return 0
    log.info("demo insights: %s", "; ".join(i.title for i in found))
    return len(found)
