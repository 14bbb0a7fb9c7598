"""The error answers a route may give, for `/openapi.json`: each is an `ErrorDocument` (the
handlers in `serve/errors.py` and the checks in `auth.py`, `origin.py` and `app.py` write them),
and each status says here, once, when it comes.

A route lists the statuses it can give (`responses=refusals(404, 409, 422)`); those every route of
a router can give are declared where the router is included, beside the checks that give them.
Declaring 422 also keeps FastAPI from describing it as its own validation error, which this
service never sends. The content is written out rather than given as a `model`: FastAPI would file
an error of a text or stream route under that route's media type, but every error is JSON; so the
document's schema is added to the components once (`error_schemas`, read by `serve/app.py`).
"""

from __future__ import annotations

from typing import Any

from tuitune.runs.documents import ErrorDocument

WHEN: dict[int, str] = {
    400: "Refused: the request names a host this server does not answer to (`--allowed-host`).",
    401: "This server has an API token and the request did not carry it: send `Authorization: Bearer TOKEN`.",
    403: "A request another web site could have sent: an Origin not this server's own, or a write without a "
    "JSON body or the `X-Tuitune-Client` header.",
    404: "No such run (or job, or task).",
    409: "The run's state does not allow it now (it is active, or not waiting, or already ended; or too many "
    "background tasks run).",
    413: "The request body is too large.",
    422: "The request is not valid (a parameter, the body, or the run configuration in it), or asks for what "
    "this server was not started to allow: `detail` says what to change, `field` where.",
    503: "The run store cannot be used now (busy, read-only or damaged): `detail` says what to do.",
    507: "The disk holding the run store is full.",
}

# What the token and same-site checks (and the Host check before them) can refuse on any data route.
CHECKED = (400, 401, 403)
# A route that reads the store.
STORE = (503,)
# A route that writes to the store: more than a reading one can go wrong.
WRITES = (503, 507)


ERROR_CONTENT = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ErrorDocument.__name__}"}}}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the error statuses `codes`: when each comes, and the error document."""
    return {code: {"description": WHEN[code], "content": ERROR_CONTENT} for code in sorted(set(codes))}


def error_schemas() -> dict[str, Any]:
    """The components `refusals` point to: the error document's schema, by its name."""
    return {ErrorDocument.__name__: ErrorDocument.model_json_schema(mode="serialization")}
