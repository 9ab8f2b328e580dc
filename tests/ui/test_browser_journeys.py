"""Issue 9's journeys in headless Chromium against the app served as ``make run`` serves it (with a live worker).

Deep links and reloads keep their page through log-in; an upload with the category ``none`` is saved, its
column types are fixed after saving (a new version of the same bytes); the roles of a plain table are confirmed
for insights; logging out and in as another user shows that user's role; a two-filter forecast (Region and Category) is
trained on the worker and its history is exactly the filtered rows' sums; a model of the shared loan table
(0/1 target) is trained, deployed and predicts one row with its reasons and a batch file with its warnings; a
monitor of the average Quantity (no money value) finds a planted spike, which is acknowledged, assigned and
resolved, and stays resolved after a reload. No screen shows a traceback.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from aihub import auth
from aihub.services import datasets
from tests.conftest import PASSWORD, new_tenant, shared_file

pytestmark = pytest.mark.browser


def _credit_csv(n: int = 120) -> bytes:
    rows = ["other_parties,amount,housing,class"]
    for i in range(n):
        party = "none" if i % 10 else ("guarantor" if i % 20 else "co applicant")
        housing = ("own", "rent", "free")[i % 3]
        bad = (i % 7 == 0) or (housing == "rent" and i % 3 == 0)
        rows.append(f"{party},{100 + (37 * i) % 900},{housing},{'bad' if bad else 'good'}")
    return ("\n".join(rows) + "\n").encode()


def test_journeys_in_the_browser(app_page):
    from playwright.sync_api import expect

    admin = new_tenant("journeys")
    auth.add_user(admin, f"viewer-{admin.tenant_id}@journeys.example.com", "Vera Viewer", "viewer", PASSWORD)
    page = app_page.page

    # A deep link as the server's very first request (screens live in app_pages/, so Streamlit's legacy pages/
    # discovery never runs a screen without the router) opens the log-in form under its own URL and lands on its
    # page after log-in.
    app_page.goto("data_sources")
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
    assert not page.get_by_text("schema ui").count() and not page.get_by_text("sources ui").count()
    app_page.log_in(admin.username, PASSWORD, then="Data sources")
    assert page.url.rstrip("/").endswith("/data_sources")
    # A reload keeps the page (the session is resumed from the cookie).
    app_page.reload()
    expect(app_page.heading("Data sources")).to_be_visible()
    app_page.no_traceback()

    # Upload a table whose commonest other_parties value is the category "none"; it stays a value.
    app_page.upload([{"name": "credit.csv", "mimeType": "text/csv", "buffer": _credit_csv()}])
    expect(page.get_by_text(re.compile(r"Read credit\.csv: 120 rows, 4 columns"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"In 'other_parties', 'none' \(108 cells\) means missing"))).to_be_visible()
    expect(page.get_by_role("textbox", name="Dataset name")).to_have_value("credit")
    app_page.click(page.get_by_role("button", name="Save dataset"))
    expect(page.get_by_text("Saved credit version 1: 120 rows.")).to_be_visible()
    app_page.no_traceback()

    # Fix a type after saving: 'none' means missing after all -> version 2, same bytes.
    page.get_by_text("Fix column types of version 1").click()  # an expander: no script run
    expect(page.get_by_role("button", name="Save as a new version")).to_be_visible()
    # The saved version's tick box, below the upload's.
    app_page.click(page.get_by_text(re.compile(r"In 'other_parties', 'none'")).last)
    app_page.click(page.get_by_role("button", name="Save as a new version"))
    expect(page.get_by_text("Saved credit version 2 with the new column types: 120 rows.")).to_be_visible()
    (v2, v1) = datasets.list_versions(admin, datasets.list_datasets(admin)[0].id)
    assert (v2.version, v2.sha256) == (2, v1.sha256)
    assert datasets.load_frame(admin, v2.id)["other_parties"].isna().sum() == 108
    app_page.no_traceback()

    # Insights: the plain table's roles are proposed, then confirmed.
    app_page.open("Insights")
    page.get_by_text("Data insights read").click()  # an expander
    expect(page.get_by_text(re.compile(r"proposed roles, not confirmed yet"))).to_be_visible()
    app_page.click(page.get_by_role("button", name="Confirm roles"))
    expect(page.get_by_text("Insights will read credit with the roles you confirmed.")).to_be_visible()
    app_page.no_traceback()

    # Log out, and in as the viewer: the viewer's role shows.
    app_page.log_out()
    app_page.log_in(f"viewer-{admin.tenant_id}@journeys.example.com", PASSWORD, then="Dashboard")
    expect(page.get_by_text(re.compile(r"Vera Viewer · viewer"))).to_be_visible()
    app_page.open("Data sources")
    expect(page.get_by_text("Your role can view datasets but not upload them.")).to_be_visible()
    app_page.no_traceback()


def test_two_filter_forecast_in_the_browser(app_page, tmp_path):
    """A monthly Sales forecast of Superstore's West region and Furniture category together (two filters),
    trained on the worker and shown with its chart; its history is exactly the filtered orders' monthly sums."""
    from playwright.sync_api import expect

    from aihub.services import forecasts, registry

    admin = new_tenant("fcjourney")
    orders = shared_file("superstore", "superstore_orders.csv")
    page = app_page.page
    app_page.goto()
    app_page.log_in(admin.username, PASSWORD, then="Dashboard")
    app_page.open("Data sources")
    app_page.upload(str(orders))
    app_page.fill(page.get_by_role("textbox", name="Dataset name"), "Superstore")
    app_page.click(page.get_by_role("button", name="Save dataset"))
    expect(page.get_by_text("Saved Superstore version 1")).to_be_visible()

    app_page.open("Forecasts")
    app_page.choose("Filter 1 (optional)", "Region")
    app_page.choose("Keep Region", "West")
    app_page.choose("Filter 2 (optional)", "Category")
    app_page.choose("Keep Category", "Furniture")
    app_page.choose("Algorithm", "ets")
    app_page.fill(page.get_by_role("textbox", name="Model name"), "West furniture sales")
    app_page.no_traceback()
    app_page.click(page.get_by_role("button", name="Train forecast"))
    expect(page.get_by_text("Training of West furniture sales finished in", exact=False)).to_be_visible(
        timeout=180_000)
    app_page.settle()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.get_by_text("Backtest MASE", exact=True)).to_be_visible()
    app_page.no_traceback()

    (model,) = registry.list_models(admin, forecasts.FORECAST_KIND)
    (version,) = registry.list_versions(admin, model.id)
    view = forecasts.forecast_view(admin, model.id, version.id)
    frame = pd.read_csv(orders)
    kept = frame[(frame["Region"] == "West") & (frame["Category"] == "Furniture")]
    assert 0 < len(kept) < len(frame) / 10
    assert view.history["y"].sum() == pytest.approx(kept["Sales"].sum(), rel=1e-6)


