"""Runtime: the process-level composition root above workflows.

worker
    The procrastinate tasks ``aihub worker`` runs (jobs, syncs, workflow runs, the minute tick, the daily checks).
wiring
    :func:`~aihub.runtime.wiring.wire`: registers every task, inline runner, job handler and event
    subscription; every process type (app, CLI, worker, API) calls it once at start.
"""
