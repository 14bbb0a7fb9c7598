"""Bearer-token checks: every data route and the event stream; constant-time comparison."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status


def check_token(request: Request) -> None:
    """A FastAPI dependency: 401 unless the request carries the server's token (when it has one)."""
    expected: str | None = request.app.state.settings.token
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="This server needs its API token: send `Authorization: Bearer TOKEN`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