def _loan_files(tmp_path) -> tuple[Path, Path]:
    """The first 240 rows of the shared loan-approval table (0/1 ``Loan_Status``) to train on, and the next 30
    without the target as a batch, where 3 rows carry an unseen ``Property_Area`` and 2 an unseen ``Education``."""
    with shared_file("tables", "loan_approval.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[-1] == "Loan_Status"
    train, batch = tmp_path / "loans.csv", tmp_path / "new_loans.csv"
    with train.open("w", newline="") as f:
        csv.writer(f).writerows([header, *body[:240]])
    area, education = header.index("Property_Area"), header.index("Education")
    new = [[str(i), *r[1:-1]] for i, r in enumerate(body[240:270])]  # a pandas row index from 0, as exported
    for r in new[:3]:
        r[area] = "Lunar"
    for r in new[3:5]:
        r[education] = "Self-taught"
    with batch.open("w", newline="") as f:
        csv.writer(f).writerows([header[:-1], *new])
    return train, batch


def test_train_deploy_and_predict_in_the_browser(app_page, tmp_path):
    """Upload a shared table with a 0/1 target, train a model through the form (the job runs on the worker),
    deploy it, predict one row with its reasons and a score named after the outcome, then a file in batch."""
    from playwright.sync_api import expect

    admin = new_tenant("mljourney")
    train, batch = _loan_files(tmp_path)
    page = app_page.page
    app_page.goto()
    app_page.log_in(admin.username, PASSWORD, then="Dashboard")

    app_page.open("Data sources")
    app_page.upload(str(train))
    expect(page.get_by_text(re.compile(r"Read loans\.csv: 240 rows"))).to_be_visible()
    app_page.click(page.get_by_role("button", name="Save dataset"))
    expect(page.get_by_text("Saved loans version 1: 240 rows.")).to_be_visible()
    app_page.no_traceback()

    app_page.open("Models")
    app_page.choose("Target: the outcome to predict", "Loan_Status")
    expect(page.get_by_text(re.compile(r"Default: 1, because"))).to_be_visible()
    app_page.choose("Algorithm", "logistic_regression")
    app_page.fill(page.get_by_role("textbox", name="Model name"), "Loan approval")
    app_page.no_traceback()
    app_page.click(page.get_by_role("button", name="Train model"))
    expect(page.get_by_text("Training of Loan approval finished in", exact=False)).to_be_visible(timeout=180_000)
    app_page.settle()
    app_page.no_traceback()
    app_page.click(page.get_by_role("button", name="Deploy version 1"))
    expect(page.get_by_text(re.compile(r"Version 1 of Loan approval is deployed"))).to_be_visible()
    app_page.no_traceback()

    app_page.open("Predictions")
    expect(page.get_by_text(re.compile(r"Champion: version 1 .* output: P\(Loan_Status\)"))).to_be_visible()
    app_page.click(page.get_by_role("button", name="Predict"))
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="P(Loan_Status)")).to_be_visible()
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="Prediction")).to_be_visible()
    expect(page.get_by_text(re.compile(r"P\(Loan_Status\) \d\.\d\d .*is driven (up|down) by"))).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the reasons' waterfall
    assert "Churn" not in page.inner_text("[data-testid=stMain]")
    app_page.no_traceback()

    page.get_by_role("tab", name="Batch").click()
    app_page.settle()
    expect(page.get_by_role("button", name="Predict file")).to_be_visible()
    app_page.upload(str(batch))
    app_page.click(page.get_by_role("button", name="Predict file"))
    expect(page.get_by_text(re.compile(r"Predicted 30 of 30 rows of new_loans\.csv"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^3 rows: .*Property_Area = 'Lunar' was not seen in training"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^2 rows: .*Education = 'Self-taught' was not seen in training"))).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download results CSV").click()
    results = pd.read_csv(download.value.path())
    assert len(results) == 30 and "prediction" in results.columns, results.columns
    assert results["warning"].fillna("").str.contains("Lunar").sum() == 3
    app_page.no_traceback()


