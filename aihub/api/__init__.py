"""The HTTP API (FastAPI): an entry point beside the screens and the CLI; it calls aihub.runtime.wiring.wire() at start."""
