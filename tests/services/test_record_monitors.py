"""Record monitors through the service on real PostgreSQL: every row of real Superstore orders scored, flagged
rows listed with reasons, and analysts' confirmations raising precision on later orders (issue 13).

Frauds are planted by ``benchmarks/fraud_records.py``'s ``plant_superstore`` (four kinds, 0.5% of rows each,
fixed seed); the measurement mirrors that benchmark through the service: the earlier 60% of days is the first
dataset version, an analyst reviews the 100 (or 400) riskiest listed rows (confirm a planted fraud, dismiss the rest),
then the full table arrives as the next version and only the later orders are judged.
"""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pandas as pd
import pytest

from aihub import auth
from aihub.errors import NotFound, PermissionDenied, ValidationError
from aihub.services import datasets
from aihub.services import record_monitors as rm
from tests.conftest import PASSWORD, REPO, new_tenant

sys.path.insert(0, str(REPO / "benchmarks"))
from fraud_records import SUPERSTORE_SETTINGS, plant_superstore, time_split


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.drop(columns=["is_fraud", "fraud_kind"]).to_csv(index=False).encode()


@pytest.fixture(scope="module")
def planted(superstore_bytes):
    orders = pd.read_csv(io.BytesIO(superstore_bytes), encoding="utf-8-sig")
    d = plant_superstore(orders, seed=1)
    dates = pd.to_datetime(d["Order Date"], format="%d/%m/%y")
    earlier, later = time_split(d, dates)
    return earlier, later


def _precision_at_1(listed: list, truth: dict[str, int], later_ids: set[str], n_later: int) -> float:
    k = max(1, math.ceil(0.01 * n_later))
    later = [r for r in listed if r.row_key in later_ids]
    assert len(later) >= k, "the stored flagged rows must cover the top 1% of the later orders"
    return float(np.mean([truth[r.row_key] for r in later[:k]]))


@pytest.mark.parametrize("reviews", [100, 400])
def test_confirmations_raise_precision_on_later_orders(tenant, planted, reviews):
    earlier, later = planted
    saved = datasets.save_upload(tenant, "orders", "orders.csv", _csv(earlier))
    mon = rm.create_record_monitor(tenant, {"name": "Order risk", "params": SUPERSTORE_SETTINGS},
                                   dataset_id=saved.version.dataset_id)
    assert mon.rows_scored == len(earlier) and mon.flagged > 0
    top = rm.list_scores(tenant, mon.id, limit=reviews)
    assert [r.score for r in top] == sorted((r.score for r in top), reverse=True)
    assert top[0].band in ("high", "critical") and top[0].reasons and "Row ID" in top[0].row
    truth = {str(k): int(v) for k, v in zip(pd.concat([earlier, later])["Row ID"], pd.concat([earlier,
                                                                                              later])["is_fraud"])}
    # an analyst reviews the riskiest rows: confirms the planted frauds, dismisses the rest
    confirm = [r.row_key for r in top if truth[r.row_key]]
    dismiss = [r.row_key for r in top if not truth[r.row_key]]
    assert rm.decide(tenant, mon.id, confirm, "confirmed") == len(confirm)
    assert rm.decide(tenant, mon.id, dismiss, "dismissed", note="normal bulk order") == len(dismiss)
    # the full table arrives; first score it without the decisions (same-run baseline), then with them
    datasets.save_upload(tenant, "orders", "orders.csv", _csv(pd.concat([earlier, later], ignore_index=True)))
    later_ids = {str(i) for i in later["Row ID"]}
    rate = float(later["is_fraud"].mean())
    base = rm.create_record_monitor(tenant, {"name": "Order risk, no decisions", "params": SUPERSTORE_SETTINGS},
                                    dataset_id=saved.version.dataset_id)
    p_before = _precision_at_1(rm.list_scores(tenant, base.id, limit=2000), truth, later_ids, len(later))
    learned = rm.score_record_monitor(tenant, mon.id)
    assert (learned.confirmed, learned.dismissed) == (len(confirm), len(dismiss))
    p_after = _precision_at_1(rm.list_scores(tenant, mon.id, limit=2000), truth, later_ids, len(later))
    print(f"record monitor on Superstore (seed 1, {len(later):,} later orders, fraud rate {rate:.3f}): "
          f"p@1% {p_before:.3f} without decisions -> {p_after:.3f} after {len(confirm)} confirmations and "
          f"{len(dismiss)} dismissals of the {len(top)} riskiest listed earlier rows (asked for {reviews})")
    assert p_before > 2 * rate  # far above the fraud rate with no labels at all
    assert p_after > p_before
    # the decisions stay on their rows across scorings
    assert {r.row_key for r in rm.list_scores(tenant, mon.id, decision="confirmed", limit=2000)} == set(confirm)


