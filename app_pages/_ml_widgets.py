"""Widgets of the prediction model form: orders columns, preprocessing, algorithm, split (Streamlit glue only)."""

from __future__ import annotations

import streamlit as st

PREP_ROLES = (("customer_column", "Customer column"), ("date_column", "Order date column"),
              ("amount_column", "Amount column"), ("order_column", "Order id column (optional)"))


def prefill_rest(base: dict, columns: list[str]) -> None:
    """Put a template's orders columns, preprocessing, algorithm and split into the widgets' state."""
    ss = st.session_state
    prep = base.get("data_prep") or {}
    for role, _ in PREP_ROLES:
        if prep.get(role) in columns:
            ss[f"ml_prep_{role}"] = prep[role]
    fe = base.get("feature_engineering") or {}
    ss["ml_missing"] = fe.get("handle_missing", "median")
    ss["ml_normalize"] = fe.get("normalize", True)
    ss["ml_max_categories"] = int(fe.get("max_categories", 30))
    ss["ml_algorithm"] = base.get("algorithm", "auto")
    for key, value in (base.get("hyperparameters") or {}).items():
        ss[f"ml_hp_{ss['ml_algorithm']}_{key}"] = value
        if value is None:
            ss[f"ml_hp_{ss['ml_algorithm']}_{key}_none"] = True
    ss["ml_val"] = float(base.get("validation_split", 0.1))
    ss["ml_test"] = float(base.get("test_split", 0.2))
    ss["ml_seed"] = int(base.get("random_seed", 0))


def prep_roles(base: dict, columns: list[str]) -> dict | None:
    """The orders columns of an RFM or customer-value template (None for other templates)."""
    prep = base.get("data_prep")
    if not prep:
        return None
    st.caption("This template builds one row per customer from an orders table "
               + ("(recency, frequency, monetary value)." if prep["kind"] == "rfm" else
                  "and predicts the spend in the next year."))
    prep = dict(prep)
    for col, (role, label) in zip(st.columns(4), PREP_ROLES, strict=True):
        choices = ([None] if role == "order_column" else []) + columns
        if st.session_state.get(f"ml_prep_{role}") not in choices:
            st.session_state[f"ml_prep_{role}"] = prep.get(role) if prep.get(role) in choices else choices[0]
        prep[role] = col.selectbox(label, choices, key=f"ml_prep_{role}",
                                   format_func=lambda c: "(none)" if c is None else c)
    return prep


def hyperparameter(spec: dict, algorithm: str):
    """One widget per hyperparameter, bounded by its allowed range."""
    ss = st.session_state
    key = f"ml_hp_{algorithm}_{spec['name']}"
    label, help_ = spec.get("label") or spec["name"], spec.get("help") or None
    allowed = f"{spec['name']}: {help_ or ''} Allowed: " + (
        ", ".join("none" if c is None else str(c) for c in spec["choices"]) if spec["type"] == "choice"
        else f"{spec['low']:g} to {spec['high']:g}" + (" or no limit" if spec.get("nullable") else ""))
    if spec["type"] == "choice":
        choices = list(spec["choices"])
        if ss.get(key) not in choices:
            ss[key] = spec["default"]
        return st.selectbox(label, choices, key=key, help=allowed, format_func=lambda v: "none" if v is None else str(v))
    none = False
    if spec.get("nullable"):
        ss.setdefault(f"{key}_none", spec["default"] is None)
        none = st.checkbox(f"{label}: no limit", key=f"{key}_none")
    default = spec["default"] if spec["default"] is not None else spec["low"]
    if not isinstance(ss.get(key), int | float) or isinstance(ss.get(key), bool):
        ss[key] = default
    if spec["type"] == "int":
        ss[key] = int(min(max(ss[key], spec["low"]), spec["high"]))
        value = st.number_input(label, min_value=int(spec["low"]), max_value=int(spec["high"]), step=1, key=key,
                                help=allowed, disabled=none)
    else:
        ss[key] = float(min(max(ss[key], spec["low"]), spec["high"]))
        value = st.number_input(label, min_value=float(spec["low"]), max_value=float(spec["high"]), key=key,
                                help=allowed, disabled=none, format="%g")
    return None if none else value


def settings_steps(options: dict, task: str) -> dict:
    """Steps 3 to 5 (preprocessing, algorithm and hyperparameters, split) as form values."""
    ss = st.session_state
    st.markdown("**3. Preprocessing**")
    c1, c2, c3 = st.columns(3)
    ss.setdefault("ml_missing", "median")
    missing = c1.selectbox("Blank numbers", options["handle_missing"], key="ml_missing",
                           help="Fill blanks with the training mean, median or most frequent value, or drop rows "
                                "with blanks. Numeric text such as ' ' counts as blank.")
    ss.setdefault("ml_normalize", True)
    normalize = c2.checkbox("Scale numbers (standardise)", key="ml_normalize")
    ss.setdefault("ml_max_categories", 30)
    max_categories = c3.number_input("Most categories listed one by one", min_value=2, max_value=1000, step=1,
                                     key="ml_max_categories",
                                     help="A column with up to this many categories gets one input per category "
                                          "(one-hot); one with more is replaced by each category's average outcome "
                                          "(target encoding).")
    st.markdown("**4. Algorithm and hyperparameters**")
    algorithms = options["algorithms"][task]
    if ss.get("ml_algorithm") not in algorithms:
        ss["ml_algorithm"] = algorithms[0]
    algorithm = st.selectbox("Algorithm", algorithms, key="ml_algorithm",
                             help="auto cross-validates the candidates on the training split and keeps the best "
                                  "(ROC AUC, RMSE or silhouette).")
    hyper = {}
    cols = st.columns(3)
    for i, spec in enumerate(options["hyperparameters"][task][algorithm]):
        with cols[i % 3]:
            hyper[spec["name"]] = hyperparameter(spec, algorithm)
    st.markdown("**5. Validation and test split**")
    c1, c2, c3 = st.columns(3)
    ss.setdefault("ml_val", 0.1)
    val = c1.number_input("Validation share", min_value=0.0, max_value=0.5, step=0.05, key="ml_val",
                          help="Rows held back to choose the decision threshold and calibrate probabilities.")
    ss.setdefault("ml_test", 0.2)
    test = c2.number_input("Test share (metrics)", min_value=0.05, max_value=0.5, step=0.05, key="ml_test",
                           help="Rows never used in training; every reported metric is measured on them.")
    ss.setdefault("ml_seed", 0)
    seed = c3.number_input("Random seed", min_value=0, max_value=2**32 - 1, step=1, key="ml_seed")
    return {"handle_missing": missing, "normalize": normalize, "max_categories": int(max_categories),
            "algorithm": algorithm, "hyperparameters": hyper, "validation_split": float(val),
            "test_split": float(test), "random_seed": int(seed)}
