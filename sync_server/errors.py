"""What a request can run into: the server's branch of the one error tree (its root,
`RecapError`, and the core's branch are in `crdt/errors.py`).

    RecapError
    ├── CrdtError ...                 the core's (crdt/errors.py)
    └── ServiceError                  raised by handlers, services, storage and the bridge
        ├── BadRequest            400 a body, query or cursor that cannot be read
        ├── Unauthorized          401 no, a bad or an expired token; wrong credentials
        ├── Forbidden             403 the caller's role or device may not do this
        ├── NotFound              404
        ├── TimedOut              408 a request body that did not arrive in time
        ├── Conflict              409 e.g. an Idempotency-Key reused with another body
        │   ├── TimestampReused       a timestamp already stored with other content
        │   ├── EmailTaken            another account signs in with this email
        │   └── InvalidTransition     a status change no transition allows
        ├── TooLarge              413 a body over the limit, too many messages in one request
        ├── Invalid               422 well-formed but not acceptable (a bad message, a date)
        ├── PreconditionRequired  428 a required If-Match or Idempotency-Key is missing
        ├── RateLimited           429 details: retry_after_s (the message says it in whole
        │                             seconds, as the Retry-After header does)
        ├── UpstreamFailed        502 an outside service failed (airtable.client.AirtableError)
        └── Unavailable           503 the server cannot do it now (database down, busy);
                                      details: retry_after_s

Each class is one HTTP status (`middleware.STATUS`); `code` names the case within it, so a
client can tell `bad_credentials` from `unauthorized` although both are 401. Nothing here
knows about HTTP: the mapping lives in one place, the error middleware.
"""

from __future__ import annotations

import math
from typing import Any

from crdt.errors import RecapError


def whole_seconds(wait: float) -> int:
    """A wait as HTTP's `Retry-After` says it: whole seconds (RFC 9110 allows no
    fraction), rounded up so a client that obeys is not refused again, and at least one
    (0 would invite a retry at once)."""
    return max(1, math.ceil(wait))


class ServiceError(RecapError):
    code = "error"


class BadRequest(ServiceError):
    code = "bad_request"


class Unauthorized(ServiceError):
    code = "unauthorized"
    default_message = "missing or invalid bearer token"


class Forbidden(ServiceError):
    code = "forbidden"
    default_message = "not allowed for this role"


class NotFound(ServiceError):
    code = "not_found"
    default_message = "not found"


class Conflict(ServiceError):
    code = "conflict"


class TimestampReused(Conflict):
    """A pushed message's timestamp is already stored with different content: two edits
    under one identity (a node id used twice, or a clock that went back). Details:
    `timestamp`, and `index` in the request."""

    code = "timestamp_reused"


class InvalidTransition(Conflict):
    """A REST write would move a pre-order's status along no allowed transition
    (`crdt.schema.STATUS_TRANSITIONS`). Details: `status` (the current one), `allowed`."""

    code = "invalid_transition"


class EmailTaken(Conflict):
    """A profile's email (the login email) is another account's. Details: `user_id`."""

    code = "email_taken"


class TimedOut(ServiceError):
    code = "request_timeout"


class TooLarge(ServiceError):
    code = "too_large"


class Invalid(ServiceError):
    code = "invalid"


class PreconditionRequired(ServiceError):
    code = "precondition_required"


class RateLimited(ServiceError):
    """Over a rate (requests per user, failed sign-ins, sign-ups per address). `message`
    says which; the error adds when to retry, in the whole seconds of the `Retry-After`
    header the middleware sets from `retry_after_s` (kept exact in the details, for a
    client that schedules its own retry)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, **details: Any) -> None:
        super().__init__(
            f"{message}; retry in {whole_seconds(retry_after_s)} s",
            retry_after_s=retry_after_s,
            **details,
        )


class UpstreamFailed(ServiceError):
    code = "upstream_failed"


class Unavailable(ServiceError):
    code = "unavailable"
