"""REST API sources over httpx, behind an allow-list of hosts.

Allow-list
----------
Every request a source makes (the first page, each next page, OAuth2 token
requests and every redirect hop) must go to a host on the allow-list; the
check runs *before* the request is sent, so a refused host sees no traffic.
The list comes from the ``allowed_hosts`` argument or, when that is None, from
the environment variable ``AIHUB_ALLOWED_HOSTS`` (comma- or space-separated).
**Unset means nothing is allowed**: an administrator opts hosts in. Entries:

==========================  =====================================================
``api.example.com``         that host, any port
``api.example.com:8443``    that host on that port only
``*.example.com``           any subdomain (not ``example.com`` itself)
``10.0.0.5``, ``[::1]``     IP addresses, written as in URLs
``*``                       any host (not recommended)
==========================  =====================================================

The same list also guards database hosts (:mod:`aihub.connectors.database`)
and object-store endpoints, so a source cannot be pointed at internal services
an administrator did not list.

Records, pages, auth
--------------------
See :class:`aihub.connectors.config_rest.RestConnection` and
:class:`~aihub.connectors.config_rest.Pagination`. The records path is a small
dotted path (``data.items``, ``results.0.rows``; a leading ``$.`` is accepted).
No JSONPath library is used: a records path only ever walks keys and list
positions, which a dozen lines do exactly, and wildcards/filters would let one
source describe records that do not exist as one list in the response.
Authentication: ``bearer`` (``Authorization: Bearer <token>``), ``header``
(any header name, optional prefix), ``basic``, ``query`` (an API key
parameter) and ``oauth2_client_credentials`` (RFC 6749 section 4.4: the token
is fetched from ``token_url`` once per read with HTTP Basic client
authentication, or form fields with ``client_auth: "post"``).

Redirects are followed (at most 5), each hop checked against the allow-list.
A request that leaves the base URL's origin (scheme, host and port), by a
redirect or a next-page link, carries no credential: the ``Authorization``
header, the ``header`` type's header and the ``query`` type's parameter are
removed before it is sent.
No request is retried: the worker retries the whole sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd

from aihub.connectors._records import _MISSING, Fetched, get_path, network_kind, records_at, records_to_frame
from aihub.connectors.config import Endpoint, RestConnection, SourceConfig
from aihub.connectors.policy import (  # noqa: F401 - re-exported: the allow-list's historical home
    ALLOWED_HOSTS_ENV,
    check_url_allowed,
    host_allowed,
    host_not_allowed,
    parse_allowed_hosts,
)
from aihub.errors import ConnectorError

_USER_AGENT = "aihub-connector/1"
_MAX_REDIRECTS = 5


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def read_rest(
    config: SourceConfig,
    secrets: Mapping[str, Any],
    *,
    allowed_hosts: Sequence[str],
    row_limit: int | None = None,
    max_pages: int | None = None,
) -> Fetched:
    """Read every endpoint of a REST source, following its pagination.

    Parameters
    ----------
    config : SourceConfig
        A ``rest_api`` source.
    secrets : mapping
        Checked secrets of its authentication type.
    allowed_hosts : sequence of str
        Normalised allow-list (:func:`parse_allowed_hosts`).
    row_limit : int, optional
        Lower the configured limit (e.g. for a sample).
    max_pages : int, optional
        Lower the configured page cap.

    Returns
    -------
    Fetched
        Records of all endpoints (with ``_endpoint`` when there are several).

    Raises
    ------
    ConnectorError
        ``not_allowed`` (host not on the list; nothing sent), ``dns``,
        ``refused``, ``timeout``, ``tls``, ``auth`` (HTTP 401/403 or token
        refused), ``http_error`` (other 4xx/5xx, too many redirects),
        ``bad_data`` (not JSON), ``schema_mismatch`` (records path missing).
    """
    conn: RestConnection = config.connection  # type: ignore[assignment]
    name = config.source_name
    check_url_allowed(conn.base_url, allowed_hosts, source=name, what="base URL")
    auth_type, params = config.auth.type, config.auth.params
    if auth_type == "oauth2_client_credentials":
        check_url_allowed(params["token_url"], allowed_hosts, source=name, what="OAuth2 token request")
    limit = min(row_limit or conn.row_limit, conn.row_limit)
    pages_cap = min(max_pages or conn.pagination.max_pages, conn.pagination.max_pages)

    headers, client_params, basic = _credentials(auth_type, params, secrets)
    headers = {"Accept": "application/json", "User-Agent": _USER_AGENT, **conn.headers, **headers}
    guard = _guard(config, allowed_hosts)

    timeout = httpx.Timeout(conn.timeout_seconds, connect=conn.connect_timeout_seconds)
    with httpx.Client(
        base_url=conn.base_url,
        headers=headers,
        params=client_params,
        auth=basic,
        timeout=timeout,
        verify=conn.verify_tls,
        follow_redirects=True,
        max_redirects=_MAX_REDIRECTS,
        event_hooks={"request": [guard]},
    ) as client:
        if auth_type == "oauth2_client_credentials":
            client.headers["Authorization"] = "Bearer " + _oauth_token(client, config, secrets)
        frames: list[pd.DataFrame] = []
        truncated = False
        warnings: list[str] = []
        remaining = limit
        for ep in conn.endpoints:
            records, more, note = _read_endpoint(client, config, ep, remaining, pages_cap)
            frame = records_to_frame(records)
            if len(conn.endpoints) > 1:
                frame.insert(0, "_endpoint", ep.path)
            frames.append(frame)
            remaining -= len(records)
            truncated = truncated or more
            if note and max_pages is None:  # a sample (test_connection) reads one page on purpose
                warnings.append(note)
            if remaining <= 0:
                if ep is not conn.endpoints[-1]:
                    truncated = True
                break
    frames = [f for f in frames if len(f.columns)]
    frame = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
    return Fetched(frame=frame, truncated=truncated, warnings=warnings)


def _credentials(auth_type: str, params: Mapping[str, Any], secrets: Mapping[str, Any]
                 ) -> tuple[dict[str, str], dict[str, Any], httpx.BasicAuth | None]:
    """Headers, query parameters and HTTP Basic auth that carry the source's credentials."""
    if auth_type == "bearer":
        return {"Authorization": f"Bearer {secrets['token']}"}, {}, None
    if auth_type == "header":
        prefix = params.get("prefix")
        return {params["header"]: f"{prefix} {secrets['value']}" if prefix else secrets["value"]}, {}, None
    if auth_type == "basic":
        return {}, {}, httpx.BasicAuth(params["username"], secrets["password"])
    if auth_type == "query":
        return {}, {params["param"]: secrets["value"]}, None
    return {}, {}, None


