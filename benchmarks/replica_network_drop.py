#!/usr/bin/env python
"""How long a read replica's query waits when the network to it silently drops every packet.

A replica whose host is powered off, or whose network a firewall cuts by dropping packets, sends no reset:
the client only learns from TCP. This measures it on a real PostgreSQL (a throw-away server from
:mod:`tests.standby`) in a **private network namespace** (``unshare -n``, so nothing else on the machine is
touched): a connection opens, ``SELECT pg_sleep(120)`` starts, then the namespace's loopback goes down (every
packet from then on is dropped without an answer), and the script waits up to ``--wait`` seconds for the
query to fail. Once with the read engine's connect arguments
(:func:`aihub.db.engine.read_connect_args`: :data:`aihub.db.engine.READ_KEEPALIVES`), once with libpq's
defaults (what the replica's engine had before).

Needs root (``unshare -n``, ``ip link``); re-runs itself under ``unshare -n``.

Usage::

    python benchmarks/replica_network_drop.py [--wait 90]

Measured (2026-12-06, PostgreSQL 15, load 3 to 5 on 2 cores): with the read engine's arguments the query
failed after 10.4 s (``could not receive data from server: Connection timed out``: ``tcp_user_timeout``,
10 s); with libpq's defaults it was still waiting after 90 s (Linux retransmits for about 15 min).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from aihub.db.engine import read_connect_args
from tests.standby import streaming_pair

_IN_NAMESPACE = "AIHUB_BENCH_NETNS"


def _read_until_failure(engine: sa.Engine, wait: float) -> str:
    """Start ``pg_sleep(120)``, drop the network, and say what happened within ``wait`` seconds."""
    result: dict[str, str] = {}
    conn = engine.connect()

    def query() -> None:
        try:
            conn.execute(sa.text("SELECT pg_sleep(120)"))
            result["r"] = "answered"
        except sa.exc.DBAPIError as exc:
            result["r"] = " ".join(str(exc.orig).split())[:110]

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    time.sleep(1.0)  # the query runs on the server
    subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
    dropped = time.monotonic()
    thread.join(wait)
    took = time.monotonic() - dropped
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    conn.invalidate()
    return f"{result.get('r', 'still waiting')} after {took:.1f} s of dropped packets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for the query to fail")
    args = parser.parse_args()
    if os.environ.get(_IN_NAMESPACE) != "1":
        env = {**os.environ, _IN_NAMESPACE: "1"}
        sys.exit(subprocess.run(["unshare", "-n", sys.executable, *sys.argv], env=env, check=False).returncode)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with streaming_pair() as pair:
        url = pair.primary.url()
        for label, connect_args in (("read engine (READ_KEEPALIVES)", read_connect_args(url)),
                                    ("libpq defaults", {"connect_timeout": 5})):
            engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=connect_args)
            print(f"{label}: {_read_until_failure(engine, args.wait)}", flush=True)
            engine.dispose()


if __name__ == "__main__":
    main()
