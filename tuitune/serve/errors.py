"""Every `TuituneError` becomes a 4xx with the same words the CLI prints."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tuitune.errors import (
    ConfigError,
    DataError,
    DiskFullError,
    RunNotFoundError,
    RunStateError,
    StoreError,
    TuituneError,
    UsageError,
)

# Most specific first.
_STATUS: tuple[tuple[type[TuituneError], int], ...] = (
    (RunNotFoundError, 404),
    (RunStateError, 409),
    (ConfigError, 422),
    (UsageError, 422),
    (DataError, 422),
    (DiskFullError, 507),
    (StoreError, 503),
)


def status_for(error: TuituneError) -> int:
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 400)


def error_body(error: TuituneError) -> dict[str, object]:
    body: dict[str, object] = {"detail": str(error), "error": type(error).__name__}
    field = getattr(error, "field", None)
    if field:
        body["field"] = field
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(TuituneError)
    async def _tuitune_error(request: Request, error: TuituneError) -> JSONResponse:
        return JSONResponse(error_body(error), status_code=status_for(error))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", "invalid request"))
        return JSONResponse({"detail": message, "error": "InvalidRequest", "field": where or None}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # A bug, not the client's fault: one line of JSON for the client, the traceback in the server's log.
        return JSONResponse(
            {
                "detail": f"The server failed on this request ({type(error).__name__}): its log has the details; "
                "please report it.",
                "error": "InternalError",
            },
            status_code=500,
        )
