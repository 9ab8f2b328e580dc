"""Helpers shared by the pages: the cached database, the principal, error display.

Only Streamlit glue lives here; all logic is in :mod:`aihub`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from aihub.auth import Principal
from aihub.db.engine import Database, get_database
from aihub.errors import AihubError
from aihub.insights.formatting import format_compact
from aihub.services import jobs

T = TypeVar("T")
log = logging.getLogger("aihub.screens")


@st.cache_resource
def database() -> Database:
    """The process-wide database (engines); the only cached resource.

    On first use in a server process, jobs interrupted by an earlier stop are
    marked failed and queued ones are started.
    """
    db = get_database()
    jobs.recover_interrupted_jobs()
    return db


def has_secrets() -> bool:
    """Whether a secrets.toml exists (reading st.secrets without one raises)."""
    return any(p.exists() for p in (Path(".streamlit/secrets.toml"), Path.home() / ".streamlit/secrets.toml"))


def principal() -> Principal:
    """The logged-in principal; stops the page when there is none."""
    p = st.session_state.get("principal")
    if p is None:
        st.warning("Please log in.")
        st.stop()
    return p


def attempt(fn: Callable[..., T], *args: Any, where: Any = None, **kwargs: Any) -> T | None:
    """Call an :mod:`aihub` function; show an AihubError as an error message and return None."""
    try:
        return fn(*args, **kwargs)
    except AihubError as exc:
        (where or st).error(message(exc))
        return None


def flash(kind: str, text: str) -> None:
    """Show ``text`` (as ``st.<kind>``) after the next rerun; a success also drops cached figures."""
    st.session_state.setdefault("_flash", []).append((kind, text))
    if kind == "success":
        st.cache_data.clear()


def show_flash() -> None:
    """Show the messages :func:`flash` queued; call it at the top of a page."""
    for kind, text in st.session_state.pop("_flash", []):
        getattr(st, kind)(text)


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run an :mod:`aihub` call from a widget callback; an AihubError is flashed after the rerun."""
    try:
        return fn(*args, **kwargs)
    except AihubError as exc:
        flash("error", message(exc))
        return None


def message(exc: BaseException | str) -> str:
    """An error's text as a sentence for the analyst: first letter capitalised ("input must be ..." -> "Input ...")."""
    text = str(exc).strip()
    return text[:1].upper() + text[1:]


def unexpected(exc: BaseException) -> str:
    """Show a short message with a reference id for an error nobody foresaw; the traceback goes to the log.

    Returns the reference id (also in the log line, so support can find the traceback).
    """
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error on a screen (reference %s)", ref, exc_info=exc)
    st.error(f"Something went wrong on this screen and it could not finish. Try again; if it keeps happening, "
             f"give your administrator the reference **{ref}** (the details are in the server log).")
    return ref


def compact(value: Any, unit: str = "") -> str:
    """A number as screens show it: the hub's one compact rule (12.3 k, 138.5 M; see
    :func:`aihub.insights.formatting.format_compact`), so large figures are never cut off; "—" for None."""
    return "—" if value is None else format_compact(value, unit)
