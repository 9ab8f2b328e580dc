"""Attacks on monitor alerting: webhook URLs go through the hub's outbound allow-list (aihub.connectors.policy)
when saved and again before each delivery; alert settings stay inside their tenant; secrets are never shown back.
"""

from __future__ import annotations

import pytest

from aihub.errors import ConnectorError, NotFound, ValidationError
from aihub.services import datasets
from aihub.services import monitors as monitor_svc
from tests.conftest import new_tenant
from tests.services.test_monitor_schedules_alerts import ONE_SERIES, outage_csv
from tests.test_workflows import SECRET, receiver  # noqa: F401  (fixture)


@pytest.fixture
def monitor(tenant):
    saved = datasets.save_upload(tenant, "shop", "shop.csv", outage_csv(200))
    return tenant, monitor_svc.create_monitor(tenant, ONE_SERIES, dataset_id=saved.version.dataset_id)


@pytest.mark.parametrize("url, kind", [
    ("http://169.254.169.254/latest/meta-data/", "not_allowed"),   # cloud metadata
    ("http://2130706433:8080/hook", "not_allowed"),                 # 127.0.0.1 spelt as a number
    ("http://127.0.0.1.nip.io/hook", "not_allowed"),                # a name that resolves to an allowed address
    ("http://user:pw@evil.example.com/hook", "not_allowed"),
])
def test_webhook_hosts_outside_the_allow_list_are_refused_when_saved(monitor, monkeypatch, url, kind):
    tenant, mon = monitor
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    with pytest.raises(ConnectorError) as err:
        monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": url}, webhook_secret=SECRET)
    assert err.value.kind == kind and "allow-list" in str(err.value)
    assert monitor_svc.get_monitor(tenant, mon.id).alerting == {}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/x", "ftp://127.0.0.1/x"])
def test_webhook_schemes_other_than_http_are_refused(monitor, monkeypatch, url):
    tenant, mon = monitor
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    with pytest.raises(ValidationError) as err:
        monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": url}, webhook_secret=SECRET)
    assert err.value.field == "alerting.webhook_url"


def test_a_host_removed_from_the_allow_list_gets_nothing_and_the_delivery_says_why(monitor, receiver, monkeypatch):  # noqa: F811
    tenant, mon = monitor
    monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": receiver.url, "min_severity": "low"},
                             webhook_secret=SECRET)
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "hooks.example.com")  # the operator narrows the list later
    assert monitor_svc.run_monitor(tenant, mon.id).status == "succeeded"
    assert receiver.requests == []
    failed = monitor_svc.list_alerts(tenant, mon.id)
    assert failed and {d.status for d in failed} == {"failed"}
    assert all("allow-list" in d.error and "Nothing was sent" in d.error for d in failed)


def test_a_webhook_needs_a_secret_that_is_never_shown_back(monitor, receiver):  # noqa: F811
    tenant, mon = monitor
    with pytest.raises(ValidationError) as err:
        monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": receiver.url})
    assert err.value.field == "alerting.webhook_secret"
    with pytest.raises(ValidationError):
        monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": receiver.url}, webhook_secret="short")
    saved = monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": receiver.url}, webhook_secret=SECRET)
    assert saved.has_alert_secret and SECRET not in repr(saved)
    # saving again without a secret keeps the stored one
    assert monitor_svc.set_alerting(tenant, mon.id, {"webhook_url": receiver.url, "min_severity": "low"}
                                    ).has_alert_secret


def test_another_tenant_cannot_touch_a_monitors_alerting_or_schedule(monitor, receiver):  # noqa: F811
    tenant, mon = monitor
    other = new_tenant("intruder")
    with pytest.raises(NotFound):
        monitor_svc.set_alerting(other, mon.id, {"webhook_url": receiver.url}, webhook_secret=SECRET)
    with pytest.raises(NotFound):
        monitor_svc.set_schedule(other, mon.id, {"every": "hourly"})
    with pytest.raises(NotFound):
        monitor_svc.delete_monitor(other, mon.id, keep_history=False)
    with pytest.raises(NotFound):
        monitor_svc.list_alerts(other, mon.id)
    assert monitor_svc.get_monitor(tenant, mon.id).alerting == {}
