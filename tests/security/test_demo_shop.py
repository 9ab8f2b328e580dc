"""Issue 10, item 1 (the demo half): the demo's shop source is a separate database read by its own read-only role.

Before the fix the demo stored its owner (superuser) URL as a data source, so anyone who could edit or test that
source read every tenant's data, and a viewer saw its socket path. Now the source holds the URL of the role
``aihub_demo_shop_reader`` (SELECT on ``store_orders`` of ``aihub_demo_shop`` only, read-only transactions) and
its own password, encrypted; pointing it at the hub's own database is refused, and the role could not connect
there anyway.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aihub import demo_sources
from aihub.config import load_settings
from aihub.services import sources
from tests.conftest import new_tenant


def test_the_demo_shop_source_is_read_by_a_read_only_role_that_cannot_reach_the_hub(server_database, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1,localhost")
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", demo_sources.SHOP_DATABASE)
    admin = new_tenant("demoshop")
    assert "Shop database" in demo_sources.seed_demo_sources(admin)
    src = next(s for s in sources.list_sources(admin) if s.name == "Shop database")
    url = make_url(src.config["connection_config"]["url"])
    owner = server_database.owner_url
    assert (url.username, url.database, url.password) == (demo_sources.SHOP_READER, demo_sources.SHOP_DATABASE, None)
    assert f"//{owner.username}@" not in str(src.config) and f":{owner.password}@" not in str(src.config)
    assert sources.list_syncs(admin, src.id)[0].status == "succeeded"

    # The reader cannot write the shop, read another table there, or connect to the hub's own database.
    reader = url.set(password=load_settings().secret_file("demo_shop_password", 24).decode())
    eng = sa.create_engine(reader)
    try:
        with eng.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM store_orders")).scalar() > 1000
            for sql in ("DELETE FROM store_orders", "CREATE TABLE stolen (x int)"):
                with pytest.raises(sa.exc.DBAPIError, match="read-only transaction|permission denied"), \
                        conn.begin_nested():
                    conn.execute(sa.text(sql))
    finally:
        eng.dispose()
    hub = sa.create_engine(reader.set(database=owner.database))
    try:
        with pytest.raises(sa.exc.OperationalError, match="permission denied for database"), hub.connect():
            pass
    finally:
        hub.dispose()

    # An analyst who points the source at the hub's own database (typing the password again) is refused.
    edited = {"source_name": src.name, "source_type": "database",
              "connection_config": {**src.config["connection_config"], "url": str(url.set(database=owner.database))},
              "authentication_config": {"type": "password", "password": "typed-again"}}
    sources.update_source(admin, src.id, edited)  # saving is allowed; connecting is not
    report = sources.test_connection(admin, src.id)
    assert (report.ok, report.error_kind) == (False, "not_allowed") and "hub's own database" in report.message
    done = sources.sync(admin, src.id)
    assert done.status == "failed" and "hub's own database" in done.error
