"""``Idempotency-Key`` on POSTs that create things (IETF draft "The Idempotency-Key HTTP Header Field").

A route that creates something runs its work through :meth:`Idempotency.run`
with a fingerprint of what it was asked (the parsed fields, a file's
SHA-256). With no header the work just runs. With one:

* a new key: the work runs and its reply (status, body, ``Location``) is kept
  for 24 hours; a reply that is an error is not kept, so a retry runs again;
* the same key and the same request again: the kept reply is returned with
  ``Idempotent-Replayed: true``; nothing is trained or predicted twice;
* the same key while the first request is still being answered: 409;
* the same key with a different request: 422 (``idempotency_key_reused``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import Response

from aihub import apikeys
from aihub.api.deps import Caller
from aihub.errors import Conflict, ValidationError


class Idempotency:
    """The ``Idempotency-Key`` of one request and the principal whose key it belongs to."""

    def __init__(self, principal, key: str | None) -> None:
        self.principal, self.key = principal, key

    def run(self, route: str, fingerprint: Any, work: Callable[[], Response]) -> Response:
        """Run ``work`` once per key; replay its reply for a retry of the same request.

        Parameters
        ----------
        route : str
            The operation ("POST /datasets"), part of the request hash.
        fingerprint : JSON-able
            What the request asked for (fields, file hashes).
        work : callable
            Does the work and returns the response to keep.
        """
        if self.key is None:
            return work()
        digest = hashlib.sha256(json.dumps([route, fingerprint], sort_keys=True, default=str).encode()).hexdigest()
        earlier = apikeys.claim_idempotency(self.principal, self.key, digest)
        if earlier is not None:
            if earlier.request_hash != digest:
                raise ValidationError("This Idempotency-Key was already used for a different request; use a new key.",
                                      code="idempotency_key_reused", field="Idempotency-Key")
            if earlier.status_code is None:
                raise Conflict("A request with this Idempotency-Key is still being answered; retry shortly.",
                               code="idempotency_in_progress", field="Idempotency-Key")
            headers = {"Idempotent-Replayed": "true"}
            if earlier.location:
                headers["Location"] = earlier.location
            return Response(earlier.response or b"", status_code=earlier.status_code,
                            media_type=earlier.content_type, headers=headers)
        try:
            response = work()
        except BaseException:
            apikeys.release_idempotency(self.principal, self.key)
            raise
        apikeys.store_idempotent_reply(self.principal, self.key, status_code=response.status_code,
                                       body=bytes(response.body), content_type=response.media_type,
                                       location=response.headers.get("location"))
        return response


def idempotency(principal: Caller,
                idempotency_key: Annotated[str | None, Header(
                    max_length=200, description="Any unique text (a UUID); a retried request with the same key "
                                                "is answered from the first one and does no work twice.")] = None
                ) -> Idempotency:
    """The request's :class:`Idempotency` helper."""
    return Idempotency(principal, idempotency_key)


Idem = Annotated[Idempotency, Depends(idempotency)]