def _guard(config: SourceConfig, allowed_hosts: Sequence[str]) -> Any:
    """The request hook: every request (redirects and next-page links included) goes to an allowed host, and
    one that leaves the base URL's origin carries no credential."""
    conn: RestConnection = config.connection  # type: ignore[assignment]
    auth_type, params, name = config.auth.type, config.auth.params, config.source_name
    origins = {_origin(httpx.URL(conn.base_url))}
    if auth_type == "oauth2_client_credentials":
        origins.add(_origin(httpx.URL(params["token_url"])))
    secret_headers = ("authorization", params["header"].lower()) if auth_type == "header" else ("authorization",)
    secret_param = params["param"] if auth_type == "query" else None

    def guard(request: httpx.Request) -> None:
        check_url_allowed(request.url, allowed_hosts, source=name, what="request")
        if _origin(request.url) not in origins:  # another (allowed) host: it gets no credential
            for header in secret_headers:
                request.headers.pop(header, None)
            if secret_param and secret_param in request.url.params:
                request.url = request.url.copy_remove_param(secret_param)

    return guard


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _where(ep: Endpoint, page: int) -> str:
    return f"page {page} of endpoint {ep.path or '/'!r}"


def _page_params(pag: Any, base: dict[str, Any], i: int, state: dict[str, Any]) -> dict[str, Any] | None:
    """Query parameters of page ``i`` (None: a next link carries its own query)."""
    params: dict[str, Any] = dict(base)
    if pag.type == "page":
        params[pag.page_param] = state["page"]
        if pag.size_param:
            params[pag.size_param] = pag.page_size
    elif pag.type == "offset":
        params[pag.offset_param] = state["offset"]
        params[pag.limit_param] = pag.page_size
    elif pag.type == "cursor" and state["cursor"] is not None:
        params[pag.cursor_param] = state["cursor"]
    elif pag.type == "next_link" and i > 1:
        return None
    return params


