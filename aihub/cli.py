"""The ``aihub`` command line.

Database commands (``init``, ``db upgrade``, ``demo``, ``jobs recover``)
use the same settings as the app. File-mode commands (``forecast``,
``train``, ``predict``, ``detect``) read and write files and need no
database.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from aihub.errors import AihubError


def _init(args: argparse.Namespace) -> int:
    from aihub import auth
    from aihub.db.engine import get_database

    get_database()
    password = os.environ.get(args.password_env) if args.password_env else None
    if not password:
        if not sys.stdin.isatty():
            print(f"aihub init: no password: set {args.password_env or 'AIHUB_ADMIN_PASSWORD'} "
                  "or run in a terminal to be asked.", file=sys.stderr)
            return 2
        password = getpass.getpass(f"Password for {args.admin}: ")
        if password != getpass.getpass("Repeat it: "):
            print("aihub init: the passwords differ; nothing was created.", file=sys.stderr)
            return 2
    p = auth.create_tenant(args.tenant, args.admin, password, admin_name=args.name or "")
    print(f"Created organization '{p.tenant_name}' (id {p.tenant_id}) with admin {p.username}.")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from aihub.db.engine import bootstrap

    owner, app = bootstrap()
    print(f"Database ready: {owner.render_as_string(hide_password=True)} (app role {app.username}).")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from aihub import demo
    from aihub.db.engine import get_database

    get_database()
    p = demo.seed_demo(train=not args.no_train)
    from aihub import demo_sources

    demo_sources.seed_demo_sources(p)
    if not args.no_train:
        from aihub import demo_automation

        demo_automation.seed_demo_workflows(p)
    print(f"Demo organization '{p.tenant_name}' ready; log in as {demo.DEMO_ADMIN}.")
    return 0


def _demo_api(args: argparse.Namespace) -> int:
    from aihub import demo_sources

    demo_sources.serve_demo_api(args.port)
    return 0


def _jobs_recover(args: argparse.Namespace) -> int:
    from aihub.services import jobs

    out = jobs.recover_interrupted_jobs()
    print(f"Re-queued {out['requeued']} queued or interrupted job(s).")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from aihub.runtime import worker

    worker.run(concurrency=args.concurrency, wait=not args.once)
    return 0


def _api(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from aihub.api.server import serve
    from aihub.api.settings import load_api_settings

    settings = load_api_settings()
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    serve(settings)
    return 0


def _key_admin(args: argparse.Namespace):
    """The admin ``aihub api-keys`` acts as: ``--admin`` of ``--tenant``, or its first active admin."""
    from aihub.db.engine import get_database

    get_database()
    return _insights_principal(argparse.Namespace(tenant=args.tenant, user=args.admin))


def _api_keys_create(args: argparse.Namespace) -> int:
    from datetime import datetime

    from aihub import apikeys
    from aihub.errors import ValidationError

    expires = None
    if args.expires:
        try:
            expires = datetime.fromisoformat(args.expires)
        except ValueError:
            raise ValidationError(f"--expires must be an ISO date-time with a zone, e.g. 2027-01-31T00:00:00Z; "
                                  f"got {args.expires!r}.", field="expires") from None
    rec, token = apikeys.create_key(_key_admin(args), args.name, args.scopes, expires_at=expires, client="cli")
    print(f"Created API key {rec.id} ({rec.key_id}) '{rec.name}' with scopes "
          f"{', '.join('ai_analytics:' + s for s in rec.scopes)}. Store it now; it is not shown again:",
          file=sys.stderr)
    print(token)
    return 0


def _api_keys_list(args: argparse.Namespace) -> int:
    from aihub import apikeys

    for k in apikeys.list_keys(_key_admin(args)):
        state = "revoked" if k.revoked_at else "active"
        print(f"{k.id}\t{k.key_id}\t{state}\t{k.name}\t{','.join(k.scopes)}\t"
              f"expires={k.expires_at.isoformat() if k.expires_at else '-'}\t"
              f"last_used={k.last_used_at.isoformat() if k.last_used_at else '-'}\trequests={k.request_count}")
    return 0


def _api_keys_revoke(args: argparse.Namespace) -> int:
    from aihub import apikeys

    rec = apikeys.revoke_key(_key_admin(args), args.id, client="cli")
    print(f"API key {rec.id} ({rec.key_id}) '{rec.name}' is revoked.")
    return 0


def _insights_principal(args: argparse.Namespace):
    """The principal ``aihub insights`` acts as: ``--user`` of ``--tenant``, or the tenant's first active admin."""
    from aihub import auth
    from aihub.db import insight_store
    from aihub.db.session import tenant_session
    from aihub.errors import NotFound, ValidationError

    tenant_id = auth.find_tenant(args.tenant)
    if tenant_id is None:
        raise NotFound(f"No organization named '{args.tenant}'.")
    if args.user:
        try:
            return auth.principal_for(args.user.strip().lower(), tenant_id)
        except NotFound:
            raise ValidationError(f"User {args.user} is not in organization '{args.tenant}'.", field="user") from None
    with tenant_session(tenant_id) as s:
        admin = insight_store.first_active_admin(s)
    if admin is None:
        raise NotFound(f"Organization '{args.tenant}' has no active admin; pass --user.")
    user_id, username, name, tenant_name = admin
    return auth.Principal(tenant_id, user_id, username, "admin", tenant_name, name)


