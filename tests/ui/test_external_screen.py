"""The Models screen registers an external endpoint and shows its version; the Predictions screen states what its
reasons cost (AppTest on PostgreSQL, a real scoring server on 127.0.0.1)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from aihub.connectors import endpoint
from aihub.services import predictions, registry
from tests.conftest import PASSWORD, REPO, new_tenant
from tests.fixtures import SCORING_TOKEN, telco_world


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "success", "info", "error", "warning", "caption")
                     for e in getattr(at, kind))


def test_register_an_endpoint_on_the_models_screen_then_deploy_and_predict(server_database, monkeypatch):
    endpoint.forget_breakers()
    admin = new_tenant("extui")
    _, frame, _, _, server, cfg = telco_world(admin, monkeypatch)
    try:
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
        at.run()
        at.text_input[0].input(admin.username)
        at.text_input[1].input(PASSWORD)
        at.button[0].click()
        at.run()
        at.switch_page("app_pages/models.py").run()
        at.session_state["models_tab"] = "External endpoint"
        at.run()
        assert not at.exception, at.exception
        at.text_input(key="ext_name").input("Telco on MLflow")
        at.text_input(key="ext_url").input("http://10.1.2.3:5000/invocations")  # not on the allow-list
        at.selectbox(key="ext_target").select("Churn")
        at.text_input(key="ext_pred_key").input("prediction")
        at.text_input(key="ext_proba_key").input("probabilities")
        at.text_input(key="ext_auth").input(SCORING_TOKEN)
        at.button(key="ext_register").click()
        at.run()
        assert "allow-list" in " ".join(e.value for e in at.error) and not registry.list_models(admin)

        at.text_input(key="ext_url").input(cfg["url"])
        at.button(key="ext_register").click()
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        model = registry.list_models(admin)[0]
        version = registry.list_versions(admin, model.id)[0]
        assert version.algorithm == "external endpoint" and "Registered version 1" in _texts(at)
        assert "External endpoint** on `127.0.0.1`" in _texts(at) and "Circuit **closed**" in _texts(at)
        assert SCORING_TOKEN.split()[-1] not in _texts(at)

        at.button(key="deploy").click()
        at.run()
        assert registry.get_model(admin, model.id).active_version_id == version.id
        at.switch_page("app_pages/predictions.py").run()
        next(b for b in at.button if b.label == "Predict").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        shown = " ".join(str(i.value) for i in at.info)
        assert "Reasons estimated by SHAP's KernelExplainer from" in shown and "at most 4 calls" in shown
        values = {f: frame.iloc[0][f] for f in frame.columns if f not in ("customerID", "Churn")}
        out = predictions.predict_one(admin, model.id, values, explain=False)
        assert out.probability is not None and server.calls >= 1
    finally:
        server.shutdown()