def test_record_monitor_input_is_checked_and_rights_and_tenants_hold(tenant, planted):
    earlier, _ = planted
    saved = datasets.save_upload(tenant, "orders", "orders.csv", _csv(earlier.head(800)))
    with pytest.raises(ValidationError) as err:
        rm.create_record_monitor(tenant, {"name": "x", "params": {"entity_col": "Client"}},
                                 dataset_id=saved.version.dataset_id)
    assert err.value.field == "params.entity_col" and "Client" in str(err.value)
    with pytest.raises(ValidationError) as err:
        rm.create_record_monitor(tenant, {"name": "x", "params": {"band_high": 2}}, dataset_id=saved.version.dataset_id)
    assert err.value.field.startswith("params.")
    mon = rm.create_record_monitor(tenant, {"name": "small", "params": {"id_col": "Row ID"}},
                                   dataset_id=saved.version.dataset_id)
    with pytest.raises(ValidationError) as err:
        rm.decide(tenant, mon.id, ["not-a-row"], "confirmed")
    assert err.value.field == "row_keys"
    with pytest.raises(ValidationError):
        rm.decide(tenant, mon.id, [rm.list_scores(tenant, mon.id, limit=1)[0].row_key], "fraud!!")
    email = f"viewer-{tenant.tenant_id}@example.com"
    auth.add_user(tenant, email, "Vic", "viewer", PASSWORD)
    viewer = auth.principal_for(email)
    assert rm.list_scores(viewer, mon.id, limit=5)
    with pytest.raises(PermissionDenied):
        rm.decide(viewer, mon.id, [rm.list_scores(tenant, mon.id, limit=1)[0].row_key], "confirmed")
    other = new_tenant("elsewhere")
    with pytest.raises(NotFound):
        rm.list_scores(other, mon.id)
    with pytest.raises(NotFound):
        rm.delete_record_monitor(other, mon.id)
    assert rm.list_record_monitors(other) == []


def test_a_sync_of_the_table_scores_it_again_and_keeps_the_decisions(tenant, monkeypatch):
    import time

    from aihub.services import sources
    from tests.services.test_monitor_schedules_alerts import _start_api
    from tests.test_sources import _rest

    monkeypatch.setenv("AIHUB_JOB_BACKEND", "inline")
    server = _start_api(monkeypatch)
    server.rows = [{"day": f"2024-01-{d % 28 + 1:02d}", "region": ("West", "East")[d % 2], "sales": 100 + d % 17}
                   for d in range(60)]
    try:
        src = sources.create_source(tenant, _rest(server))
        assert sources.sync(tenant, src.id).status == "succeeded"
        dataset_id = sources.get_source(tenant, src.id).dataset_id
        mon = rm.create_record_monitor(tenant, {"name": "API orders", "params": {}}, dataset_id=dataset_id)
        assert mon.rows_scored == 60
        top = rm.list_scores(tenant, mon.id, limit=1)[0]
        rm.decide(tenant, mon.id, [top.row_key], "confirmed")
        server.rows = server.rows + [{"day": "2024-01-29", "region": "West", "sales": 5000}]  # a new, odd order
        assert sources.sync(tenant, src.id).status == "succeeded"
        deadline = time.time() + 60
        while time.time() < deadline and rm.get_record_monitor(tenant, mon.id).rows_scored != 61:
            time.sleep(0.3)
        again = rm.get_record_monitor(tenant, mon.id)
        assert again.rows_scored == 61 and again.confirmed == 1
        assert rm.list_scores(tenant, mon.id, limit=1)[0].row["Sales"] == 5000  # the odd order now tops the list
    finally:
        server.shutdown()
        server.server_close()


def test_a_label_column_of_the_table_trains_the_supervised_model(tenant, planted):
    """Known outcomes in the table itself (earlier rows labelled, later ones blank) act like decisions."""
    earlier, later = planted
    table = pd.concat([earlier, later], ignore_index=True).drop(columns=["fraud_kind"])
    known = np.r_[np.ones(len(earlier), bool), np.zeros(len(later), bool)]
    table["Known outcome"] = np.where(known, np.where(table["is_fraud"] == 1, "fraud", "normal"), "")
    truth = {str(k): int(v) for k, v in zip(table["Row ID"], table["is_fraud"])}
    saved = datasets.save_upload(tenant, "labelled", "labelled.csv", table.drop(columns=["is_fraud"]).to_csv(
        index=False).encode())
    ds = saved.version.dataset_id
    later_ids = {str(i) for i in later["Row ID"]}
    base = rm.create_record_monitor(tenant, {"name": "no labels", "params": SUPERSTORE_SETTINGS
                                             | {"exclude": [*SUPERSTORE_SETTINGS.get("exclude", []), "Known outcome"]}},
                                    dataset_id=ds)
    p_before = _precision_at_1(rm.list_scores(tenant, base.id, limit=2000), truth, later_ids, len(later))
    mon = rm.create_record_monitor(tenant, {"name": "labels", "params": SUPERSTORE_SETTINGS
                                            | {"label_col": "Known outcome"}}, dataset_id=ds)
    p_after = _precision_at_1(rm.list_scores(tenant, mon.id, limit=2000), truth, later_ids, len(later))
    print(f"label column: p@1% on later orders {p_before:.3f} unsupervised -> {p_after:.3f} with "
          f"{len(earlier):,} labelled earlier rows")
    assert not any("Known outcome" in r for row in rm.list_scores(tenant, mon.id, limit=50) for r in row.reasons)
    assert p_after > p_before
    # a value that is neither outcome names the column and the row
    bad = table.drop(columns=["is_fraud"]).head(600).copy()
    bad.loc[3, "Known outcome"] = "maybe"
    saved = datasets.save_upload(tenant, "bad labels", "bad.csv", bad.to_csv(index=False).encode())
    with pytest.raises(ValidationError) as err:
        rm.create_record_monitor(tenant, {"name": "bad", "params": {"id_col": "Row ID", "label_col": "Known outcome"}},
                                 dataset_id=saved.version.dataset_id)
    assert err.value.field == "params.label_col" and "row 5" in str(err.value) and "maybe" in str(err.value)
