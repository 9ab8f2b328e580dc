"""Serve the API with uvicorn (``aihub api``)."""

from __future__ import annotations

import logging

from aihub.api.context import RequestIdFilter
from aihub.api.settings import ApiSettings, load_api_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines with the request id (``[-]`` outside a request) on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def serve(settings: ApiSettings | None = None, *, workers: int = 1) -> None:
    """Run the API until stopped (SIGINT/SIGTERM), on ``settings.host:settings.port``."""
    import uvicorn

    from aihub.api.app import create_app
    from aihub.db.engine import get_database

    settings = settings or load_api_settings()
    configure_logging()
    get_database()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False, workers=workers)