def _insights_generate(args: argparse.Namespace) -> int:
    from aihub.db.engine import get_database
    from aihub.insights.cli import filter_kwargs
    from aihub.services import insights as insights_service

    get_database()
    p = _insights_principal(args)
    found = insights_service.generate(p, **filter_kwargs(args))
    if not found:
        print(f"No new insights for '{p.tenant_name}' (still-valid ones are not repeated).")
    for n, i in enumerate(found, 1):
        print(f"{n}. [{i.priority} {i.score:.0f}] [{i.category}] {i.title}")
        print(f"   {i.narrative}")
        for a in i.recommended_actions:
            print(f"   - {a}")
    print(f"{len(found)} new insight(s) stored for '{p.tenant_name}' as {p.username}.")
    return 0


def _models_external(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aihub.db.engine import get_database
    from aihub.errors import ValidationError
    from aihub.services import external_models, registry

    get_database()
    p = _insights_principal(args)
    text = sys.stdin.read() if args.config == "-" else Path(args.config).read_text(encoding="utf-8")
    auth = None
    if args.auth_header_env:
        auth = os.environ.get(args.auth_header_env)
        if not auth:
            raise ValidationError(f"--auth-header-env names {args.auth_header_env}, which is not set.",
                                  field="auth_header_env")
    version = external_models.register(p, text, dataset_id=args.dataset_id, auth_header=auth,
                                       model_id=args.model_id, model_name=args.name)
    print(f"Registered external version {version.version} (id {version.id}) of model {version.model_id}.")
    if args.deploy:
        registry.deploy(p, version.model_id, version.id)
        print(f"Version {version.version} now serves as the champion.")
    elif args.challenger is not None:
        registry.set_challenger(p, version.model_id, version.id, args.challenger)
        print(f"Version {version.version} serves {args.challenger:.0%} of predictions as the challenger.")
    return 0


def _forecast(args: argparse.Namespace) -> int:
    """``aihub forecast``: on the Dask cluster when one is configured (same result), in this process otherwise."""
    from aihub.forecasting.cli import run_forecast
    from aihub.runtime.compute import cluster_enabled

    if not cluster_enabled():
        return run_forecast(args)
    from aihub.runtime.cluster_jobs import forecast_many_routed

    return run_forecast(args, forecaster=forecast_many_routed)


def _compute(args: argparse.Namespace) -> int:
    """``aihub compute``: which engine runs the heavy jobs, and whether a named scheduler answers."""
    from aihub.runtime.compute import describe_backend

    d = describe_backend(connect=not args.no_connect)
    if d["backend"] == "in-process":
        print("compute: in-process (AIHUB_DASK_SCHEDULER unset): batch jobs, record monitors and forecasts of "
              "many series run in the process that handles them")
    elif d["backend"] == "dask-local":
        print(f"compute: local Dask cluster of {d['workers']} processes, one per hub process, started by its first "
              "job and reused (AIHUB_DASK_LOCAL=1)")
    else:
        state = ("not checked" if d["reachable"] is None else
                 f"reachable, {d['workers']} workers" if d["reachable"] else "NOT reachable")
        print(f"compute: Dask scheduler {d['scheduler']}: {state}")
    if d.get("partition_rows"):
        print(f"partition: {d['partition_rows']:,} rows (a batch file or record monitor table with more rows goes "
              "to the cluster)")
    if d["error"]:
        print(f"error: {d['error']}", file=sys.stderr)
        return 1
    return 0


#: Commands that use the hub's database; they run :func:`aihub.runtime.wiring.wire` first (file-mode commands
#: need none of it and start faster without importing every service).
HUB_COMMANDS = frozenset({"init", "db", "demo", "demo-api", "jobs", "worker", "insights", "models"})

#: File-mode commands of the issue-15 analytics, each registered by its package's ``register``.
ANALYTICS_CLIS: tuple[str, ...] = (
    "aihub.recommend.cli", "aihub.clv.cli", "aihub.sentiment.cli", "aihub.nba.cli", "aihub.pricing.cli",
    "aihub.inventory.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="aihub", description="AI Analytics Hub command line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create an organization and its admin")
    p.add_argument("--tenant", required=True, help="organization name")
    p.add_argument("--admin", required=True, help="admin e-mail (also the login)")
    p.add_argument("--name", help="admin's display name")
    p.add_argument("--password-env", default="AIHUB_ADMIN_PASSWORD",
                   help="environment variable holding the password (default AIHUB_ADMIN_PASSWORD); "
                        "unset: asked for in the terminal")
    p.set_defaults(func=_init)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="run migrations and set up the app role").set_defaults(func=_db_upgrade)

    p = sub.add_parser("demo", help="seed the demo organization (idempotent)")
    p.add_argument("--no-train", action="store_true", help="skip training the demo forecast")
    p.set_defaults(func=_demo)

    p = sub.add_parser("demo-api", help="serve the demo tenant's generated orders API on 127.0.0.1")
    p.add_argument("--port", type=int, default=8599, help="port (default 8599; AIHUB_DEMO_API_PORT for the source)")
    p.set_defaults(func=_demo_api)

    j = sub.add_parser("jobs", help="training jobs").add_subparsers(dest="jobs_command", required=True)
    j.add_parser("recover", help="re-run queued jobs and jobs whose worker stopped").set_defaults(func=_jobs_recover)

    p = sub.add_parser("worker", help="run queued and scheduled work (procrastinate) until stopped")
    p.add_argument("--concurrency", type=int, default=2, help="jobs run at once (default 2)")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.set_defaults(func=_worker)

    p = sub.add_parser("api", help="serve the REST API (/api/v1) with uvicorn")
    p.add_argument("--host", help="address (default AIHUB_API_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default AIHUB_API_PORT or 8000)")
    p.set_defaults(func=_api)

    keys = sub.add_parser("api-keys", help="API keys of an organization").add_subparsers(
        dest="keys_command", required=True)
    for name, func, text in (("create", _api_keys_create, "create a key and print it once"),
                             ("list", _api_keys_list, "list keys (never their secrets)"),
                             ("revoke", _api_keys_revoke, "revoke a key now")):
        p = keys.add_parser(name, help=text)
        p.add_argument("--tenant", required=True, help="organization name")
        p.add_argument("--admin", help="act as this admin (default: the organization's first active admin)")
        p.set_defaults(func=func)
        if name == "create":
            p.add_argument("--name", required=True, help="what the key is for")
            p.add_argument("--scopes", required=True,
                           help="comma-separated: read, create, update, predict, manage, detect, generate, "
                                "feedback, automation (or ai_analytics:read, ...)")
            p.add_argument("--expires", help="ISO date-time with zone when it stops working (default: never)")
        if name == "revoke":
            p.add_argument("id", type=int, help="key id (first column of 'list')")

    from aihub.insights.cli import add_filter_arguments

    ins = sub.add_parser("insights", help="insights of an organization").add_subparsers(
        dest="insights_command", required=True)
    p = ins.add_parser("generate", help="generate and store an organization's insights now")
    p.add_argument("--tenant", required=True, help="organization name")
    p.add_argument("--user", help="act as this user (default: the organization's first active admin)")
    add_filter_arguments(p)
    p.set_defaults(func=_insights_generate)

    models = sub.add_parser("models", help="model versions of an organization").add_subparsers(
        dest="models_command", required=True)
    p = models.add_parser("external", help="register an external scoring endpoint as a model version")
    p.add_argument("--tenant", required=True, help="organization name")
    p.add_argument("--user", help="act as this user (default: the organization's first active admin)")
    p.add_argument("--dataset-id", type=int, required=True, help="reference dataset (features, background, drift)")
    p.add_argument("--config", required=True, help="JSON file of the endpoint configuration, or - for stdin")
    p.add_argument("--auth-header-env", help="environment variable holding the auth header's value (never an "
                                             "argument: others can read a command line)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--model-id", type=int, help="add the version to this model")
    target.add_argument("--name", help="create a new model of this name")
    serve = p.add_mutually_exclusive_group()
    serve.add_argument("--deploy", action="store_true", help="make it the champion")
    serve.add_argument("--challenger", type=float, metavar="SHARE", help="let it serve this share (0 to 1)")
    p.set_defaults(func=_models_external)

    p = sub.add_parser("compute", help="which engine runs the heavy jobs (in-process or a Dask cluster)")
    p.add_argument("--no-connect", action="store_true", help="do not contact the scheduler")
    p.set_defaults(func=_compute)

    for module in ("aihub.forecasting.cli", "aihub.ml.cli", "aihub.anomaly.cli", "aihub.anomaly.records_cli",
                   *ANALYTICS_CLIS):
        registered = __import__(module, fromlist=["register"]).register(sub)
        if module == "aihub.forecasting.cli":
            registered.set_defaults(func=_forecast)  # on the Dask cluster when one is configured
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for a user error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.command in HUB_COMMANDS:
        from aihub.runtime.wiring import wire  # imports every service: only for the database commands

        wire()
    try:
        return int(args.func(args) or 0)
    except AihubError as exc:
        print(f"aihub {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
