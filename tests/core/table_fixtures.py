"""Synthetic tables shaped like the three public uploads of issue 9, built in code (nothing is downloaded).

* :func:`avocado_csv` -- weekly avocado prices and volumes by region and type, with a national ``TotalUS``
  region that is the sum of the others (as in the public file), and one planted drop in the last week.
* :func:`marketing_csv` -- customers of a marketing campaign: incomes written ``"$84,835.00 "``, ``%m/%d/%y``
  sign-up dates, a 0/1 ``Response`` that is planted to be higher for high incomes without teenagers at home.
* :func:`credit_csv` -- credit applicants with a ``class`` of good/bad, where ``none`` is a category.

Each returns the CSV bytes (to go through :func:`aihub.ingest.read_upload` as an upload would) and what was planted.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

AVOCADO_REGIONS = (
    "Albany",
    "Atlanta",
    "Boston",
    "Chicago",
    "Denver",
    "Houston",
    "LosAngeles",
    "NewYork",
    "Seattle",
    "Portland",
)
#: The planted drop: this region's conventional volume falls to this fraction in the last week.
AVOCADO_DROP = ("Chicago", 0.45)


def avocado_csv(seed: int = 7, weeks: int = 169, drop: bool = True) -> tuple[bytes, dict]:
    """Weekly rows Date, AveragePrice, Total Volume, 4046, 4225, Total Bags, type, year, region (with TotalUS)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2015-01-04", periods=weeks, freq="W-SUN")
    season = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(weeks) / 52.18)
    rows = []
    scale = {r: float(np.exp(rng.normal(13.0, 0.5))) for r in AVOCADO_REGIONS}
    for typ, share, price in (("conventional", 0.97, 1.10), ("organic", 0.03, 1.60)):
        totals = np.zeros(weeks)
        for region in AVOCADO_REGIONS:
            vol = scale[region] * share * season * np.exp(rng.normal(0, 0.08, weeks))
            if drop and typ == "conventional" and region == AVOCADO_DROP[0]:
                vol[-1] *= AVOCADO_DROP[1]
            totals += vol
            avg = price * np.exp(rng.normal(0, 0.05, weeks)) / season**0.3
            rows.append(
                pd.DataFrame(
                    {
                        "Date": dates,
                        "AveragePrice": avg.round(2),
                        "Total Volume": vol.round(2),
                        "type": typ,
                        "region": region,
                    }
                )
            )
        rows.append(
            pd.DataFrame(
                {
                    "Date": dates,
                    "AveragePrice": (price / season**0.3).round(2),
                    "Total Volume": totals.round(2),
                    "type": typ,
                    "region": "TotalUS",
                }
            )
        )
    d = pd.concat(rows, ignore_index=True)
    d["4046"] = (d["Total Volume"] * 0.35).round(2)
    d["4225"] = (d["Total Volume"] * 0.40).round(2)
    d["Total Bags"] = (d["Total Volume"] - d["4046"] - d["4225"]).round(2)
    d["year"] = d["Date"].dt.year
    d = d.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # the public file is not in date order
    d["Date"] = d["Date"].dt.strftime("%Y-%m-%d")
    cols = ["Date", "AveragePrice", "Total Volume", "4046", "4225", "Total Bags", "type", "year", "region"]
    buf = io.StringIO()
    d[cols].to_csv(buf, index=False)
    return buf.getvalue().encode(), {"last_week": dates[-1], "drop_region": AVOCADO_DROP[0]}


def marketing_csv(seed: int = 3, n: int = 2240) -> tuple[bytes, dict]:
    """Customers: ID, Year_Birth, Education, Marital_Status, Income ("$84,835.00 "), Kidhome, Teenhome,
    Dt_Customer (%m/%d/%y), Recency, MntWines, NumWebPurchases, Response (0/1)."""
    rng = np.random.default_rng(seed)
    income = np.clip(rng.lognormal(np.log(52_000), 0.45, n), 4_000, 250_000).round(0)
    teen = rng.choice([0, 1, 2], n, p=[0.52, 0.45, 0.03])
    kid = rng.choice([0, 1, 2], n, p=[0.58, 0.40, 0.02])
    recency = rng.integers(0, 100, n)
    high = (income >= 71_000) & (teen == 0)
    p = np.where(high, 0.32, 0.10) * np.where(recency < 20, 1.3, 0.95)
    response = (rng.random(n) < np.clip(p, 0, 1)).astype(int)
    signup = pd.Timestamp("2012-07-30") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    d = pd.DataFrame(
        {
            "ID": rng.permutation(np.arange(1, 11_200))[:n],
            "Year_Birth": rng.integers(1945, 1998, n),
            "Education": rng.choice(
                ["Graduation", "PhD", "Master", "Basic", "2n Cycle"], n, p=[0.5, 0.22, 0.16, 0.03, 0.09]
            ),
            "Marital_Status": rng.choice(
                ["Married", "Together", "Single", "Divorced", "Widow"], n, p=[0.39, 0.26, 0.21, 0.1, 0.04]
            ),
            "Income": [f"${v:,.2f} " for v in income],
            "Kidhome": kid,
            "Teenhome": teen,
            "Dt_Customer": signup.strftime("%m/%d/%y"),
            "Recency": recency,
            "MntWines": (income / 100 * rng.lognormal(0, 0.6, n)).round(0).astype(int),
            "NumWebPurchases": rng.poisson(4, n),
            "Response": response,
        }
    )
    d.loc[rng.choice(n, 24, replace=False), "Income"] = ""  # blank incomes, as in the public file
    buf = io.StringIO()
    d.to_csv(buf, index=False)
    return buf.getvalue().encode(), {"high_rule": "Income >= 71,000 and Teenhome = 0"}


def credit_csv(seed: int = 5, n: int = 1000) -> tuple[bytes, dict]:
    """Applicants: checking_status, duration, credit_amount, other_parties (mostly 'none'), age, class (good/bad)."""
    rng = np.random.default_rng(seed)
    checking = rng.choice(["<0", "0<=X<200", ">=200", "no checking"], n, p=[0.27, 0.27, 0.06, 0.40])
    duration = rng.integers(4, 72, n)
    amount = (rng.lognormal(np.log(2300), 0.7, n)).round(0)
    other = rng.choice(["none", "guarantor", "co applicant"], n, p=[0.907, 0.052, 0.041])
    age = rng.integers(19, 75, n)
    logit = (
        -1.6
        + np.where(checking == "<0", 1.3, 0)
        + np.where(checking == "0<=X<200", 0.8, 0)
        + 0.025 * (duration - 20)
        - np.where(checking == "no checking", 0.9, 0)
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    d = pd.DataFrame(
        {
            "checking_status": checking,
            "duration": duration,
            "credit_amount": amount,
            "other_parties": other,
            "age": age,
            "class": np.where(bad, "bad", "good"),
        }
    )
    buf = io.StringIO()
    d.to_csv(buf, index=False)
    return buf.getvalue().encode(), {"positive": "bad"}
