"""Admin: the organization's users and roles, locked accounts, passwords, API keys and the audit log."""

import pandas as pd
import streamlit as st

from aihub import audit, auth
from app_pages import _api_keys_ui
from app_pages import _common as ui
from app_pages._login import client

p = ui.principal()
st.title("Admin")
st.caption(f"Organization **{p.tenant_name}**")
ui.show_flash()

users = ui.attempt(auth.list_users, p)
if users is not None:
    st.subheader("Users")
    st.dataframe(pd.DataFrame([u.__dict__ for u in users]).drop(columns=["id", "auth_version"]), hide_index=True,
                 use_container_width=True)

    st.subheader("Change a role")
    by_name = {u.username: u for u in users}
    col1, col2, col3 = st.columns([3, 2, 1])
    who = col1.selectbox("User", list(by_name), key="role_user")
    role = col2.selectbox("Role", auth.ROLES, index=auth.ROLES.index(by_name[who].role) if who else 0,
                          key="role_value")
    active = col3.checkbox("Active", value=by_name[who].is_active if who else True, key="role_active")
    st.caption("Any change ends the user's open sessions: they log in again with the new rights.")
    if st.button("Save role", key="role_save") and ui.attempt(
            auth.set_user_role, p, by_name[who].id, role, active=active, client=client()):
        ui.flash("success", f"{who} is now {role}{'' if active else ' (inactive)'}.")
        st.rerun()

    st.subheader("Set a password")
    with st.form("set_password", clear_on_submit=True):
        pw_user = st.selectbox("User", list(by_name), key="pw_user")
        new_pw = st.text_input("New password", type="password",
                               help=f"At least {auth.MIN_PASSWORD_LENGTH} characters.")
        if st.form_submit_button("Set password") and ui.attempt(
                auth.change_password, p, by_name[pw_user].id, new_pw, client=client()):
            ui.flash("success", f"Password of {pw_user} set; their open sessions have ended.")
            st.rerun()

st.subheader("Locked accounts")
locks = ui.attempt(auth.account_locks, p)
if locks:
    st.dataframe(pd.DataFrame([{"user": lk.username, "failed log-ins": lk.failures, "locked until": lk.locked_until}
                               for lk in locks]), hide_index=True, use_container_width=True)
    by_user = {lk.username: lk for lk in locks}
    unlock = st.selectbox("Account", list(by_user), key="unlock_user")
    if st.button("Unlock", key="unlock_account") and ui.attempt(
            auth.unlock_account, p, by_user[unlock].user_id, client=client()) is not None:
        ui.flash("success", f"{unlock} can log in again.")
        st.rerun()
elif locks is not None:
    st.caption("No account is locked. An account locks after repeated failed log-ins and unlocks by itself "
               "after a while, or here.")

st.subheader("Add a user")
with st.form("add_user", clear_on_submit=True):
    email = st.text_input("E-mail")
    name = st.text_input("Name")
    role = st.selectbox("Role", auth.ROLES, index=1)
    password = st.text_input("Initial password", type="password",
                             help=f"At least {auth.MIN_PASSWORD_LENGTH} characters.")
    if st.form_submit_button("Add user") and ui.attempt(auth.add_user, p, email, name, role, password,
                                                         client=client()):
        st.success(f"Added {email} as {role}.")

_api_keys_ui.render(p)

st.subheader("Audit log")
kinds = st.multiselect("Events", audit.EVENTS, key="audit_events", placeholder="All events")
log = ui.attempt(auth.list_audit_log, p, limit=500, events=tuple(kinds))
if log:
    st.dataframe(pd.DataFrame([{"when": e.created_at, "event": e.event, "by": e.actor, "target": e.target,
                                "client": e.client, "details": e.details} for e in log]),
                 hide_index=True, use_container_width=True)
elif log is not None:
    st.caption("No events yet.")
