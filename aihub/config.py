"""Runtime settings read from the environment.

Every knob an operator may turn is an ``AIHUB_*`` environment variable, read
once into a frozen :class:`Settings`. Nothing here touches the network.

=========================  ==================================================
variable                   meaning
=========================  ==================================================
AIHUB_DATABASE_URL         SQLAlchemy URL of the *owner* connection
                           (``postgresql+psycopg://...``). Migrations run
                           with it. Unset: an embedded PostgreSQL is started
                           under ``AIHUB_DATA_DIR/pgdata``.
AIHUB_APP_DATABASE_URL     URL the app uses at run time. Unset: the owner URL
                           with the user swapped for ``AIHUB_APP_ROLE``.
AIHUB_APP_ROLE             Non-owner login role of the app (``aihub_app``).
AIHUB_APP_DB_PASSWORD      Its password (unset: generated once and kept in
                           ``AIHUB_DATA_DIR/app_db_password``).
AIHUB_WORKER_DATABASE_URL  URL ``aihub worker`` reaches the task queue with
                           (procrastinate's tables). Unset: the owner URL with
                           the user swapped for ``AIHUB_WORKER_ROLE``; must be
                           set when ``AIHUB_APP_DATABASE_URL`` is.
AIHUB_WORKER_ROLE          Login role of the queue (``aihub_worker``).
AIHUB_READ_DATABASE_URL    URL of a read replica as the app role, for the
                           dashboard's reads only (``aihub.db.session.
                           read_session``). Unset: they go to the app URL.
AIHUB_WORKER_DB_PASSWORD   Its password (unset: generated once and kept in
                           ``AIHUB_DATA_DIR/worker_db_password``).
AIHUB_DATA_DIR             Local data folder (``./.aihub``).
AIHUB_COOKIE_KEY           Secret for the login cookie (or
                           ``cookie_key`` in ``.streamlit/secrets.toml``).
AIHUB_DEMO                 ``1`` allows the demo tenant and a generated
                           cookie key.
AIHUB_MAX_UPLOAD_MB        Upload size limit in megabytes (200).
AIHUB_ARTIFACT_KEY         Key that signs model artifacts (unset: generated
                           once into ``AIHUB_DATA_DIR/artifact.key``).
AIHUB_JOB_WORKERS          Threads that run training jobs in-process (2).
=========================  ==================================================
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from aihub.errors import ValidationError


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load_settings`."""

    database_url: str | None
    app_database_url: str | None
    app_role: str
    data_dir: Path
    demo: bool
    max_upload_mb: float
    job_workers: int
    worker_database_url: str | None = None
    worker_role: str = "aihub_worker"
    read_database_url: str | None = None

    @property
    def max_upload_bytes(self) -> int:
        """Upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def secret_file(self, name: str, nbytes: int = 32) -> bytes:
        """Return a secret kept in ``data_dir/name``, creating it (mode 0600) if absent.

        Parameters
        ----------
        name : str
            File name inside the data folder.
        nbytes : int
            Random bytes of a new secret (hex-encoded on disk).

        Returns
        -------
        bytes
            The secret as stored (hex text, ASCII).
        """
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(nbytes))
        return path.read_text().strip().encode("ascii")

    def artifact_key(self) -> bytes:
        """Key for HMAC-signing model artifacts: ``AIHUB_ARTIFACT_KEY`` or a key file.

        The key never goes into the database, so a database dump alone cannot
        forge a model artifact. Its format is the one
        :func:`aihub.ml.resolve_key` reads for file mode: the key *text*
        (surrounding whitespace ignored) as UTF-8 bytes, at least 16 bytes; the
        generated key file holds 64 hex characters. So the same
        ``AIHUB_ARTIFACT_KEY`` signs and verifies in the app and on the command line.

        Raises
        ------
        ValidationError
            If ``AIHUB_ARTIFACT_KEY`` is shorter than 16 bytes.
        """
        env = (os.environ.get("AIHUB_ARTIFACT_KEY") or "").strip()
        key = env.encode("utf-8") if env else self.secret_file("artifact.key")
        if len(key) < 16:
            raise ValidationError("AIHUB_ARTIFACT_KEY must be at least 16 characters (e.g. the output of "
                                  "python -c 'import secrets; print(secrets.token_hex(32))').",
                                  field="AIHUB_ARTIFACT_KEY")
        return key


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number; got {raw!r}.", field=name) from None
    if value <= 0:
        raise ValidationError(f"{name} must be positive; got {raw!r}.", field=name)
    return value


def load_settings() -> Settings:
    """Read :class:`Settings` from the environment.

    Raises
    ------
    ValidationError
        If a numeric variable is not a positive number.
    """
    return Settings(
        database_url=os.environ.get("AIHUB_DATABASE_URL") or None,
        app_database_url=os.environ.get("AIHUB_APP_DATABASE_URL") or None,
        app_role=os.environ.get("AIHUB_APP_ROLE", "aihub_app"),
        data_dir=Path(os.environ.get("AIHUB_DATA_DIR", ".aihub")).expanduser().resolve(),
        demo=os.environ.get("AIHUB_DEMO", "0").lower() in ("1", "true", "yes"),
        max_upload_mb=_float_env("AIHUB_MAX_UPLOAD_MB", 200.0),
        job_workers=int(_float_env("AIHUB_JOB_WORKERS", 2)),
        worker_database_url=os.environ.get("AIHUB_WORKER_DATABASE_URL") or None,
        worker_role=os.environ.get("AIHUB_WORKER_ROLE", "aihub_worker"),
        read_database_url=os.environ.get("AIHUB_READ_DATABASE_URL") or None,
    )
