"""The demo tenant's business analytics: small generated data (not real) and one trained analytic of each kind.

Generated from fixed seeds so ``make run`` shows every analytic screen with
data in a few seconds: shop order lines with product bundles
(recommendations, customer value), a monthly price panel where most products
vary their price and two never do (pricing, including "cannot support an
estimate"), weekly demand and stock on hand (inventory, some products below
their reorder point), and dated product reviews with one product's sentiment
falling in the last month and a few non-English texts (sentiment).
Tests and benchmarks use the real data in ``../shared/data`` instead.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from aihub.auth import Principal
from aihub.services import analytics, datasets, jobs, registry

log = logging.getLogger(__name__)

PRODUCTS = {
    "Coffee": ["Espresso machine", "Coffee beans 1kg", "Milk frother", "Coffee grinder", "Descaler", "Travel mug"],
    "Tea": ["Green tea", "Black tea", "Teapot", "Tea infuser", "Herbal tea", "Honey jar"],
    "Baking": ["Stand mixer", "Baking tray", "Flour 5kg", "Rolling pin", "Cake tin", "Piping set"],
    "Kitchen": ["Chef knife", "Cutting board", "Knife sharpener", "Frying pan", "Spatula set", "Oven gloves"],
}
#: Products bought together more often than chance (first item -> companions).
BUNDLES = {"Espresso machine": ["Coffee beans 1kg", "Milk frother", "Descaler"], "Teapot": ["Tea infuser", "Green tea"],
           "Stand mixer": ["Baking tray", "Cake tin", "Piping set"], "Chef knife": ["Cutting board", "Knife sharpener"]}
DATASET_NAMES = ("Demo shop order lines", "Demo price history", "Demo stock", "Demo reviews")


def _catalogue() -> pd.DataFrame:
    rows = [(f"P{10 * i + j:03d}", name, cat, float(8 + 7 * j + 30 * (i == 2)))
            for i, (cat, names) in enumerate(PRODUCTS.items()) for j, name in enumerate(names)]
    return pd.DataFrame(rows, columns=["Product ID", "Product Name", "Category", "Price"])


def generate_shop_lines(seed: int = 21, customers: int = 300, days: int = 540) -> pd.DataFrame:
    """Order lines with category-loyal customers and product bundles (generated).

    Returns
    -------
    DataFrame with columns Order Date (ISO), Customer ID, Product ID, Product Name, Category, Quantity, Sales.
    """
    rng = np.random.default_rng(seed)
    cat = _catalogue()
    names = cat.set_index("Product Name")
    cats = list(PRODUCTS)
    favourite = rng.integers(0, len(cats), customers)
    rate = rng.gamma(1.5, 1.0, customers) * 8 / 365  # orders per day
    lifetime = rng.exponential(400, customers)  # days until a customer stops buying
    lines = []
    start = pd.Timestamp("2023-07-01")
    for c in range(customers):
        active = max(1, int(min(days, lifetime[c])))
        n = max(1, rng.poisson(rate[c] * active))
        for day in np.sort(rng.integers(0, active, n)):
            pool = PRODUCTS[cats[favourite[c]] if rng.random() < 0.7 else cats[rng.integers(0, len(cats))]]
            first = pool[rng.integers(0, len(pool))]
            basket = [first] + [b for b in BUNDLES.get(first, []) if rng.random() < 0.5]
            for item in basket:
                q = int(rng.integers(1, 4))
                lines.append((start + pd.Timedelta(days=int(day)), f"C{c + 1:04d}", names.loc[item, "Product ID"], item,
                              names.loc[item, "Category"], q, round(q * names.loc[item, "Price"], 2)))
    out = pd.DataFrame(lines, columns=["Order Date", "Customer ID", "Product ID", "Product Name", "Category",
                                       "Quantity", "Sales"]).sort_values("Order Date", kind="stable")
    out["Order Date"] = out["Order Date"].dt.strftime("%Y-%m-%d")
    return out.reset_index(drop=True)


def generate_price_history(seed: int = 22, months: int = 30) -> pd.DataFrame:
    """Monthly price, quantity, competitor price and unit cost per product (generated).

    Each category has its own true elasticity (Coffee -2.4, Tea -1.5, Baking
    -0.7, Kitchen -1.1); the two knives (category Knives) never change their
    price, so their response cannot be estimated and their price is kept.
    """
    rng = np.random.default_rng(seed)
    elasticity = {"Coffee": -2.4, "Tea": -1.5, "Baking": -0.7, "Kitchen": -1.1}
    periods = pd.date_range("2022-01-01", periods=months, freq="MS")
    rows = []
    for _, p in _catalogue().iterrows():
        fixed = p["Product Name"] in ("Chef knife", "Knife sharpener")
        base_q = rng.uniform(80, 400)
        for t, month in enumerate(periods):
            price = p["Price"] * (1.0 if fixed else float(np.exp(rng.normal(0, 0.08))))
            comp = p["Price"] * float(np.exp(rng.normal(0.02, 0.05)))
            season = 1 + 0.15 * np.sin(2 * np.pi * (month.month - 10) / 12)
            q = base_q * season * (price / p["Price"]) ** elasticity[p["Category"]] * (comp / p["Price"]) ** 0.5
            category = "Knives" if fixed else p["Category"]  # a category that never varies its prices
            rows.append((p["Product ID"], p["Product Name"], category, month.strftime("%Y-%m-%d"), round(price, 2),
                         int(rng.poisson(q)), round(comp, 2), round(p["Price"] * 0.55, 2)))
    return pd.DataFrame(rows, columns=["Product ID", "Product Name", "Category", "Month", "Unit price", "Quantity",
                                       "Competitor price", "Unit cost"])


def generate_stock(seed: int = 23, weeks: int = 100) -> pd.DataFrame:
    """Weekly units sold and stock on hand for six products (generated); two are low on stock in the last week."""
    rng = np.random.default_rng(seed)
    items = ["Espresso machine", "Coffee beans 1kg", "Green tea", "Stand mixer", "Baking tray", "Chef knife"]
    level = {"Espresso machine": 12, "Coffee beans 1kg": 60, "Green tea": 35, "Stand mixer": 6, "Baking tray": 20,
             "Chef knife": 9}
    weeks_idx = pd.date_range("2023-01-02", periods=weeks, freq="W-MON")
    rows = []
    for name in items:
        season = 1 + 0.3 * np.sin(2 * np.pi * (np.arange(weeks) - 40) / 52)
        demand = rng.poisson(level[name] * season)
        low = name in ("Coffee beans 1kg", "Stand mixer")
        on_hand = np.maximum(0, (3 * level[name] + rng.normal(0, level[name], weeks))).round()
        on_hand[-1] = round(level[name] * (1.2 if low else 6.0))
        rows += [(w.strftime("%Y-%m-%d"), name, int(d), float(h)) for w, d, h in zip(weeks_idx, demand, on_hand)]
    return pd.DataFrame(rows, columns=["Week", "Product", "Units sold", "Stock on hand"])


_GOOD = ["Works great and arrived quickly.", "Excellent quality, I love it!", "Really happy with this purchase.",
         "Great value for the money.", "Sturdy, well made and easy to clean.", "Perfect gift, highly recommended."]
_BAD = ["Broke after two weeks, very disappointed.", "Terrible quality and the support was useless.",
        "It leaks and the lid does not fit. Awful.", "Stopped working, waste of money.",
        "Poor build, would not buy again.", "Arrived damaged and the replacement was worse."]
_MEH = ["It does the job.", "Arrived on Tuesday.", "Average product, nothing special.", "Smaller than expected."]
_FOREIGN = ["Muy buena calidad, llegó rápido y funciona perfectamente.", "Das Produkt ist leider schon kaputt gegangen.",
            "Très bon produit, je le recommande à tous mes amis."]


def generate_reviews(seed: int = 24, days: int = 240) -> pd.DataFrame:
    """Dated reviews per product (generated); the espresso machine's reviews turn negative in the last month."""
    rng = np.random.default_rng(seed)
    items = ["Espresso machine", "Teapot", "Stand mixer", "Chef knife"]
    start = pd.Timestamp("2024-05-01")
    rows = []
    for day in range(days):
        for _ in range(rng.poisson(2.5)):
            item = items[rng.integers(0, len(items))]
            p_bad = 0.6 if item == "Espresso machine" and day >= days - 30 else 0.15
            u = rng.random()
            pool = _BAD if u < p_bad else (_MEH if u < p_bad + 0.1 else _GOOD)
            text = pool[rng.integers(0, len(pool))] if rng.random() > 0.01 else _FOREIGN[rng.integers(0, 3)]
            rows.append(((start + pd.Timedelta(days=day)).strftime("%Y-%m-%d"), item, int(rng.integers(1, 6)), text))
    return pd.DataFrame(rows, columns=["Date", "Product", "Stars", "Review"])


