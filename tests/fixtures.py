"""Helpers shared by test modules in several folders: the one place a test imports a helper from.

* synthetic tables shaped like the three public uploads of issue 9, built in code (nothing is downloaded):
  :func:`avocado_csv` -- weekly avocado prices and volumes by region and type, with a national ``TotalUS``
  region that is the sum of the others (as in the public file), and one planted drop in the last week;
  :func:`marketing_csv` -- customers of a marketing campaign: incomes written ``"$84,835.00 "``, ``%m/%d/%y``
  sign-up dates, a 0/1 ``Response`` that is planted to be higher for high incomes without teenagers at home;
  :func:`credit_csv` -- credit applicants with a ``class`` of good/bad, where ``none`` is a category.
  Each returns the CSV bytes (to go through :func:`aihub.ingest.read_upload` as an upload would) and what was planted;
* the AppTest driver of the screens (:func:`_app`, :func:`_login`, :func:`_texts`);
* planted monitoring data (:func:`regional_csv`, :func:`outage_csv`) and monitor configs;
* real servers on 127.0.0.1: a signing webhook :class:`Receiver` (fixture ``receiver``), an SMTP server
  (``smtp_server``), a paginated orders REST API (``api``, :func:`_start_api`, :func:`_rest` its source config),
  and worker processes (``start_worker``);
* a quick churn model (:func:`_quick_model`) and the insight-engine inputs (:func:`_inputs`);
* a throw-away database migrated to a given revision, for migration tests (:func:`database_at`).

Test modules import fixtures from here by name (``# noqa: F401``), so pytest finds them in that module.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from aihub import notify
from aihub.demo import generate_customers
from aihub.insights import AnomaliesInput, ForecastInput, InsightInputs, PredictionsInput
from aihub.services import datasets, jobs, model_config, model_training, registry
from tests.conftest import REPO, SERVER_URL, new_tenant, shared_file

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


# from tests/core/test_insights_engine.py
NOW = datetime(2023, 1, 10, tzinfo=UTC)


# from tests/core/test_insights_engine.py
def _inputs() -> InsightInputs:
    """A forecast shortfall, a churn summary and an anomaly digest."""
    hist = pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=36, freq="MS"), "y": 100_000.0})
    fc = pd.DataFrame(
        {
            "ds": pd.date_range("2023-01-01", periods=3, freq="MS"),
            "yhat": 90_000.0,
            "yhat_lower_80": 80_000.0,
            "yhat_upper_80": 100_000.0,
        }
    )
    pred = pd.DataFrame(
        {
            "customer": [f"C{i}" for i in range(10)],
            "probability": np.linspace(0.1, 0.9, 10),
            "revenue": 2_000.0,
            "top_reasons": [[("recency_days", 0.2)]] * 10,
        }
    )
    anomalies = pd.DataFrame(
        {"id": [1, 2], "severity": ["critical", "high"], "status": ["new", "new"], "impact": [-4_000.0, -1_000.0]}
    )
    return InsightInputs(
        forecasts=ForecastInput(fc, hist, model_id=1),
        predictions=PredictionsInput(pred, model_id=2),
        anomalies=AnomaliesInput(anomalies),
    )


# from tests/services/test_monitor_schedules_alerts.py
ONE_SERIES = {"detection_name": "daily revenue", "anomaly_type": "revenue", "monitored_metrics": ["daily_revenue"]}


# from tests/services/test_monitor_schedules_alerts.py
def outage_csv(days: int) -> bytes:
    """Daily revenue (weekly pattern, noise sd 10 on 1,000), the first ``days`` days from 2023-01-02.

    Planted incidents: an outage from day 120 to day 124 (revenue -60% for five days in a row: one
    incident over several periods) and a one-day spike of +500 on day 170.
    """
    rng = np.random.default_rng(3)
    ts = pd.date_range("2023-01-02", periods=200, freq="D")
    v = 1000 - 200 * ts.dayofweek.isin([5, 6]) + rng.normal(0, 10, 200)
    v[120:125] *= 0.4
    v[170] += 500
    frame = pd.DataFrame({"date": ts.strftime("%Y-%m-%d"), "revenue": v.round(2)})
    return frame.iloc[:days].to_csv(index=False).encode()


# from tests/services/test_monitor_schedules_alerts.py
def _start_api(monkeypatch):
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.rows = [{"day": f"2024-01-0{i}", "region": "West" if i % 2 else "East", "sales": 100 + i}
                   for i in range(1, 6)]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    return server


# from tests/services/test_monitoring.py
REGION_MONITOR = {"detection_name": "Daily revenue by Region", "anomaly_type": "revenue",
                  "monitored_metrics": ["daily_revenue"], "dimensions": ["Region"]}


# from tests/services/test_monitoring.py
# ---------------------------------------------------------------- planted data
def regional_csv(days: int = 200, incidents=((90, "West", -300), (150, "East", 400)), seed: int = 5) -> bytes:
    """Daily revenue of three regions (one order row per region and day), weekends 20% lower, noise 2-3%.

    Planted incidents ``(day index, region, delta)``: a West drop on day 90
    (2023-04-02) and an East rise on day 150 (2023-06-01).
    """
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2023-01-02", periods=days, freq="D")
    rows = []
    for region, (mu, sd) in {"West": (400, 10), "East": (300, 8), "Central": (200, 6)}.items():
        v = mu * (1 - 0.2 * ts.dayofweek.isin([5, 6])) + rng.normal(0, sd, days)
        for day, reg, delta in incidents:
            if reg == region:
                v[day] += delta
        rows += [(t.strftime("%Y-%m-%d"), region, round(float(v[i]), 2)) for i, t in enumerate(ts)]
    frame = pd.DataFrame(rows, columns=["date", "Region", "revenue"])
    frame.insert(0, "order_id", [f"O{i:06d}" for i in range(len(frame))])
    return frame.to_csv(index=False).encode()


# from tests/services/test_predictive.py
def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


# from tests/services/test_predictive.py
@contextlib.contextmanager
def quick_model_on(database, tenant_name: str, model_name: str):
    """``(principal, model, version)``: a new tenant's deployed quick model on ``database``, which is the
    current database while the block runs (module fixtures of tests that need the server, e.g. Dask's)."""
    from aihub.db import engine as dbengine

    previous = dbengine._database
    dbengine.set_database(database)
    try:
        principal = new_tenant(tenant_name)
        yield (principal, *_quick_model(principal, name=model_name, n=600))
    finally:
        dbengine.set_database(previous)


def _quick_model(principal, name="quick churn", n=600, deploy=True):
    """A logistic-regression churn model on generated customers (about a second)."""
    saved = datasets.save_upload(principal, f"customers {name}", "customers.csv", _csv(generate_customers(n)))
    cfg = model_config.template_config(principal, "churn", saved.version.dataset_id, model_name=name,
                                     algorithm="logistic_regression")
    model, job = model_training.create_model(principal, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(principal.tenant_id, job.id) == "succeeded", registry.get_job(principal, job.id).error
    version = registry.list_versions(principal, model.id)[0]
    if deploy:
        registry.deploy(principal, model.id, version.id)
    return model, version


# from tests/services/test_sources.py
TOKEN = "s3cret-bearer-token-123"


# from tests/services/test_sources.py
class _Api(BaseHTTPRequestHandler):
    """Paginated orders behind a bearer token; ``server.rows`` can change between syncs."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        page = int(self.path.split("page=")[-1]) if "page=" in self.path else 1
        rows = self.server.rows[(page - 1) * 2: page * 2]
        body = json.dumps({"data": {"items": rows}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# from tests/services/test_sources.py
@pytest.fixture
def api(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.rows = [{"day": f"2024-01-0{i}", "region": "West" if i % 2 else "East", "sales": 100 + i}
                   for i in range(1, 6)]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    yield server
    server.shutdown()
    server.server_close()


# from tests/services/test_sources.py
def _rest(server, name="Orders API", frequency="hourly", token=TOKEN):
    return {
        "source_name": name, "source_type": "rest_api", "description": "orders from the shop API",
        "connection_config": {"base_url": f"http://127.0.0.1:{server.server_port}", "endpoints": ["orders"],
                              "records_path": "data.items", "pagination": {"type": "page"}, "timeout_seconds": 5},
        "authentication_config": {"type": "bearer", "token": token},
        "data_schema": {"fields": [{"name": "Order Date", "type": "date"}, {"name": "Region", "type": "category"},
                                   {"name": "Sales", "type": "number"}]},
        "field_mapping": {"day": "Order Date", "region": "Region", "sales": "Sales"},
        "sync_frequency": frequency,
    }


# from tests/services/test_worker.py
def _wait(predicate, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


# from tests/services/test_worker.py
@pytest.fixture
def start_worker(server_database, data_dir, tmp_path):
    procs = []

    def start(name: str) -> subprocess.Popen:
        env = {**os.environ, "AIHUB_DATABASE_URL": server_database.owner_url.render_as_string(hide_password=False),
               "AIHUB_DATA_DIR": str(data_dir), "AIHUB_ALLOWED_HOSTS": "127.0.0.1",
               "AIHUB_JOB_BACKEND": "worker"}
        log = (tmp_path / f"{name}.log").open("w")
        # `aihub worker` with the tests' slow job handler registered beside the real ones.
        code = "import sys, tests.services.slow_jobs; from aihub.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen([sys.executable, "-c", code, "worker", "--concurrency", "2"], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


# from tests/services/test_worker.py
def _alive(db) -> int:
    with db.app.connect() as conn:
        return conn.execute(sa.text("select count(*) from procrastinate_workers "
                                    "where last_heartbeat > now() - interval '15 seconds'")).scalar()


# from tests/services/test_worker.py
def _started(db, proc, before: int) -> bool:
    assert proc.poll() is None, "the worker exited"
    return _alive(db) > before


# from tests/services/test_workflows.py
SECRET = "a-webhook-secret-of-32-characters!"


# from tests/services/test_workflows.py
# ====================================================================== servers on 127.0.0.1
class Receiver:
    """A webhook receiver on 127.0.0.1 that checks signatures; ``fail_first`` answers 500 that many times."""

    def __init__(self, secret: str = SECRET, fail_first: int = 0, status: int = 200) -> None:
        self.secret, self.fail_first, self.status = secret, fail_first, status
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sig = self.headers.get(notify.SIGNATURE_HEADER)
                expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.requests.append({
                        "body": body, "valid": hmac.compare_digest(expected, sig or ""),
                        "timestamp": self.headers.get(notify.TIMESTAMP_HEADER),
                        "delivery": self.headers.get(notify.DELIVERY_HEADER),
                        "event": self.headers.get(notify.EVENT_HEADER)})
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                code = 500 if failing else (receiver.status if expected == sig else 401)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if code == 200 else b'{"error": "no"}')

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    @property
    def deliveries(self) -> list[dict]:
        """Requests whose signature verified."""
        with self.lock:
            return [r for r in self.requests if r["valid"]]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# from tests/services/test_workflows.py
@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    with Receiver() as r:
        yield r


# from tests/services/test_workflows.py
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# from tests/services/test_workflows.py
@pytest.fixture
def smtp_server(monkeypatch):
    """An aiosmtpd server on 127.0.0.1; yields the list of received messages."""
    from aiosmtpd.controller import Controller

    received: list[dict] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                             "data": envelope.content.decode("utf-8", "replace")})
            return "250 Message accepted for delivery"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    monkeypatch.setenv("AIHUB_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIHUB_SMTP_PORT", str(port))
    monkeypatch.setenv("AIHUB_SMTP_FROM", "hub@aihub.example.com")
    monkeypatch.delenv("AIHUB_SMTP_USER", raising=False)
    monkeypatch.delenv("AIHUB_SMTP_PASSWORD", raising=False)
    try:
        yield received
    finally:
        controller.stop()


# from tests/ui/test_pages.py
APP = str(REPO / "streamlit_app.py")


# from tests/ui/test_pages.py
def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


# from tests/ui/test_pages.py
def _login(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    at.run()
    return at


# from tests/ui/test_pages.py
def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "success", "info", "error", "warning", "caption")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


# from tests/services/test_external_models.py
SCORING_TOKEN = "Bearer scoring-secret-7f3a9c"


class _Scoring(BaseHTTPRequestHandler):
    """A scikit-learn model behind MLflow's ``/invocations`` protocol (``dataframe_split`` or
    ``dataframe_records`` in, ``{"predictions": [{"prediction", "probabilities"}]}`` out).

    Knobs on the server: ``delay`` (seconds before answering), ``fail`` (answer the next N calls with HTTP 503),
    ``max_rows`` (answer HTTP 413 to a larger request),
    ``calls`` and ``rows`` (counted), ``bodies_seen`` (the last request's headers)."""

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self):
        server = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with server.lock:
            server.calls += 1
            failing = server.fail > 0
            server.fail -= 1 if failing else 0
        server.headers_seen = dict(self.headers)
        if self.headers.get("Authorization") != SCORING_TOKEN:
            return self._send(401, {"error_code": "UNAUTHENTICATED"})
        if server.delay:
            time.sleep(server.delay)
        if failing:
            return self._send(503, {"error_code": "TEMPORARILY_UNAVAILABLE"})
        body = json.loads(raw)
        if "dataframe_split" in body:
            frame = pd.DataFrame(body["dataframe_split"]["data"], columns=body["dataframe_split"]["columns"])
        else:
            frame = pd.DataFrame(body["dataframe_records"])
        if server.max_rows is not None and len(frame) > server.max_rows:
            return self._send(413, {"error_code": "REQUEST_TOO_LARGE"})
        server.rows += len(frame)
        proba = server.model.predict_proba(frame)
        labels = server.model.classes_[proba.argmax(axis=1)]
        self._send(200, {"predictions": [{"prediction": str(lab), "probabilities": [float(x) for x in p]}
                                         for lab, p in zip(labels, proba)]})


def telco_pipeline(frame: pd.DataFrame, features: list[str], target: str = "Churn"):
    """Logistic regression on Telco churn: numbers imputed and scaled, categories one-hot encoded."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in features if c not in numeric]
    prep = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    X = frame[features].copy()
    X[categorical] = X[categorical].astype(str)
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=2000))]).fit(X, frame[target].astype(str))


class _CategoricalAsText:
    """Wraps a pipeline so categories arrive as text, as the scoring server's JSON gives them."""

    def __init__(self, pipeline, categorical: list[str]):
        self.pipeline, self.categorical, self.classes_ = pipeline, categorical, pipeline.classes_

    def predict_proba(self, frame: pd.DataFrame):
        frame = frame.copy()
        frame[self.categorical] = frame[self.categorical].astype(str)
        return self.pipeline.predict_proba(frame)


def start_scoring_server(pipeline, categorical: list[str]) -> ThreadingHTTPServer:
    """A real scoring server on 127.0.0.1 (an ephemeral port) serving ``pipeline``; call ``shutdown()`` after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scoring)
    server.model = _CategoricalAsText(pipeline, categorical)
    server.delay, server.fail, server.calls, server.rows, server.headers_seen = 0.0, 0, 0, 0, {}
    server.max_rows = None
    server.lock = threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


TELCO_ROWS = 1500


def telco_world(principal, monkeypatch, **config):
    """Telco dataset saved in the hub, a pipeline trained on it, its scoring server, and the endpoint config."""
    raw = pd.read_csv(shared_file("telco_churn", "telco_customer_churn.csv")).head(TELCO_ROWS)
    saved = datasets.save_upload(principal, "telco", "telco.csv", raw.to_csv(index=False).encode())
    _, frame = model_config.dataset_frame(principal, saved.version.dataset_id)
    features = [c for c in frame.columns if c not in ("customerID", "Churn")]
    pipeline = telco_pipeline(frame, features)
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    server = start_scoring_server(pipeline, categorical)
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    cfg = {"url": f"http://127.0.0.1:{server.server_port}/invocations", "task": "classification",
           "target": "Churn", "features": features, "input": {"format": "mlflow_split"},
           "output": {"prediction_key": "prediction", "probabilities_key": "probabilities"}, **config}
    return saved.version.dataset_id, frame, features, pipeline, server, cfg


@contextlib.contextmanager
def database_at(revision: str):
    """A fresh database on the PostgreSQL server, migrated to ``revision``; dropped afterwards.

    Yields ``(owner URL, owner engine)``; skips the test when no server answers.
    """
    import uuid

    from sqlalchemy.engine import make_url

    from aihub.db import engine as dbengine

    name = f"aihub_mig_{uuid.uuid4().hex[:8]}"
    owner = make_url(SERVER_URL).set(database=name)
    try:
        dbengine.ensure_database(owner)
    except Exception as exc:  # noqa: BLE001 - no server here
        pytest.skip(f"no PostgreSQL server: {exc}")
    eng = sa.create_engine(owner)
    try:
        dbengine.upgrade(owner, revision)
        yield owner, eng
    finally:
        eng.dispose()
        admin = sa.create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
