"""Every screen opens for a viewer without an error or a traceback (issue 9: a viewer's Models raised)."""

from __future__ import annotations

import ast

import pytest
from streamlit.testing.v1 import AppTest

from aihub import auth
from aihub.services import datasets
from tests.conftest import PASSWORD, REPO, new_tenant


def _viewer_screens() -> list[str]:
    """Every screen of the router's SCREENS table that needs no permission beyond reading."""
    tree = ast.parse((REPO / "streamlit_app.py").read_text())
    table = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                 and any(getattr(t, "id", None) == "SCREENS" for t in n.targets))
    return [row[1] for row in ast.literal_eval(table) if row[4] is None]


@pytest.fixture
def viewer(server_database):
    admin = new_tenant("viewerscreens")
    datasets.save_upload(admin, "tiny", "tiny.csv", b"day,region,sales\n2024-01-01,West,10\n2024-01-02,East,12\n")
    email = f"viewer-{admin.tenant_id}@viewerscreens.example.com"
    auth.add_user(admin, email, "Vic Viewer", "viewer", PASSWORD)
    return email


@pytest.mark.parametrize("screen", _viewer_screens())
def test_a_viewer_opens_every_screen(viewer, screen):
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(viewer)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page(screen).run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