def _next_page(pag: Any, body: Any, response: httpx.Response, records: list[Any], state: dict[str, Any],
               source: str, where: str) -> bool:
    """Advance ``state`` to the next page; False when this page was the last."""
    if pag.type == "page":
        if records and not (pag.page_size and len(records) < pag.page_size):
            state["page"] += 1
            return True
    elif pag.type == "offset":
        if len(records) >= (pag.page_size or 1):
            state["offset"] += len(records)
            return True
    elif pag.type == "cursor":
        value = get_path(body, pag.cursor_path)
        if value is not _MISSING and value not in (None, "", False) and str(value) not in state["cursors"]:
            state["cursor"] = str(value)
            state["cursors"].add(state["cursor"])
            return True
    elif pag.type == "next_link":
        link = get_path(body, pag.next_path) if pag.next_path else response.links.get("next", {}).get("url")
        if isinstance(link, str) and link.strip():
            try:
                target = response.url.join(link.strip())
            except Exception:  # noqa: BLE001 - httpx.InvalidURL
                raise ConnectorError(
                    f"Source {source!r}: the next-page link {link[:200]!r} on {where} is not a URL.",
                    kind="bad_data", details={"source": source},
                ) from None
            state["urls"].add(str(response.url))
            if str(target) not in state["urls"]:
                state["url"] = str(target)
                return True
    return False


def _read_endpoint(
    client: httpx.Client, config: SourceConfig, ep: Endpoint, limit: int, max_pages: int
) -> tuple[list[Any], bool, str | None]:
    conn: RestConnection = config.connection  # type: ignore[assignment]
    pag = conn.pagination
    name = config.source_name
    path = ep.records_path if ep.records_path is not None else conn.records_path
    base_params = {**conn.params, **ep.params}
    out: list[Any] = []
    state: dict[str, Any] = {"url": ep.path, "page": pag.start_page, "offset": 0, "cursor": None, "urls": set(),
                             "cursors": set()}
    for i in range(1, max_pages + 1):
        response = _get(client, name, state["url"], _page_params(pag, base_params, i, state), _where(ep, i))
        body = _json(response, name, _where(ep, i))
        records = records_at(body, path, source=name, where=f"the response to {_where(ep, i)}")
        out.extend(records)
        more = _next_page(pag, body, response, records, state, name, _where(ep, i))
        if len(out) >= limit:
            return out[:limit], len(out) > limit or more, None
        if not more:
            return out, False, None
    note = (f"Source {config.source_name!r}: endpoint {ep.path or '/'!r} has more than {max_pages} pages; only the "
            f"first {max_pages} were read. Raise pagination.max_pages to read more.")
    return out, True, note


def _get(client: httpx.Client, source: str, url: str, params: dict[str, Any] | None, where: str) -> httpx.Response:
    try:
        response = client.get(url, params=params)
    except ConnectorError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        raise transport_error(exc, source, client, where) from None
    _check_status(response, source, where)
    return response


