"""Where sources may connect: the operator's allow-lists and the hub's own database server.

Every reader asks this module before it opens a connection, so one set of
rules guards databases, REST APIs, object stores and local files:

=============================  ===============================================  ==============================
setting                        what it allows                                   unset means
=============================  ===============================================  ==============================
``AIHUB_ALLOWED_HOSTS``        hosts (and ports) sources may reach over TCP      nothing
``AIHUB_LOCAL_SOURCE_ROOTS``   folders local files (and SQLite) may be read in   nothing
``AIHUB_ALLOWED_SOCKET_DIRS``  folders whose Unix sockets database sources may   nothing
                               use (``?host=/path`` in a PostgreSQL URL,
                               ``unix_socket`` for MySQL)
``AIHUB_SOURCE_DB_PARAMS``     extra database URL parameters allowed on top of    only the safe ones
                               the safe ones (e.g. ``sslrootcert``)
``AIHUB_HUB_SOURCE_DATABASES`` databases *on the hub's own PostgreSQL server*    none
                               a source may read (never the hub's own database)
=============================  ===============================================  ==============================

The hub's own server
--------------------
A source never reaches the hub's own PostgreSQL server: not its database,
not by socket, not by TCP, whatever the allow-list says (the list typically
allows ``localhost`` for local test services). :mod:`aihub.db.engine`
registers the server it connects to with :func:`register_hub_server`,
including every address and socket directory the server listens on
(``listen_addresses``, ``port``, ``unix_socket_directories``), and
:func:`hub_server_problem` compares each connection target against them
(resolved IP addresses; any address of this machine counts as the same as
``127.0.0.1``). The one exception is a database an operator names in
``AIHUB_HUB_SOURCE_DATABASES`` (the demo's generated shop database), reached
by a role that must still authenticate with its own password.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from aihub.errors import ConnectorError, ValidationError

#: Environment variable with the hosts sources may reach.
ALLOWED_HOSTS_ENV = "AIHUB_ALLOWED_HOSTS"
#: Environment variable listing folders local-path sources may read (``os.pathsep``-separated).
LOCAL_ROOTS_ENV = "AIHUB_LOCAL_SOURCE_ROOTS"
#: Environment variable listing folders whose Unix-domain sockets database sources may use.
SOCKET_DIRS_ENV = "AIHUB_ALLOWED_SOCKET_DIRS"
#: Environment variable listing extra database URL parameters an operator allows.
DB_PARAMS_ENV = "AIHUB_SOURCE_DB_PARAMS"
#: Environment variable naming databases on the hub's own server that sources may read.
HUB_DATABASES_ENV = "AIHUB_HUB_SOURCE_DATABASES"

#: URL protocols object-storage sources may use, and the package that provides each (None: built in).
PROTOCOLS: dict[str, str | None] = {
    "file": None,
    "memory": None,
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}

_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_\-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_\-]*[a-z0-9_])?)*$")
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")
_lock = threading.Lock()


# ---------------------------------------------------------------------------
# host allow-list
# ---------------------------------------------------------------------------


def parse_allowed_hosts(value: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """Normalise an allow-list; None reads ``AIHUB_ALLOWED_HOSTS``.

    Parameters
    ----------
    value : str, sequence of str or None
        Entries such as ``api.example.com``, ``api.example.com:8443``,
        ``*.example.com``, ``10.0.0.5``, ``[::1]`` or ``*``; a string is split
        on commas and spaces.

    Returns
    -------
    tuple of str
        Lower-case entries (``host``, ``host:port``, ``*.domain``, ``*``).

    Raises
    ------
    ValidationError
        An entry is not a host pattern (``field`` is ``AIHUB_ALLOWED_HOSTS``).
    """
    if value is None:
        value = os.environ.get(ALLOWED_HOSTS_ENV, "")
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"Allowed hosts must be text, got {item!r}.", field=ALLOWED_HOSTS_ENV,
                                  details={"value": repr(item)})
        entry = item.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry == "*":
            out.append(entry)
            continue
        host, port = split_host_port(entry)
        ok = host is not None and (_HOST_RE.match(host) or is_ip(host))
        if not ok or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValidationError(
                f"{item!r} in the allowed hosts is not a host name: write 'api.example.com', "
                "'api.example.com:8443', '*.example.com', an IP address or '*' (no http://, no path).",
                field=ALLOWED_HOSTS_ENV,
                details={"value": item, "allowed": "host, host:port, *.domain, IP, *"},
            )
        out.append(host if port is None else f"{host}:{int(port)}")
    return tuple(dict.fromkeys(out))


def split_host_port(entry: str) -> tuple[str | None, str | None]:
    """``"host:port"`` -> ``(host, port)``; IPv6 in brackets; ``(None, None)`` when malformed."""
    if "/" in entry or "@" in entry:
        return None, None
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            return None, None
        host, rest = entry[1:end], entry[end + 1:]
        if rest and not rest.startswith(":"):
            return None, None
        return host, rest[1:] if rest else None
    if entry.count(":") > 1:  # a bare IPv6 address
        return entry, None
    if ":" in entry:
        host, port = entry.split(":", 1)
        return host, port
    return entry, None


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_allowed(host: str, port: int | None, allowed: Sequence[str]) -> bool:
    """Whether ``host`` (and ``port``) matches an allow-list entry.

    Parameters
    ----------
    host : str
        Host name or IP address (brackets optional for IPv6).
    port : int or None
        Port, or None when unknown.
    allowed : sequence of str
        Normalised entries from :func:`parse_allowed_hosts`.
    """
    host = host.strip().lower().strip("[]").rstrip(".")
    if not host:
        return False
    for entry in allowed:
        if entry == "*":
            return True
        e_host, e_port = split_host_port(entry)
        if e_port is not None and (port is None or int(e_port) != port):
            continue
        if e_host.startswith("*."):
            if host.endswith(e_host[1:]) and len(host) > len(e_host) - 1:
                return True
        elif is_ip(e_host) and is_ip(host):
            if ipaddress.ip_address(e_host) == ipaddress.ip_address(host):
                return True
        elif e_host == host:
            return True
    return False


def host_not_allowed(host: str | None, port: int | None, allowed: Sequence[str], *, source: str,
                     what: str) -> None:
    """Raise ConnectorError(``not_allowed``) unless ``host`` is allowed (see :func:`host_allowed`)."""
    if host and host_allowed(host, port, allowed):
        return
    shown = f"{host}:{port}" if port else str(host)
    listed = ", ".join(allowed) if allowed else "nothing (it is empty)"
    raise ConnectorError(
        f"Source {source!r}: the {what} goes to {shown}, which is not on the hub's allow-list of hosts "
        f"(it allows: {listed}). Ask an administrator to add {host!r} to {ALLOWED_HOSTS_ENV}, or use an "
        "allowed host. Nothing was sent.",
        kind="not_allowed",
        details={"source": source, "host": host, "port": port, "allowed": list(allowed),
                 "setting": ALLOWED_HOSTS_ENV},
    )


def check_url_allowed(url: str | httpx.URL, allowed: Sequence[str], *, source: str, what: str = "request") -> None:
    """Raise unless ``url`` is http(s) and its host is on the allow-list.

    Raises
    ------
    ConnectorError
        Kind ``not_allowed``, naming the source, the host and the setting.
    """
    u = url if isinstance(url, httpx.URL) else httpx.URL(str(url))
    if u.scheme not in ("http", "https"):
        raise ConnectorError(
            f"Source {source!r}: the {what} goes to {u.scheme}://, and only http:// and https:// are allowed.",
            kind="not_allowed",
            details={"source": source, "scheme": u.scheme},
        )
    host_not_allowed(u.host, u.port or (443 if u.scheme == "https" else 80), allowed, source=source, what=what)


# ---------------------------------------------------------------------------
# local files and sockets
# ---------------------------------------------------------------------------


def protocol_of(url: str) -> str:
    """The fsspec protocol of ``url``: ``"file"`` for a local path, else the scheme (lower case).

    Chained URLs (``simplecache::s3://...``) return ``"chained"``, which no
    source may use.
    """
    if "::" in url:
        return "chained"
    m = _SCHEME_RE.match(url)
    return m.group(1).lower() if m else "file"


def _parse_folders(value: str | Sequence[str | os.PathLike] | None, env: str, what: str) -> tuple[Path, ...]:
    if value is None:
        value = os.environ.get(env, "")
    items = value.split(os.pathsep) if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise ValidationError(
                f"{what} {text!r} must be an absolute path (for example /srv/aihub/imports).",
                field=env,
                details={"value": text},
            )
        out.append(path.resolve())
    return tuple(dict.fromkeys(out))


def parse_local_roots(value: str | Sequence[str | os.PathLike] | None = None) -> tuple[Path, ...]:
    """Normalise the allowed local folders; None reads ``AIHUB_LOCAL_SOURCE_ROOTS``.

    Raises
    ------
    ValidationError
        A root is not an absolute path.
    """
    return _parse_folders(value, LOCAL_ROOTS_ENV, "Local source folder")


def parse_socket_dirs(value: str | Sequence[str | os.PathLike] | None = None) -> tuple[Path, ...]:
    """Normalise the allowed socket folders; None reads ``AIHUB_ALLOWED_SOCKET_DIRS``.

    Raises
    ------
    ValidationError
        A folder is not an absolute path.
    """
    return _parse_folders(value, SOCKET_DIRS_ENV, "Socket folder")


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def check_local_path(path: str | os.PathLike, roots: Sequence[Path], *, source: str) -> Path:
    """Resolve a local path and require it under one of ``roots``.

    Returns
    -------
    Path
        The resolved path.

    Raises
    ------
    ConnectorError
        Kind ``not_allowed``: relative path, or outside every root.
    """
    text = str(path)
    text = text.removeprefix("file://")
    p = Path(text).expanduser()
    if not p.is_absolute():
        raise ConnectorError(
            f"Source {source!r}: the local path {text!r} must be absolute (start with /).",
            kind="not_allowed", details={"source": source, "path": text},
        )
    resolved = p.resolve()
    if _under(resolved, roots):
        return resolved
    listed = ", ".join(map(str, roots)) if roots else "none (it is empty)"
    raise ConnectorError(
        f"Source {source!r}: the local path {text} is outside the folders sources may read (allowed: {listed}). "
        f"Ask an administrator to add its folder to {LOCAL_ROOTS_ENV}, or copy the file into an allowed folder.",
        kind="not_allowed",
        details={"source": source, "path": text, "allowed": [str(r) for r in roots], "setting": LOCAL_ROOTS_ENV},
    )


def check_socket_dir(path: str, allowed: Sequence[Path], *, source: str) -> Path:
    """Require a Unix-socket folder (or socket file) to lie under an allowed socket folder.

    Raises
    ------
    ConnectorError
        Kind ``not_allowed``: the folder is not allowed (the message never shows
        the allowed folders, which are server paths).
    """
    resolved = Path(path).expanduser().resolve() if path.startswith("/") else None
    if resolved is not None and _under(resolved, allowed):
        return resolved
    raise ConnectorError(
        f"Source {source!r}: the database connection uses a Unix socket on the hub's machine, which sources may "
        f"not use unless an administrator allows that socket folder in {SOCKET_DIRS_ENV}. Connect by host name "
        "and port instead.",
        kind="not_allowed",
        details={"source": source, "setting": SOCKET_DIRS_ENV},
    )


def parse_db_params(value: str | Sequence[str] | None = None) -> frozenset[str]:
    """Extra database URL parameters the operator allows (``AIHUB_SOURCE_DB_PARAMS`` when None)."""
    if value is None:
        value = os.environ.get(DB_PARAMS_ENV, "")
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    return frozenset(i.strip().lower() for i in items if i and i.strip())


def parse_hub_databases(value: str | Sequence[str] | None = None) -> frozenset[str]:
    """Databases on the hub's server sources may read (``AIHUB_HUB_SOURCE_DATABASES`` when None)."""
    if value is None:
        value = os.environ.get(HUB_DATABASES_ENV, "")
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    return frozenset(i.strip() for i in items if i and i.strip())


# ---------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------


def resolve(host: str, port: int | None) -> tuple[str, ...]:
    """IP addresses ``host`` resolves to (an IP resolves to itself), in resolver order.

    Raises
    ------
    OSError
        ``socket.gaierror`` when the name does not resolve.
    """
    host = host.strip("[]")
    if is_ip(host):
        return (str(ipaddress.ip_address(host)),)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos))


