"""``connection_config`` of a ``rest_api`` source: base URL, endpoints, pagination.

See :mod:`aihub.connectors.rest` for how it is read (host allow-list,
redirects, records path, the pagination loop).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from aihub.connectors.config_base import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_PARAMETER_NAME_LENGTH,
    MAX_URL_LENGTH,
    SCHEME_RE,
    Flag,
    Headers,
    HttpURL,
    QueryParams,
    RecordsPath,
    RowLimit,
    Seconds,
    SourcePart,
    choice,
    text,
    whole,
)
from aihub.userconfig import HIDDEN, error_at

#: REST pagination styles.
PAGINATION_TYPES: tuple[str, ...] = ("none", "page", "offset", "cursor", "next_link")
DEFAULT_MAX_PAGES = 100
"""Pages read per endpoint unless ``pagination.max_pages`` says otherwise."""
MAX_MAX_PAGES = 10_000
"""Largest ``pagination.max_pages``."""
DEFAULT_PAGE_SIZE = 100
"""``page_size`` of offset pagination when none is given."""
MAX_PAGE_SIZE = 100_000
"""Largest ``pagination.page_size``."""
MAX_START_PAGE = 1_000_000
"""Largest ``pagination.start_page``."""

ParamName = text(MAX_PARAMETER_NAME_LENGTH)


def _relative(path: str) -> str:
    if SCHEME_RE.match(path) or path.startswith("//"):
        raise error_at((), "must be a path relative to base_url (such as 'orders'), not a full URL", path)
    return path


class Endpoint(SourcePart):
    """One REST endpoint: a path relative to ``base_url``. A plain string is read as ``{"path": ...}``.

    Attributes
    ----------
    path : str
        Relative path (``"orders"`` or ``"/orders"``; both land under the
        base URL's path); ``""`` is the base URL itself.
    params : dict
        Query parameters added to every request of this endpoint.
    records_path : str or None
        Overrides the connection's ``records_path``.
    """

    path: Annotated[text(MAX_URL_LENGTH, blank=True), AfterValidator(_relative)]  # type: ignore[valid-type]
    params: QueryParams = Field(default_factory=dict)
    records_path: RecordsPath | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, every key present."""
        return self.model_dump()


class Pagination(SourcePart):
    """How a REST endpoint spreads its records over pages. A plain string is read as ``{"type": ...}``.

    ``type`` picks the style; only the keys of that style may be given
    (besides ``max_pages``).

    ``none``
        One request.
    ``page``
        ``?{page_param}=start_page, start_page+1, ...`` (and
        ``&{size_param}=page_size`` if ``size_param`` is set, which then needs
        ``page_size``). Stops at an empty page, or at a page shorter than
        ``page_size`` when it is given.
    ``offset``
        ``?{offset_param}=0, page_size, 2*page_size, ...&{limit_param}=page_size``
        (``page_size`` 100 unless given). Stops at a page shorter than ``page_size``.
    ``cursor``
        The next cursor is read from the response body at ``cursor_path``
        (dotted path, required) and sent as ``?{cursor_param}=...``. Stops when
        the cursor is missing, null, empty or repeats.
    ``next_link``
        The next page's URL is read from the body at ``next_path`` or, when
        ``next_path`` is None, from the ``Link: <...>; rel="next"`` header
        (RFC 8288). Relative links are resolved against the current URL. Stops
        when there is none or it repeats.

    Every style stops after ``max_pages`` pages (the result is then
    ``truncated``; ``none`` reads one) or once ``row_limit`` records are read.
    """

    type: choice(PAGINATION_TYPES) = "none"  # type: ignore[valid-type]
    page_param: ParamName = "page"
    start_page: whole(0, MAX_START_PAGE) = 1  # type: ignore[valid-type]
    size_param: ParamName | None = None
    page_size: whole(1, MAX_PAGE_SIZE) | None = None  # type: ignore[valid-type]
    offset_param: ParamName = "offset"
    limit_param: ParamName = "limit"
    cursor_param: ParamName = "cursor"
    cursor_path: RecordsPath | None = None
    next_path: RecordsPath | None = None
    max_pages: whole(1, MAX_MAX_PAGES) = DEFAULT_MAX_PAGES  # type: ignore[valid-type]

    KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "none": (),
        "page": ("page_param", "start_page", "size_param", "page_size"),
        "offset": ("offset_param", "limit_param", "page_size"),
        "cursor": ("cursor_param", "cursor_path"),
        "next_link": ("next_path",),
    }
    """The keys of each style, besides ``type`` and ``max_pages``."""

    @classmethod
    def allowed_keys(cls, data: Mapping[str, Any]) -> tuple[str, ...]:
        kind = data.get("type") or "none"
        kind = kind.strip().lower() if isinstance(kind, str) else kind
        if kind not in cls.KEYS:
            return super().allowed_keys(data)  # the type itself is reported
        return ("type", "max_pages", *cls.KEYS[kind])

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if isinstance(data, Mapping) and isinstance(data.get("type"), str) and data.get("page_size") is None \
                and data["type"].strip().lower() == "offset":
            return {**data, "page_size": DEFAULT_PAGE_SIZE}
        return data

    @model_validator(mode="after")
    def _style_settings(self) -> Pagination:
        if self.type == "page" and self.size_param is not None and self.page_size is None:
            raise error_at(("page_size",), f"is required when size_param ({self.size_param!r}) is set", HIDDEN)
        if self.type == "cursor" and not self.cursor_path:
            raise error_at(("cursor_path",), "is required for cursor pagination: the dotted path of the next cursor "
                           "in the response, e.g. 'meta.next_cursor'", HIDDEN)
        if self.type == "next_link" and self.next_path == "":
            object.__setattr__(self, "next_path", None)  # the body itself is no link: read the Link header
        if self.type == "none":
            object.__setattr__(self, "max_pages", 1)  # one request, whatever max_pages says
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``type``, the keys of that style, and ``max_pages`` unless ``none``."""
        out: dict[str, Any] = {"type": self.type}
        for key in self.KEYS[self.type]:
            out[key] = getattr(self, key)
        if self.type != "none":
            out["max_pages"] = self.max_pages
        return out


def _endpoint_list(value: Any) -> Any:
    if isinstance(value, (str, Mapping)):
        return [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise error_at((), "must be a non-empty list of paths such as ['orders']", value)
    return value


def _distinct_paths(endpoints: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
    paths = [e.path for e in endpoints]
    if len(set(paths)) != len(paths):
        raise error_at((), "lists the same path twice; keep one of each", paths)
    return endpoints


class RestConnection(SourcePart):
    """``connection_config`` of a ``rest_api`` source.

    Attributes
    ----------
    base_url : str
        ``http://`` or ``https://`` URL; its host must be on the hub's
        allow-list (see :mod:`aihub.connectors.rest`).
    endpoints : tuple of Endpoint
        Read in order; records of several endpoints are stacked with an
        ``_endpoint`` column naming the path. A single path or endpoint is
        read as a list of one; default: the base URL itself.
    records_path : str
        Dotted path to the list of records in each response body
        (``"data.items"``); ``""`` is the body itself. Integer parts index
        lists (``"results.0.rows"``); a leading ``$.`` is ignored.
    headers, params : dict
        Non-secret headers and query parameters sent with every request.
    pagination : Pagination
    row_limit : int
    timeout_seconds : float
        Per-request read/write timeout.
    connect_timeout_seconds : float
    verify_tls : bool
        Check the server's certificate (turn off only for a test server).
    """

    base_url: HttpURL
    endpoints: Annotated[
        tuple[Endpoint, ...], BeforeValidator(_endpoint_list), Field(min_length=1), AfterValidator(_distinct_paths)
    ] = (Endpoint(path=""),)
    records_path: RecordsPath = ""
    headers: Headers = Field(default_factory=dict)
    params: QueryParams = Field(default_factory=dict)
    pagination: Pagination = Field(default_factory=lambda: Pagination(type="none"))
    row_limit: RowLimit = DEFAULT_ROW_LIMIT
    timeout_seconds: Seconds = DEFAULT_TIMEOUT_SECONDS
    connect_timeout_seconds: Seconds = DEFAULT_CONNECT_TIMEOUT_SECONDS
    verify_tls: Flag = True

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, defaults filled in."""
        out = self.model_dump(exclude={"endpoints", "pagination"})
        out["endpoints"] = [e.to_dict() for e in self.endpoints]
        out["pagination"] = self.pagination.to_dict()
        return {key: out[key] for key in type(self).model_fields}