def transport_error(exc: BaseException, source: str, client: httpx.Client | None, where: str) -> ConnectorError:
    """Translate an httpx exception into a :class:`ConnectorError` naming the host."""
    host = None
    request = getattr(exc, "_request", None)
    if request is not None:
        host = request.url.host
    elif client is not None:
        host = client.base_url.host
    details = {"source": source, "host": host, "error": type(exc).__name__}
    if isinstance(exc, httpx.TimeoutException):
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the answer"
        return ConnectorError(
            f"Source {source!r}: {host} did not answer in time ({phase}, {where}). The server may be slow or "
            "down: try again later, or raise timeout_seconds in the connection settings.",
            kind="timeout", details=details,
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return ConnectorError(
            f"Source {source!r}: {where} redirected more than {_MAX_REDIRECTS} times. Check the base URL.",
            kind="http_error", details=details,
        )
    kind = network_kind(exc)
    if kind == "dns":
        msg = (f"Source {source!r}: the host name {host!r} could not be found (DNS). Check the spelling of the "
               "base URL, and that this machine can resolve it.")
    elif kind == "refused":
        msg = (f"Source {source!r}: {host} refused the connection: nothing answers at that address and port. "
               "Check the URL's port, and that the service is running.")
    elif kind == "tls":
        msg = (f"Source {source!r}: the secure connection to {host} failed ({exc}). Check that the URL's scheme and "
               "port are right and that the server's certificate is valid.")
    elif kind == "timeout":
        msg = f"Source {source!r}: connecting to {host} timed out. Check the host and port, or try later."
    else:
        kind = "refused" if isinstance(exc, httpx.ConnectError) else "http_error"
        msg = f"Source {source!r}: the request to {host} failed ({type(exc).__name__}: {exc}). Try again later."
    return ConnectorError(msg, kind=kind, details=details)


def _check_status(response: httpx.Response, source: str, where: str) -> None:
    status = response.status_code
    if status < 400:
        return
    host = response.request.url.host
    excerpt = response.text[:300] if response.content else ""
    details = {"source": source, "host": host, "status": status, "body": excerpt}
    if status in (401, 403):
        what = "rejected the credentials" if status == 401 else "refused access with these credentials"
        raise ConnectorError(
            f"Source {source!r}: {host} {what} (HTTP {status}) on {where}. Check the token or key in the "
            "source's authentication settings, and that it may read this endpoint.",
            kind="auth", details=details,
        )
    if status == 404:
        hint = "Check the endpoint path and the base URL."
    elif status == 429:
        retry = response.headers.get("Retry-After")
        hint = f"The API is rate-limiting requests; try again later{f' (after {retry} s)' if retry else ''}."
    elif status >= 500:
        hint = "The API failed on its side; try again later, or contact its owner."
    else:
        hint = "Check the endpoint, its query parameters and the pagination settings."
    raise ConnectorError(
        f"Source {source!r}: {host} answered HTTP {status} {response.reason_phrase} on {where}. {hint}",
        kind="http_error", details=details,
    )


def _json(response: httpx.Response, source: str, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        ctype = response.headers.get("content-type", "no content type")
        start = response.text[:80].strip()
        raise ConnectorError(
            f"Source {source!r}: the answer to {where} is not JSON ({ctype}; it starts {start!r}). Check that the "
            "URL is the API endpoint, not a web page.",
            kind="bad_data",
            details={"source": source, "host": response.request.url.host, "content_type": ctype},
        ) from None


def _oauth_token(client: httpx.Client, config: SourceConfig, secrets: Mapping[str, Any]) -> str:
    """Fetch an access token with the client-credentials grant (RFC 6749 section 4.4)."""
    p = config.auth.params
    name = config.source_name
    data = {"grant_type": "client_credentials"}
    if p.get("scope"):
        data["scope"] = p["scope"]
    if p.get("audience"):
        data["audience"] = p["audience"]
    auth = None
    if p.get("client_auth", "basic") == "basic":
        # RFC 6749 section 2.3.1: id and secret are form-urlencoded before HTTP Basic encoding.
        auth = httpx.BasicAuth(quote(p["client_id"], safe=""), quote(secrets["client_secret"], safe=""))
    else:
        data.update(client_id=p["client_id"], client_secret=secrets["client_secret"])
    where = "the OAuth2 token request"
    try:
        response = client.post(p["token_url"], data=data, auth=auth, headers={"Accept": "application/json"})
    except ConnectorError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise transport_error(exc, name, client, where) from None
    if response.status_code in (400, 401, 403):
        try:
            err = response.json()
        except ValueError:
            err = {}
        code = err.get("error") if isinstance(err, dict) else None
        if response.status_code != 400 or code in ("invalid_client", "unauthorized_client", "invalid_grant",
                                                   "invalid_scope", "access_denied", None):
            raise ConnectorError(
                f"Source {name!r}: the token endpoint {response.request.url.host} refused the client credentials "
                f"(HTTP {response.status_code}{f', {code}' if code else ''}). Check the client id, client secret "
                "and scope in the source's authentication settings.",
                kind="auth",
                details={"source": name, "host": response.request.url.host, "status": response.status_code,
                         "error": code},
            )
    _check_status(response, name, where)
    body = _json(response, name, where)
    token = body.get("access_token") if isinstance(body, dict) else None
    token_type = body.get("token_type", "bearer") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectorError(
            f"Source {name!r}: the token endpoint answered without an access_token. Check token_url.",
            kind="auth", details={"source": name},
        )
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ConnectorError(
            f"Source {name!r}: the token endpoint gave a {token_type!r} token; only bearer tokens are supported.",
            kind="auth", details={"source": name},
        )
    return token
