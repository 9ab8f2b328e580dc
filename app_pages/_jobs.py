"""Training-job progress shared by the Models and Forecasts screens (Streamlit glue only)."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from aihub.auth import Principal
from aihub.services import registry
from app_pages import _common as ui


@st.fragment(run_every=2)
def job_panel(p: Principal, job_id: int) -> None:
    """Live progress of one training job, re-read from the database every 2 s."""
    job = ui.attempt(registry.get_job, p, job_id)
    if job is None:
        return
    secs = f"{job.seconds:.0f} s" if job.seconds is not None else "not started"
    if job.status in ("queued", "running"):
        with st.status(f"Training **{job.model_name}** — {job.status} ({secs})", expanded=True):
            st.progress(job.progress, text=job.message)
            if p.can("update") and st.button("Cancel training", key=f"cancel_{job_id}"):
                ui.attempt(registry.cancel_job, p, job_id)
    else:
        st.session_state.pop("watch_job", None)
        st.session_state["finished_job"] = job_id
        st.rerun(scope="app")


def show_jobs(p: Principal, kinds: Iterable[str]) -> None:
    """The watched or newest unfinished job of ``kinds`` with its progress, and the outcome of one that finished."""
    kinds = set(kinds)
    active = [j for j in (ui.attempt(registry.list_jobs, p, None, 10) or []) if not j.done and j.kind in kinds]
    watch = st.session_state.get("watch_job") or (active[0].id if active else None)
    if watch:
        job_panel(p, watch)
    finished = st.session_state.pop("finished_job", None)
    if finished:
        done = ui.attempt(registry.get_job, p, finished)
        if done is not None and done.status == "succeeded":
            st.success(f"Training of **{done.model_name}** finished in {done.seconds:.1f} s. "
                       "Review the new version below and deploy it.")
        elif done is not None:
            st.error(f"Training of **{done.model_name}** {done.status}: {done.error}")