def _machine_addresses() -> frozenset[str]:
    out = {"127.0.0.1", "::1", "0.0.0.0", "::"}
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):
                    out.add(str(ipaddress.ip_address(a.address.split("%")[0])))
    except Exception:  # noqa: BLE001 - psutil missing or restricted: fall back to the host name
        try:
            out.update(resolve(socket.gethostname(), None))
        except OSError:
            pass
    return frozenset(out)


def is_local(ip: str) -> bool:
    """Whether ``ip`` reaches this machine (loopback, unspecified, or one of its interface addresses)."""
    addr = ipaddress.ip_address(ip)
    if addr.is_loopback or addr.is_unspecified:
        return True
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None and (mapped.is_loopback or mapped.is_unspecified):
        return True
    return str(addr) in _machine_addresses()


# ---------------------------------------------------------------------------
# the hub's own server
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HubServer:
    """Where the hub's own PostgreSQL server can be reached.

    Attributes
    ----------
    sockets : frozenset of Path
        Resolved socket folders it listens in.
    tcp : frozenset of (str, int)
        ``(ip, port)`` pairs it listens on; ``("*", port)`` for every address of this machine.
    databases : frozenset of str
        The hub's own databases on it (never readable by a source).
    """

    sockets: frozenset[Path]
    tcp: frozenset[tuple[str, int]]
    databases: frozenset[str]
    port: int


