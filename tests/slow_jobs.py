"""A job handler plug-in for the worker tests: a forecast training that takes a while.

Imported by the worker processes of ``tests/test_worker.py`` before ``aihub worker`` starts; it
reports progress every second for ``payload["seconds"]`` seconds, then
trains like the real forecast handler.
"""

import time

from aihub.services import forecasts, jobs


@jobs.register("slow_forecast")
def slow_forecast(job, control):
    for i in range(int(job.payload.get("seconds", 10))):
        control.progress(0.05 + 0.01 * i, f"warming up {i}")
        time.sleep(1)
    return forecasts._train_forecast(job, control)
