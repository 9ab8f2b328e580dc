"""The composition root: one call that connects the layers, made by every process at start.

:func:`wire` registers

* the worker's procrastinate tasks with :mod:`aihub.queue` (so ``aihub.run_job``
  and friends can be deferred and run), and the function each task runs
  when the backend is ``inline``;
* the job handlers (forecast and predictive training), by importing the
  services that declare them with :func:`aihub.services.jobs.register`;
* the workflows' subscription to every service event (:mod:`aihub.events`), and the insights' to
  anomaly triage (the open-anomalies digest follows it), and the monitors' to ``source_synced``
  (a monitor runs after each sync of its data);
* the Dask routes of the heavy jobs (:mod:`aihub.runtime.cluster_jobs`): large batch-prediction files, large
  record monitors and forecasts of many series go to the cluster when ``AIHUB_DASK_SCHEDULER`` (or
  ``AIHUB_DASK_LOCAL=1``) is set at the time they run, and stay in-process otherwise.

Entry points call it once: ``streamlit_app.py``, ``aihub.cli.main`` (and so
``aihub worker``), the HTTP API. Calling it again does nothing.
"""

from __future__ import annotations

import threading

from aihub import events, queue, workflows
from aihub.runtime import cluster_jobs, worker
from aihub.services import (
    analytics,
    analytics_specs,
    batch_predictions,
    forecasts,
    insights,
    jobs,
    model_training,
    monitors,
    record_monitors,
)

#: Services whose import registers job handlers (kept referenced so the import is not "unused").
JOB_HANDLER_SERVICES = (forecasts, model_training, analytics, batch_predictions)

_wired = False
_lock = threading.Lock()


def wire() -> None:
    """Register every task, inline runner, job handler and event subscription of the hub (idempotent)."""
    global _wired
    with _lock:
        if _wired:
            return
        queue.add_tasks(worker.tasks)
        queue.register_inline("aihub.run_job", jobs.run_job)
        queue.register_inline("aihub.run_workflow", workflows.execute_run)
        queue.register_inline("aihub.run_monitor", monitors.run_scheduled)
        queue.register_inline("aihub.score_record_monitor", record_monitors.score_scheduled)
        for event in events.EVENTS:
            events.subscribe(event, workflows.on_event)
        # a single prediction publishes inside its write transaction: workflows match and queue runs there
        events.unsubscribe(events.PREDICTION_MADE, workflows.on_event)
        events.subscribe_in_transaction(events.PREDICTION_MADE, workflows.on_event_in)
        events.subscribe(events.SOURCE_SYNCED, monitors.on_source_synced)
        events.subscribe(events.SOURCE_SYNCED, record_monitors.on_source_synced)
        events.subscribe(events.ANOMALY_TRIAGED, insights.on_anomalies_changed)
        batch_predictions.use_runner(cluster_jobs.run_batch_job)
        record_monitors.use_scorer(cluster_jobs.score_records_routed)
        forecasts.use_panel_fitter(cluster_jobs.fit_panel_routed)
        analytics_specs.use_forecaster(cluster_jobs.forecast_many_routed)
        _wired = True
