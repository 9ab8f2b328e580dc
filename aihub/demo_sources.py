"""Connected sources of the demo tenant: a shop database and a shop orders API, both generated.

``make run`` starts ``aihub demo-api`` (a small JSON API on 127.0.0.1 that
serves generated recent orders, page by page, behind a bearer token) and
``aihub worker``; ``aihub demo`` creates a separate database
``aihub_demo_shop`` on the hub's PostgreSQL server with a generated
``store_orders`` table and a read-only login role ``aihub_demo_shop_reader``
(SELECT on that table only; its generated password is kept in the data
folder and stored encrypted as the source's secret), then connects both as
data sources of the demo tenant so they sync on schedule through the worker.
The source never holds the owner's (superuser's) URL or password.

Sources may not reach the hub's own server, so the shop database is read
only where an operator allows it: ``AIHUB_HUB_SOURCE_DATABASES=aihub_demo_shop``
and, for the embedded server's socket, ``AIHUB_ALLOWED_SOCKET_DIRS`` (``make
run`` sets both). The data is generated (see :func:`recent_orders`), not real.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import sqlalchemy as sa

from aihub.auth import Principal
from aihub.errors import AihubError
from aihub.services import sources

log = logging.getLogger(__name__)

API_PORT = int(os.environ.get("AIHUB_DEMO_API_PORT", "8599"))
API_TOKEN = os.environ.get("AIHUB_DEMO_API_TOKEN", "demo-api-token")
SHOP_DATABASE = "aihub_demo_shop"
#: Read-only login role of the demo shop database.
SHOP_READER = "aihub_demo_shop_reader"
PAGE_SIZE = 200
#: Key the demo's revenue-alert workflow signs its webhook with (checked by the demo API's ``/webhook``).
WEBHOOK_SECRET = "demo-webhook-signing-secret"


def recent_orders(days: int = 90, today: date | None = None) -> pd.DataFrame:
    """Generated order lines of the last ``days`` days up to ``today`` (each day drawn from its own seed).

    Returns
    -------
    DataFrame with columns order_id, order_date (ISO text), region, category, sales (currency), quantity
        New days appear as time passes, so syncs see new data every day.
    """
    today = today or date.today()
    frames = []
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        rng = np.random.default_rng(day.toordinal())
        n = int(rng.poisson(9 if day.weekday() < 5 else 5))
        frames.append(pd.DataFrame({
            "order_id": [f"API-{day:%Y%m%d}-{i:03d}" for i in range(n)],
            "order_date": day.isoformat(),
            "region": rng.choice(["West", "East", "Central", "South"], n, p=[0.32, 0.29, 0.22, 0.17]),
            "category": rng.choice(["Technology", "Furniture", "Office Supplies"], n, p=[0.3, 0.32, 0.38]),
            "sales": np.round(rng.lognormal(5.2, 0.9, n), 2),
            "quantity": rng.integers(1, 8, n),
        }))
    return pd.concat(frames, ignore_index=True)


class _DemoApi(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            return self._send(401, {"error": "missing or wrong bearer token"})
        if url.path.rstrip("/") != "/orders":
            return self._send(404, {"error": f"no such endpoint {url.path}"})
        page = int(parse_qs(url.query).get("page", ["1"])[0])
        rows = recent_orders().iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        return self._send(200, {"data": rows.to_dict("records"), "page": page})

    def do_POST(self) -> None:
        """``/webhook``: the receiver of the demo's revenue-alert workflow; checks the HMAC signature."""
        import hashlib
        import hmac

        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if urlparse(self.path).path.rstrip("/") != "/webhook":
            return self._send(404, {"error": f"no such endpoint {self.path}"})
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-AIHub-Signature", "")):
            return self._send(401, {"error": "bad signature"})
        print(f"Demo webhook received a signed alert ({len(body)} bytes)", flush=True)
        return self._send(200, {"received": True})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_demo_api(port: int = API_PORT) -> None:
    """Serve the demo orders API on 127.0.0.1:``port`` until interrupted."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _DemoApi)
    print(f"Demo orders API on http://127.0.0.1:{port}/orders (bearer token {API_TOKEN!r})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _shop_database(owner_url: sa.engine.URL) -> tuple[sa.engine.URL, str]:
    """Create the generated shop database and its read-only role (idempotent).

    Returns
    -------
    (URL, str)
        The reader's URL (no password in it) and the reader's password.
    """
    from aihub.config import load_settings
    from aihub.db.engine import ensure_database

    url = owner_url.set(database=SHOP_DATABASE)
    ensure_database(url)
    password = load_settings().secret_file("demo_shop_password", 24).decode()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS store_orders (order_id text PRIMARY KEY, "
                                 "order_date date, region text, category text, sales numeric, quantity int)"))
            rows = recent_orders(days=365).to_dict("records")
            conn.execute(sa.text("INSERT INTO store_orders VALUES (:order_id, CAST(:order_date AS date), :region, "
                                 ":category, :sales, :quantity) ON CONFLICT (order_id) DO NOTHING"), rows)
            exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": SHOP_READER}).scalar()
            pw = conn.execute(sa.text("SELECT quote_literal(:p)"), {"p": password}).scalar()
            conn.execute(sa.text(f"{'ALTER' if exists else 'CREATE'} ROLE {SHOP_READER} LOGIN NOSUPERUSER "
                                 f"NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD {pw}"))
            conn.execute(sa.text(f"REVOKE CONNECT ON DATABASE {SHOP_DATABASE} FROM PUBLIC"))
            conn.execute(sa.text(f"GRANT CONNECT ON DATABASE {SHOP_DATABASE} TO {SHOP_READER}"))
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {SHOP_READER}"))
            conn.execute(sa.text(f"GRANT SELECT ON store_orders TO {SHOP_READER}"))
            conn.execute(sa.text(f"ALTER ROLE {SHOP_READER} SET default_transaction_read_only = on"))
    finally:
        engine.dispose()
    return url._replace(username=SHOP_READER, password=None), password


def seed_demo_sources(admin: Principal) -> list[str]:
    """Connect the demo shop database (daily) and the demo orders API (hourly) to the demo tenant.

    Returns the names of the sources created (none when they exist already).
    """
    from aihub.db.engine import get_database

    existing = {s.name for s in sources.list_sources(admin)}
    created = []
    if "Shop database" not in existing:
        url, password = _shop_database(get_database().owner_url)
        auth = {"type": "password", "password": password}
        src = sources.create_source(admin, {
            "source_name": "Shop database", "source_type": "database",
            "description": "Generated store orders in the shop's PostgreSQL (demo).",
            "connection_config": {"url": url.render_as_string(hide_password=False),
                                  "query": "SELECT order_id, order_date, region, category, sales, quantity "
                                           "FROM store_orders ORDER BY order_date, order_id"},
            "authentication_config": auth, "sync_frequency": "daily"})
        created.append(src.name)
        try:
            sources.sync(admin, src.id)
        except AihubError as exc:
            log.warning("first sync of the demo shop database failed: %s", exc)
    if "Shop orders API" not in existing:
        src = sources.create_source(admin, {
            "source_name": "Shop orders API", "source_type": "rest_api",
            "description": "Generated recent orders from the demo API that make run serves (demo).",
            "connection_config": {"base_url": f"http://127.0.0.1:{API_PORT}", "endpoints": ["orders"],
                                  "records_path": "data", "pagination": {"type": "page"}, "timeout_seconds": 10},
            "authentication_config": {"type": "bearer", "token": API_TOKEN},
            "sync_frequency": "hourly"})
        created.append(src.name)
    return created