def _orders_with_a_spike(tmp_path) -> tuple[Path, str]:
    """Superstore's orders of its last 300 days, where every order of one day 40 days before the end has a
    quantity of 40 (usually 1 to 14): a spike of the daily average quantity. Returns the file and that day."""
    frame = pd.read_csv(shared_file("superstore", "superstore_orders.csv"), dtype=str, keep_default_na=False)
    day = pd.to_datetime(frame["Order Date"], format="%d/%m/%y")
    frame = frame[day > day.max() - pd.Timedelta(days=300)]
    day = day[frame.index]
    spike = day[day < day.max() - pd.Timedelta(days=40)].max()
    frame.loc[day == spike, "Quantity"] = "40"
    path = tmp_path / "recent_orders.csv"
    frame.to_csv(path, index=False)
    return path, f"{pd.Timestamp(spike):%Y-%m-%d}"


def test_monitor_a_quantity_and_triage_in_the_browser(app_page, tmp_path):
    """A monitor of the daily average Quantity (not revenue, no money value) finds the planted spike; the
    anomaly is acknowledged, assigned and resolved with one note field, and stays resolved after a reload."""
    from playwright.sync_api import expect

    from aihub.services import anomalies, monitors

    admin = new_tenant("monjourney")
    orders, spike = _orders_with_a_spike(tmp_path)
    page = app_page.page
    app_page.goto()
    app_page.log_in(admin.username, PASSWORD, then="Dashboard")
    app_page.open("Data sources")
    app_page.upload(str(orders))
    app_page.click(page.get_by_role("button", name="Save dataset"))
    expect(page.get_by_text("Saved recent_orders version 1")).to_be_visible()

    app_page.open("Monitors")
    app_page.click(page.get_by_test_id("stRadio").get_by_text("New monitor", exact=True))  # the form's view
    app_page.fill(page.get_by_role("textbox", name="Monitor name"), "Units per order")
    app_page.choose("Anomaly type", "operational")
    app_page.choose("Column 1", "Quantity")
    app_page.choose("Aggregation", "average")
    app_page.fill(page.get_by_role("textbox", name="Money per unit").first, "")
    app_page.no_traceback()
    app_page.click(page.get_by_role("button", name="Create monitor"))
    expect(page.get_by_text("Created monitor Units per order")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Run finished in .* found [1-9]\d* new anomal"))).to_be_visible(
        timeout=180_000)
    app_page.no_traceback()
    assert len(monitors.list_monitors(admin)) == 1
    found = [a for a in anomalies.list_anomalies(admin) if f"{a.ts:%Y-%m-%d}" == spike]
    assert found, [(a.ts, a.series_label, a.metric) for a in anomalies.list_anomalies(admin)]
    found = found[0]
    assert "quantity" in found.metric.lower() and "revenue" not in found.metric.lower(), found.metric
    assert found.impact is None  # no money value per unit: no money impact

    app_page.open("Anomalies")
    _open_anomaly(page, app_page, spike)
    expect(page.get_by_text(re.compile(rf"{re.escape(found.metric)} · .* · {spike}"))).to_be_visible()
    # "acknowledged" is the first status a new anomaly may move to, so it is already chosen (picking it again
    # would start no run).
    expect(page.get_by_role("combobox", name="Move to")).to_have_value("acknowledged")
    app_page.click(page.get_by_role("button", name="Update status"))
    expect(page.get_by_text(f"Anomaly {found.id} is now acknowledged.")).to_be_visible()
    ((_, username, name),) = anomalies.assignable_users(admin)
    app_page.choose("Assign to", name or username)  # the screen lists users by name
    app_page.click(page.get_by_role("button", name="Assign"))
    expect(page.get_by_text(re.compile(rf"Anomaly {found.id} is assigned to "))).to_be_visible()
    app_page.choose("Move to", "resolved")
    assert page.get_by_role("textbox", name="Note (optional)").count() == 0  # one note field when resolving
    notes = page.get_by_role("textbox", name="Resolution notes (required)")
    app_page.settle()
    before = app_page.runs()
    notes.fill("A bulk order of one client.")
    notes.press("Control+Enter")  # a text area's commit (Enter starts a new line)
    app_page.settle(since=before)
    app_page.click(page.get_by_role("button", name="Update status"))
    expect(page.get_by_text(f"Anomaly {found.id} is now resolved.")).to_be_visible()
    app_page.no_traceback()

    app_page.reload()
    expect(app_page.heading("Anomalies")).to_be_visible()
    app_page.choose("Status", "resolved")
    _open_anomaly(page, app_page, spike)
    expect(page.get_by_text(re.compile(r"status resolved · assigned to"))).to_be_visible()
    expect(page.get_by_text("A bulk order of one client.").first).to_be_visible()
    assert anomalies.get_anomaly(admin, found.id).status == "resolved"
    app_page.no_traceback()


def _options(page, app_page, label: str) -> list[str]:
    """The options a select box offers (opened and closed again, which starts no run)."""
    app_page.settle()
    page.get_by_role("combobox", name=label).click()
    texts = page.get_by_role("option").all_inner_texts()
    app_page.close_list()
    return texts


def _open_anomaly(page, app_page, day: str) -> None:
    """Open the anomaly of ``day`` in the detail unless it is open already (picking the shown option again
    starts no run)."""
    if page.get_by_role("heading", name=re.compile(rf" · {day}$")).count():
        return
    app_page.choose("Open an anomaly", next(o for o in _options(page, app_page, "Open an anomaly") if day in o))
