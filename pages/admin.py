"""Admin: the organization's users and their roles."""

import pandas as pd
import streamlit as st

from aihub import auth
from pages import _common as ui

p = ui.principal()
st.title("Admin")
st.caption(f"Organization **{p.tenant_name}**")

users = ui.attempt(auth.list_users, p)
if users is not None:
    st.subheader("Users")
    st.dataframe(pd.DataFrame([u.__dict__ for u in users]).drop(columns=["id"]), hide_index=True,
                 use_container_width=True)

    st.subheader("Change a role")
    by_name = {u.username: u for u in users}
    col1, col2, col3 = st.columns([3, 2, 1])
    who = col1.selectbox("User", list(by_name), key="role_user")
    role = col2.selectbox("Role", auth.ROLES, index=auth.ROLES.index(by_name[who].role) if who else 0,
                          key="role_value")
    active = col3.checkbox("Active", value=by_name[who].is_active if who else True, key="role_active")
    if st.button("Save role", key="role_save"):
        if ui.attempt(auth.set_user_role, p, by_name[who].id, role, active=active):
            st.success(f"{who} is now {role}{'' if active else ' (inactive)'}.")
            st.rerun()

st.subheader("Add a user")
with st.form("add_user", clear_on_submit=True):
    email = st.text_input("E-mail")
    name = st.text_input("Name")
    role = st.selectbox("Role", auth.ROLES, index=1)
    password = st.text_input("Initial password", type="password",
                             help=f"At least {auth.MIN_PASSWORD_LENGTH} characters.")
    if st.form_submit_button("Add user"):
        if ui.attempt(auth.add_user, p, email, name, role, password):
            st.success(f"Added {email} as {role}.")
