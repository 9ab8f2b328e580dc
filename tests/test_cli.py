"""The aihub command line: tenant creation, demo seeding, and the embedded database across restarts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from aihub import auth
from tests.conftest import PASSWORD, REPO


def _aihub(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aihub.cli", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def test_init_creates_a_tenant_and_admin_from_the_environment(server_database, data_dir):
    env = {**os.environ, "AIHUB_DATABASE_URL": server_database.owner_url.render_as_string(hide_password=False),
           "AIHUB_DATA_DIR": str(data_dir), "AIHUB_ADMIN_PASSWORD": PASSWORD}
    out = _aihub("init", "--tenant", "CLI Org", "--admin", "Boss@CLI.example.com", env=env)
    assert out.returncode == 0, out.stderr
    assert "Created organization 'CLI Org'" in out.stdout
    principal = auth.authenticate("boss@cli.example.com", PASSWORD)
    assert (principal.tenant_name, principal.role) == ("CLI Org", "admin")

    again = _aihub("init", "--tenant", "CLI Org", "--admin", "other@cli.example.com", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_init_refuses_without_a_password_when_not_interactive(server_database, data_dir):
    env = {**os.environ, "AIHUB_DATABASE_URL": server_database.owner_url.render_as_string(hide_password=False),
           "AIHUB_DATA_DIR": str(data_dir)}
    env.pop("AIHUB_ADMIN_PASSWORD", None)
    out = _aihub("init", "--tenant", "No Password", "--admin", "np@example.com", env=env, stdin="")
    assert out.returncode == 2
    assert "AIHUB_ADMIN_PASSWORD" in out.stderr
    assert auth.find_tenant("No Password") is None


def test_embedded_database_survives_a_restart():
    tmp_path = Path(tempfile.mkdtemp(prefix="aihub-restart-"))
    tmp_path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIHUB_DATABASE")}
    env.update({"AIHUB_DATA_DIR": str(tmp_path / "hub"), "AIHUB_DEMO": "1"})
    first = _aihub("demo", "--no-train", env=env)
    assert first.returncode == 0, first.stderr
    second = _aihub("demo", "--no-train", env=env)
    assert second.returncode == 0, second.stderr
    check = subprocess.run(
        [sys.executable, "-c",
         ("from aihub import auth; from aihub.services import datasets; from aihub.db.engine import get_database; get_database(); "
          "p = auth.principal_for('demo@example.com'); d = {x.name: x for x in datasets.list_datasets(p)}; "
          "o = d['Demo orders']; print(o.versions, o.row_count > 1000, p.tenant_name)")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["1", "True", "Demo", "Co"]
    assert (tmp_path / "hub" / "pgdata" / "PG_VERSION").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