def _train(admin: Principal, kind: str, raw: dict) -> int | None:
    model, job = analytics.create_analytic(admin, kind, raw, run=False)
    if jobs.run_job(admin.tenant_id, job.id) != "succeeded":
        log.warning("demo %s analytic did not train: %s", kind, registry.get_job(admin, job.id).error)
        return None
    return model.id


def seed_analytics(admin: Principal) -> dict[str, int | None]:
    """Upload the four generated datasets and train one analytic of each kind (about ten seconds).

    Skipped when the demo already has them (so a second ``make run`` or an
    older demo tenant loses nothing and gains what is missing).

    Returns
    -------
    dict
        kind -> model id (None when its training failed; seeding never fails because of it).
    """
    have = {d.name for d in datasets.list_datasets(admin)}
    if DATASET_NAMES[0] in have:
        return {}

    def upload(name: str, frame: pd.DataFrame) -> int:
        data = frame.to_csv(index=False).encode()
        return datasets.save_upload(admin, name, f"{name.lower().replace(' ', '_')}.csv", data,
                                    description="Generated for the demo (not real data).").version.dataset_id

    shop = upload(DATASET_NAMES[0], generate_shop_lines())
    prices = upload(DATASET_NAMES[1], generate_price_history())
    stock = upload(DATASET_NAMES[2], generate_stock())
    reviews = upload(DATASET_NAMES[3], generate_reviews())
    return {
        "recommend": _train(admin, "recommend", analytics.suggest_config(
            admin, "recommend", shop, model_name="Demo recommendations", weight_column="Quantity")),
        "clv": _train(admin, "clv", analytics.suggest_config(admin, "clv", shop, model_name="Demo customer value",
                                                             horizon_days=180.0)),
        "pricing": _train(admin, "pricing", {
            "model_name": "Demo prices", "dataset_id": prices, "product_column": "Product Name",
            "date_column": "Month", "price_column": "Unit price", "quantity_column": "Quantity",
            "category_column": "Category", "competitor_columns": ["Competitor price"], "cost_column": "Unit cost",
            "objective": "profit", "max_change": 0.15, "min_margin": 0.3}),
        "inventory": _train(admin, "inventory", {
            "model_name": "Demo stock", "dataset_id": stock, "product_column": "Product", "date_column": "Week",
            "quantity_column": "Units sold", "position_column": "Stock on hand", "freq": "W", "lead_time": 2.0,
            "service_level": 0.95, "ordering_cost": 40.0, "holding_cost": 0.5}),
        "sentiment": _train(admin, "sentiment", {
            "model_name": "Demo reviews", "dataset_id": reviews, "text_column": "Review", "time_column": "Date",
            "group_column": "Product", "freq": "M"}),
    }
