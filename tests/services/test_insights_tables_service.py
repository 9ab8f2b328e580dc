"""Insights service on any table (issue 9): roles proposed and confirmed, volumes never money, the live digest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from aihub.db.session import tenant_session
from aihub.errors import ValidationError
from aihub.services import datasets, insight_roles
from aihub.services import insights as insights_service
from tests.conftest import new_tenant
from tests.fixtures import AVOCADO_DROP, avocado_csv, credit_csv


@pytest.fixture
def admin(server_database):
    return new_tenant("instables")


def _texts(items) -> str:
    return " ".join(f"{i.title} {i.narrative}" for i in items)


def test_a_volume_table_is_not_orders_and_its_planted_drop_is_found(admin):
    data, _ = avocado_csv()
    saved = datasets.save_upload(admin, "avocado", "avocado.csv", data).version
    assert insight_roles.detect_roles(saved.column_schema) is None  # "Total Volume" is not money
    (rec,) = insights_service.dataset_roles(admin)
    assert rec.roles is None
    view = insights_service.table_roles(admin, saved.dataset_id)
    assert not view.confirmed and view.roles.date == "Date" and view.roles.money == {}
    out = insights_service.generate(admin, now=datetime(2018, 3, 27, tzinfo=UTC))
    shift = next(i for i in out if i.type == "period_shift")
    assert shift.figures["seg_text"] == f"region = {AVOCADO_DROP[0]}" and shift.figures["measure"] == "Total Volume"
    assert "$" not in _texts(out) and "USD" not in _texts(out)
    assert {"kind": "dataset", "id": saved.dataset_id, "name": "avocado"} in shift.evidence


def test_confirmed_roles_drive_the_table_insights(admin):
    data, _ = credit_csv()
    saved = datasets.save_upload(admin, "credit", "credit.csv", data).version
    view = insights_service.table_roles(admin, saved.dataset_id)
    assert view.proposal.outcome_candidates[0].column == "class"
    with pytest.raises(ValidationError) as err:
        insights_service.set_table_roles(admin, saved.dataset_id, {"outcome": "no such column"})
    assert err.value.field == "roles.outcome"
    with pytest.raises(ValidationError) as err:
        insights_service.set_table_roles(admin, saved.dataset_id, {"outcome": "class", "positive": "maybe"})
    assert err.value.field == "roles.positive"
    roles = view.roles.model_dump(mode="json") | {"outcome": "class", "positive": "bad"}
    confirmed = insights_service.set_table_roles(admin, saved.dataset_id, roles)
    assert confirmed.confirmed and confirmed.roles.positive == "bad"
    out = insights_service.generate(admin, now=datetime(2030, 1, 1, tzinfo=UTC))
    drivers = next(i for i in out if i.type == "outcome_drivers")
    assert drivers.figures["driver"] == "checking_status" and "class = bad" in drivers.title
    assert not insights_service.set_table_roles(admin, saved.dataset_id, None).confirmed


def test_orders_and_table_roles_are_kept_side_by_side(admin, superstore_bytes):
    saved = datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes).version
    rec = insights_service.set_dataset_roles(admin, saved.dataset_id, {"date": "Ship Date", "amount": "Profit"})
    assert rec.stored and rec.roles["amount"] == "Profit"
    view = insights_service.set_table_roles(admin, saved.dataset_id, {"outcome": "Segment", "date": "Order Date"})
    assert view.confirmed and view.orders
    (after,) = insights_service.dataset_roles(admin)
    assert after.stored and after.roles["amount"] == "Profit"  # confirming table roles kept the orders roles
    again = insights_service.set_dataset_roles(admin, saved.dataset_id, {"date": "Order Date", "amount": "Sales"})
    assert again.roles["amount"] == "Sales" and insights_service.table_roles(admin, saved.dataset_id).confirmed


def _seed(principal, n: int, monitor_id: int | None = None) -> list[int]:
    from aihub.db import models as m

    with tenant_session(principal.tenant_id) as s:
        if monitor_id is None:
            mon = m.Monitor(tenant_id=principal.tenant_id, name=f"live-{n}", config={})
            s.add(mon)
            s.flush()
            monitor_id = mon.id
        items = [m.Anomaly(tenant_id=principal.tenant_id, monitor_id=monitor_id, metric="daily_revenue",
                           slice=f"Region={i}", ts=datetime(2023, 4, 1 + i), actual=1.0, expected=2.0, lower=1.5,
                           upper=2.5, score=0.9, severity="high", status="new", impact=-100.0, root_cause={},
                           snapshot=[]) for i in range(n)]
        s.add_all(items)
        s.flush()
        return [a.id for a in items]


def test_the_open_anomalies_digest_follows_the_anomalies_with_events(admin):
    from aihub.db.models import Anomaly

    now = datetime(2023, 5, 1, tzinfo=UTC)
    ids = _seed(admin, 3)
    (digest,) = insights_service.generate(admin, categories=["operations"], now=now)
    assert digest.figures["n_open"] == 3
    assert insights_service.refresh_live(admin, now=now) == []  # nothing changed: nothing stored
    ids += _seed(admin, 1)
    (fresh,) = insights_service.refresh_live(admin, now=now)
    assert fresh.id == digest.id and fresh.figures["n_open"] == 4 and fresh.status == "new"
    events = insights_service.insight_events(admin, digest.id)
    assert [e.action for e in events] == ["refreshed"] and "4" in events[0].note
    with tenant_session(admin.tenant_id) as s:
        s.execute(sa.update(Anomaly).where(Anomaly.id.in_(ids)).values(status="resolved"))
    (gone,) = insights_service.refresh_live(admin, now=now)
    assert gone.id == digest.id and gone.valid_until <= now
    assert insights_service.list_insights(admin, now=now) == []
    assert insights_service.insight_events(admin, digest.id)[-1].note == "No open anomalies any more"


def test_resolving_an_anomaly_refreshes_the_digest_through_the_triage_event(admin, superstore_bytes):
    from aihub.services import anomalies as anomaly_svc
    from aihub.services import monitors as monitor_svc

    saved = datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes).version
    mon = monitor_svc.create_monitor(admin, {"detection_name": "revenue", "anomaly_type": "revenue",
                                             "monitored_metrics": ["daily_revenue"]}, dataset_id=saved.dataset_id)
    now = datetime.now(UTC)
    ids = _seed(admin, 2, mon.id)
    (digest,) = insights_service.generate(admin, categories=["operations"], now=now)
    assert digest.figures["n_open"] == 2
    anomaly_svc.change_status(admin, ids[0], "resolved", resolution_notes="Checked: a late data load")
    fresh = insights_service.get_insight(admin, digest.id)
    assert fresh.figures["n_open"] == 1
    assert [e.action for e in insights_service.insight_events(admin, digest.id)] == ["refreshed"]
    anomaly_svc.bulk_triage(admin, [ids[1]], "false_positive", false_positive_reason="promotion")
    assert insights_service.get_insight(admin, digest.id).valid_until <= datetime.now(UTC)