_HUB_SERVERS: list[HubServer] = []


def register_hub_server(*, hosts: Sequence[str], port: int, databases: Sequence[str],
                        listen_addresses: str | None = None, socket_dirs: Sequence[str] = ()) -> HubServer:
    """Record a server the hub itself uses, so that no source can reach it.

    Parameters
    ----------
    hosts : sequence of str
        Hosts in the hub's connection URL (names, IPs or socket folders).
    port : int
        The server's port (also names its socket file ``.s.PGSQL.<port>``).
    databases : sequence of str
        The hub's own databases there.
    listen_addresses : str, optional
        The server's ``listen_addresses`` setting (``*``, ``localhost``, IPs, or ``""`` for none).
    socket_dirs : sequence of str
        The server's ``unix_socket_directories``.

    Returns
    -------
    HubServer
    """
    sockets: set[Path] = set()
    tcp: set[tuple[str, int]] = set()
    for h in [*hosts, *socket_dirs]:
        if not h:
            continue
        if h.startswith("/"):
            sockets.add(Path(h).resolve())
        elif not h.startswith("@"):
            try:
                tcp.update((ip, port) for ip in resolve(h, port))
            except OSError:
                pass
    for addr in re.split(r"[,\s]+", listen_addresses or ""):
        if addr in ("*", "0.0.0.0", "::"):
            tcp.add(("*", port))
        elif addr:
            try:
                tcp.update((ip, port) for ip in resolve(addr, port))
            except OSError:
                pass
    server = HubServer(frozenset(sockets), frozenset(tcp), frozenset(d for d in databases if d), port)
    with _lock:
        if server not in _HUB_SERVERS:
            _HUB_SERVERS.append(server)
    return server


