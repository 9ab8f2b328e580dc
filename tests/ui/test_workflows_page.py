"""The Workflows page through Streamlit's AppTest on the real database (local server).

Create from a template, from JSON and from the guided form; see runs and
their steps; approve a waiting step and see the run finish; a viewer looks
but cannot change anything.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from aihub import auth, workflows
from aihub.db.session import owner_session
from tests.conftest import PASSWORD, new_tenant
from tests.fixtures import Receiver, _app, _login, _texts


@pytest.fixture
def admin(server_database, monkeypatch):
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "inline")
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    principal = new_tenant("wfpage")
    yield principal
    with owner_session() as s:
        s.execute(sa.text("UPDATE workflows SET enabled = false WHERE tenant_id = :t"), {"t": principal.tenant_id})


def _page(username: str):
    at = _login(_app(), username, PASSWORD)
    at.switch_page("app_pages/workflows.py").run()
    assert not at.exception, at.exception
    return at


def test_create_from_a_template_and_from_json_then_approve_a_waiting_step(admin):
    at = _page(admin.username)
    assert "Workflows" in [t.value for t in at.title]
    assert "No workflows yet." in _texts(at)

    # a template: the critical revenue alert, with a generated signing secret
    with Receiver() as receiver:
        at.selectbox(key="tpl_key").set_value("critical_revenue_alert").run()
        at.text_input(key="tpl_critical_revenue_alert_webhook_url").input(receiver.url)
        secret = at.text_input(key="tpl_critical_revenue_alert_webhook_secret").value
        assert len(secret) >= 16
        at.button(key="tpl_create").click().run()
        assert not at.exception, at.exception
        assert "Created 'Critical revenue anomaly alert'" in _texts(at), _texts(at)
        (wf,) = workflows.list_workflows(admin)
        assert wf.workflow.definition["actions"][0]["secret"] == "********"
        assert "An anomaly of severity critical or above" in _texts(at)

    # JSON: a task that needs approval whenever a source syncs
    at.radio(key="new_mode").set_value("JSON").run()
    at.text_area(key="wf_new_json").input(json.dumps({
        "name": "Review each sync", "trigger": {"type": "source_synced"},
        "actions": [{"type": "create_task", "title": "Review sync {{event.sync_id}}", "assignee": admin.username,
                     "require_approval": True}]}))
    at.button(key="wf_new_check").click().run()
    assert "The workflow is valid" in _texts(at)
    at.button(key="wf_new_save").click().run()
    assert "Created 'Review each sync'." in _texts(at)

    (run_id,) = workflows.emit(admin.tenant_id, "source_synced", {"source_id": 4, "sync_id": 77})
    assert workflows.wait_for_run(admin.tenant_id, run_id, timeout=60).status == "waiting_approval"
    at.run()
    assert "Approvals (1)" in [t.label for t in at.tabs]
    (approval,) = workflows.list_approvals(admin)
    at.text_input(key=f"appr_note_{approval.id}").input("Fine by me")
    at.button(key=f"appr_yes_{approval.id}").click().run()
    assert not at.exception, at.exception
    assert f"Step 1 of run {run_id} approved. The run continues in the background." in _texts(at)
    done = workflows.wait_for_run(admin.tenant_id, run_id, timeout=60, until=("succeeded", "failed"))
    assert done.status == "succeeded", done.error

    at.run()
    at.selectbox(key="run_pick").set_value(run_id).run()
    texts = _texts(at)
    assert f"**Run {run_id}** of **Review each sync**" in texts and ":green[succeeded]" in texts
    assert f"Approved by {admin.username}: Fine by me" in texts
    assert "My tasks (1)" in [t.label for t in at.tabs]
    assert "**Review sync 77**" in texts
    at.button(key=f"task_done_{workflows.list_tasks(admin)[0].id}").click().run()
    assert "Task 'Review sync 77' is done." in _texts(at)


def test_the_guided_form_builds_a_workflow_step_by_step(admin):
    at = _page(admin.username)
    at.radio(key="new_mode").set_value("The form").run()
    at.text_input(key="f_name").input("Schedule check")
    at.selectbox(key="f_trigger").set_value("schedule").run()
    at.text_input(key="f_cron").input("*/15 * * * *")
    at.text_area(key="f_conditions").input("nonsense here")
    at.selectbox(key="fa_type").set_value("create_task").run()
    at.text_input(key="fa_title").input("Look at the numbers")
    at.button(key="fa_add").click().run()
    assert "1. Create a task for a user" in _texts(at)
    at.button(key="f_save").click().run()
    assert "conditions line 1" in _texts(at)  # the bad condition line is named
    at.text_area(key="f_conditions").input("")
    at.button(key="f_save").click().run()
    assert "Created 'Schedule check'." in _texts(at), _texts(at)
    (wf,) = workflows.list_workflows(admin)
    assert wf.workflow.definition["trigger"]["cron"] == "*/15 * * * *"
    assert wf.workflow.definition["actions"][0]["title"] == "Look at the numbers"
    at.button(key=f"wf_toggle_{wf.workflow.id}").click().run()
    assert "'Schedule check' is off." in _texts(at)


def test_a_viewer_sees_workflows_but_changes_nothing(admin):
    workflows.create_workflow(admin, {"name": "Mine", "trigger": {"type": "source_synced"},
                                      "actions": [{"type": "create_task", "title": "t", "require_approval": True}]})
    workflows.wait_for_run(admin.tenant_id, workflows.emit(admin.tenant_id, "source_synced", {"sync_id": 1})[0])
    auth.add_user(admin, f"viewer-wf-{admin.tenant_id}@example.com", "Vic", "viewer", PASSWORD)
    at = _page(f"viewer-wf-{admin.tenant_id}@example.com")
    texts = _texts(at)
    assert "Your role can view workflows but not create them." in texts
    assert "Your role can view approvals but not decide them." in texts
    assert not [b for b in at.button if b.key and b.key.startswith(("appr_", "wf_run_", "tpl_"))]


def test_every_trigger_and_step_of_the_form_renders(admin):
    at = _page(admin.username)
    at.radio(key="new_mode").set_value("The form").run()
    for trigger in workflows.TRIGGER_TYPES:
        at.selectbox(key="f_trigger").set_value(trigger).run()
        assert not at.exception, (trigger, at.exception)
        for action in workflows.ACTION_TYPES:
            at.selectbox(key="fa_type").set_value(action).run()
            assert not at.exception, (trigger, action, at.exception)
    for key in ("weekly_retrain_promote", "critical_revenue_alert", "drift_retrain_approval"):
        at.radio(key="new_mode").set_value("A template").run()
        at.selectbox(key="tpl_key").set_value(key).run()
        assert not at.exception, (key, at.exception)
