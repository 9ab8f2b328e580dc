"""Admin: the organization's API keys (create with scopes and expiry, see use, revoke)."""

from datetime import UTC, datetime, time

import pandas as pd
import streamlit as st

from aihub import apikeys, auth
from app_pages import _common as ui
from app_pages._login import client


def _create(p: auth.Principal) -> None:
    with st.form("create_api_key", clear_on_submit=True):
        name = st.text_input("Key name", placeholder="CRM lead scoring", max_chars=apikeys.MAX_NAME, key="api_key_name")
        scopes = st.multiselect("Scopes", auth.PERMISSIONS, default=["read"], key="api_key_scopes",
                                format_func=lambda s: f"ai_analytics:{s}")
        expires = st.date_input("Expires on (optional)", value=None, min_value=datetime.now(UTC).date())
        if not st.form_submit_button("Create key"):
            return
        when = datetime.combine(expires, time.max, tzinfo=UTC) if expires else None
        made = ui.attempt(apikeys.create_key, p, name, scopes, expires_at=when, client=client())
    if made:
        rec, token = made
        st.success(f"Created key '{rec.name}'. Copy it now: it is shown only once and cannot be read back.")
        st.code(token, language=None)


def render(p: auth.Principal) -> None:
    """The API keys section of the Admin page."""
    st.subheader("API keys")
    st.caption("A key lets another system call the REST API (/api/v1) for this organization, within its scopes "
               "and your role. It is stored as a hash; revoke it when it is no longer needed.")
    keys = ui.attempt(apikeys.list_keys, p)
    if keys:
        st.dataframe(pd.DataFrame([{
            "id": k.id, "key": f"aihub_{k.key_id}_…", "name": k.name,
            "scopes": ", ".join(k.scopes), "created by": k.created_by, "created": k.created_at,
            "expires": k.expires_at, "last used": k.last_used_at, "requests": k.request_count,
            "state": "revoked" if k.revoked_at else "expired" if k.expires_at and k.expires_at <= datetime.now(UTC)
            else "active"} for k in keys]), hide_index=True, use_container_width=True)
        active = {f"{k.name} (aihub_{k.key_id}_…)": k for k in keys if k.revoked_at is None}
        if active:
            col1, col2 = st.columns([4, 1])
            chosen = col1.selectbox("Key", list(active), key="revoke_key_choice")
            if col2.button("Revoke", key="revoke_key") and ui.attempt(
                    apikeys.revoke_key, p, active[chosen].id, client=client()):
                ui.flash("success", f"Revoked {chosen}; its next request is refused.")
                st.rerun()
    elif keys is not None:
        st.caption("No API keys yet.")
    _create(p)