def hub_servers() -> tuple[HubServer, ...]:
    """The servers registered with :func:`register_hub_server` in this process."""
    with _lock:
        return tuple(_HUB_SERVERS)


def _reaches(server: HubServer, *, socket_dir: Path | None, ips: Sequence[str], port: int) -> bool:
    if socket_dir is not None:
        return socket_dir in server.sockets
    for ip in ips:
        for hub_ip, hub_port in server.tcp:
            if hub_port != port:
                continue
            if hub_ip == "*" and is_local(ip):
                return True
            if hub_ip != "*" and (ip == hub_ip or (is_local(ip) and is_local(hub_ip))):
                return True
    return False


def hub_server_problem(*, socket_dir: Path | None, ips: Sequence[str], port: int, database: str | None,
                       source: str, allowed_databases: frozenset[str] | None = None) -> None:
    """Refuse a connection target that is the hub's own database server.

    Raises
    ------
    ConnectorError
        Kind ``not_allowed``, unless ``database`` is one the operator allowed in
        ``AIHUB_HUB_SOURCE_DATABASES`` and is not one of the hub's own databases.
    """
    allowed_dbs = parse_hub_databases() if allowed_databases is None else allowed_databases
    for server in hub_servers():
        if not _reaches(server, socket_dir=socket_dir, ips=ips, port=port):
            continue
        if database and database in allowed_dbs and database not in server.databases:
            continue
        raise ConnectorError(
            f"Source {source!r}: the database connection goes to the hub's own database server, which sources "
            "may never read. Connect to your own database server instead.",
            kind="not_allowed",
            details={"source": source, "setting": HUB_DATABASES_ENV},
        )
