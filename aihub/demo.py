"""The demo tenant: a generated orders table, three users and a trained forecast.

The demo data is **generated**, not real: :func:`generate_orders` draws two
years of order lines of a fictional shop (four regions, three categories)
from a fixed seed, with a yearly cycle, a weekly cycle, growth and a few
planted disruptions, so that every run of ``make run`` seeds the same rows.
Real public data for tests and benchmarks lives in ``../shared/data``.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from aihub import auth, datasets, jobs, monitoring, training
from aihub.auth import Principal

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


DEMO_MONITOR = {
    "detection_name": "Daily revenue by Region", "anomaly_type": "revenue_anomaly", "algorithm": "auto",
    "monitored_metrics": ["daily_revenue"], "detection_frequency": "daily", "dimensions": ["Region"],
}


def seed_demo(password: str | None = None, *, train: bool = True) -> Principal:
    """Create the demo tenant, its users, its orders dataset, a run revenue monitor and a deployed monthly forecast.

    Idempotent: when the tenant exists it is left as it is (nothing is lost).

    Returns
    -------
    Principal
        The demo admin.
    """
    password = password or os.environ.get("AIHUB_DEMO_PASSWORD", DEMO_PASSWORD)
    if auth.find_tenant(DEMO_TENANT) is not None:
        return auth.principal_for(DEMO_ADMIN)
    admin = auth.create_tenant(DEMO_TENANT, DEMO_ADMIN, password, admin_name="Demo Admin")
    for email, name, role in DEMO_USERS:
        auth.add_user(admin, email, name, role, password)
    data = generate_orders().to_csv(index=False).encode()
    saved = datasets.save_upload(admin, "Demo orders", "demo_orders.csv", data,
                                 description="Generated order lines of a fictional shop (not real data).")
    monitor = monitoring.create_monitor(admin, DEMO_MONITOR, dataset_id=saved.version.dataset_id)
    run = monitoring.run_monitor(admin, monitor.id)
    log.info("demo monitor %s: %s, %d anomalies", monitor.name, run.status, run.anomalies_found)
    if train:
        model, job = training.create_forecast_model(admin, {
            "model_name": "Demo monthly sales", "dataset_id": saved.version.dataset_id,
            "date_column": "Order Date", "value_column": "Sales", "freq": "M", "agg": "sum",
            "horizon": 6, "algorithm": "auto",
        }, run=False)
        if jobs.run_job(admin.tenant_id, job.id) == "succeeded":
            from aihub import registry

            version = registry.list_versions(admin, model.id)[0]
            registry.deploy(admin, model.id, version.id)
    return admin
