"""Dependencies of the routes: the caller's principal from its API key, with the key's rate limit.

Every resource route depends on :func:`principal`. It reads
``Authorization: Bearer aihub_...``, turns it into a
:class:`~aihub.auth.Principal` (:func:`aihub.apikeys.authenticate`: the key's
tenant, the user it acts for, its scopes), takes one token from the key's
bucket and counts the request on the key. The services then check the
permission (role and scope) and run under the tenant's row-level security, so
no route decides who may see what.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aihub import apikeys
from aihub.auth import Principal
from aihub.errors import AihubError, PermissionDenied

bearer = HTTPBearer(auto_error=False, bearerFormat="aihub_<key id>_<secret>",
                    description="An API key of your organization, created on the Admin screen or with "
                                "`aihub api-keys create`.")


class RateLimited(AihubError):
    """The key sent more requests than its rate limit allows; ``details['retry_after']`` in seconds."""

    code = "rate_limited"


def principal(request: Request,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The principal of the request's API key.

    Raises
    ------
    PermissionDenied
        401 codes: ``missing_api_key``, ``invalid_api_key``, ``api_key_revoked``, ``api_key_expired``,
        ``api_key_user_inactive``.
    RateLimited
        429 when the key's bucket is empty.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise PermissionDenied("This endpoint needs an API key: send 'Authorization: Bearer aihub_...'.",
                               code="missing_api_key")
    p = apikeys.authenticate(credentials.credentials)
    request.state.api_key_id = p.api_key_id
    decision = request.app.state.limiter.hit(p.api_key_id)
    request.state.ratelimit = decision
    if not decision.allowed:
        raise RateLimited(f"Too many requests for this API key; retry in {decision.retry_after} s.",
                          details={"retry_after": decision.retry_after})
    apikeys.record_use(p)
    return p


Caller = Annotated[Principal, Depends(principal)]
