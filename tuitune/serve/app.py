"""The FastAPI application: routes, token checks, request limits, the live stream and the dashboard."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from tuitune import __version__
from tuitune.serve import errors
from tuitune.serve.auth import check_token
from tuitune.serve.origin import RequestHost, check_same_site
from tuitune.serve.routes import chat, compare, configs, export_choices, jobs, machine, preflight, runs
from tuitune.serve.routes.refusals import CHECKED, error_schemas, refusals
from tuitune.serve.settings import ServeSettings
from tuitune.serve.stream import StreamHub
from tuitune.serve.tasks import Tasks

STATIC = resources.files("tuitune.serve") / "static"


class BodyLimit:
    """Refuse a request body over `limit` bytes (413) before it is read into memory."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = JSONResponse(
            {
                "detail": f"The request body is over {self.limit:,} bytes, more than this server reads in one request: "
                "send less (a run configuration is a few KB).",
                "error": "TooLarge",
            },
            status_code=413,
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


# Every response: never framed by another site, content types taken as declared.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((n, v) for n, v in SECURITY_HEADERS if n not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class Service(FastAPI):
    """The application, whose `/openapi.json` also holds the error document every route's
    refusals point to (they name it rather than carry it: see `routes/refusals.py`)."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(error_schemas())
        return super().openapi()


class Health(BaseModel):
    """`GET /health`: says nothing about runs, so it answers without the token."""

    ok: bool
    version: str
    token_required: bool = Field(description="Every other route wants `Authorization: Bearer TOKEN`.")


def _api_docs(app: FastAPI) -> None:
    """`/docs`: Swagger UI 5 from swagger-ui-py's files, not from a CDN, so the page works on a GPU
    box with no internet (FastAPI's default page loads its script from jsdelivr)."""
    # Only its files are needed: the package itself (and its web framework glue) is never imported.
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None and spec.submodule_search_locations, "swagger-ui-py is a dependency"
    swagger_ui_path = Path(next(iter(spec.submodule_search_locations))) / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="tuitune API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The service for `settings` (default: loopback, no token, the current folder and TUITUNE_HOME)."""
    settings = settings or ServeSettings()
    hub = StreamHub(settings.poll_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        yield
        await hub.stop()
        # Child processes a route started on demand (the probe, chat models) end with the server.
        for close in app.state.closers:
            close()

    app = Service(
        title="tuitune",
        version=__version__,
        description="Fine-tune language models: start, watch and manage runs. The same store as the CLI and the terminal app.",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copy of Swagger UI
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.hub = hub
    app.state.tasks = Tasks()
    app.state.closers = []  # callables run at shutdown: see lifespan
    errors.install(app)
    protected = [Depends(check_token), Depends(check_same_site)]
    # What those checks (and the Host check, `RequestHost`) may refuse, on every route they guard.
    checked = refusals(*CHECKED)
    app.include_router(runs.router, dependencies=protected, responses=checked)
    app.include_router(machine.router, dependencies=protected, responses=checked)
    app.include_router(jobs.router, dependencies=protected, responses=checked)
    app.include_router(configs.router, dependencies=protected, responses=checked)
    app.include_router(preflight.router, dependencies=protected, responses=checked)
    app.include_router(compare.router, dependencies=protected, responses=checked)
    app.include_router(chat.router, dependencies=protected, responses=checked)
    app.include_router(export_choices.router, dependencies=protected, responses=checked)

    @app.get(
        "/health",
        summary="Is the server up (no token needed: a load balancer or a test may ask)",
        responses=refusals(400),  # only the Host check stands before it
    )
    def health() -> Health:
        return Health(ok=True, version=__version__, token_required=settings.token is not None)

    # The dashboard's files hold no data (the page asks for the token and calls the API with it).
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    # The pages are not part of the API: left out of /openapi.json.
    @app.get("/", include_in_schema=False, response_class=FileResponse)
    def dashboard() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/dashboard", include_in_schema=False, response_class=RedirectResponse)
    def job_service_dashboard() -> RedirectResponse:
        # The job service's address for the page; like the page, it asks for no token.
        return RedirectResponse("/")

    _api_docs(app)

    app.add_middleware(RequestHost, settings=settings)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
