"""Issue 10, item 3b (caches): no cached result of one user or organization reaches another.

``st.cache_data`` is shared by every session of the server process: two browser tabs, two users, two organizations.
An entry must therefore be keyed by everything its result depends on. Today every cached function returns an
organization-wide read (what any role with ``read`` sees alike), keyed by the tenant; a result that depended on the
user (their role, their own records) would have to be keyed by the user too. This test reads the screens' source and
holds that line for every cached function, present and future; the served-app test
(``test_logout_isolation.py``) shows the next user in one tab sees nothing of the previous one.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

#: Services whose result is the same for every user of an organization allowed to call them (checked by reading
#: each: they filter by tenant only, never by role or user). A cached call of anything else must be keyed by user.
TENANT_WIDE = {
    "dashboard.filter_options", "dashboard.overview", "dashboard.summary", "dashboard.anomaly_summary",
    "forecast_service.forecast_view", "insights_service.list_insights", "insights.list_insights",
    "model_config.target_profile", "model_config.feature_warnings", "model_config.feature_plan",
    "results.recommend_customers", "results.recommend_products", "svc.table_roles", "svc.dataset_roles",
}
#: How a cached function reaches the principal: an unhashed ``_principal``/``_p``, or the page's ``p`` (a closure).
PRINCIPAL_NAMES = {"_principal", "_p", "p"}


def _cached_functions() -> list[tuple[Path, ast.FunctionDef]]:
    found = []
    for path in [REPO / "streamlit_app.py", *sorted((REPO / "app_pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("cache_data" in ast.unparse(d) for d in node.decorator_list):
                found.append((path, node))
    return found


def _calls(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def test_every_cached_result_is_keyed_by_tenant_and_by_user_when_it_is_per_user():
    cached = _cached_functions()
    assert len(cached) >= 9, "the screens' cached functions were not found"
    names = {fn.name for _, fn in cached}
    for path, fn in cached:
        where = f"{path.name}:{fn.name}"
        params = [a.arg for a in fn.args.args]
        assert params[0] == "tenant_id", f"{where}: a cached function takes the tenant first"
        # The principal must not be part of the key by accident (hashing it would differ per session anyway),
        # so it is passed unhashed; then nothing of the user is in the key unless a user_id parameter is.
        assert "principal" not in params and "p" not in params, f"{where}: pass the principal as _principal"
        if "user_id" in params:
            continue
        services = {ast.unparse(c.func) for c in _calls(fn) if c.args and ast.unparse(c.args[0]) in PRINCIPAL_NAMES}
        assert services, f"{where}: no service call with the principal found"
        assert services <= TENANT_WIDE, (
            f"{where} caches {sorted(services - TENANT_WIDE)} keyed by tenant only; if the result depends on the "
            "user, add user_id to the cached function's parameters, else add the service to TENANT_WIDE after "
            "checking it filters by tenant only")

    # Every call site passes the logged-in principal's own tenant as the key.
    for path in [REPO / "streamlit_app.py", *sorted((REPO / "app_pages").glob("*.py"))]:
        for call in _calls(ast.parse(path.read_text())):
            args = call.args
            if ast.unparse(call.func) == "ui.attempt" and args:
                func, args = ast.unparse(args[0]), args[1:]
            else:
                func = ast.unparse(call.func)
            if func in names:
                assert args and ast.unparse(args[0]).endswith(".tenant_id"), f"{path.name}: {ast.unparse(call)}"


def test_the_tenant_wide_services_filter_by_tenant_only():
    """Each service listed in TENANT_WIDE reads no role or user of the caller (beyond its permission check)."""
    import importlib
    import inspect

    modules = {"dashboard": "aihub.services.dashboard", "forecast_service": "aihub.services.forecasts",
               "insights_service": "aihub.services.insights", "insights": "aihub.services.insights",
               "model_config": "aihub.services.model_config", "results": "aihub.services.analytics_results",
               "svc": "aihub.services.insights"}
    checked = 0
    for entry in TENANT_WIDE:
        mod, name = entry.split(".")
        try:
            fn = getattr(importlib.import_module(modules[mod]), name)
        except (ImportError, AttributeError):
            continue  # an alias of a module that moved (both names are listed)
        source = inspect.getsource(fn)
        checked += 1
        for marker in ("principal.role", "principal.user_id", "principal.username", "principal.can("):
            assert marker not in source, f"{entry} reads {marker}: its cached result may differ per user"
    assert checked >= len(TENANT_WIDE) - 1
