"""The API's two faces put together: :func:`routes` is the one list of what is served
(``/health``, ``/openapi.json``, OpenAI's ``/v1``, Ollama's ``/api``), used by ``seedchat
serve`` (:func:`create_app`) and beside the web page (``seedchat.ui.launch``), so both share
one :class:`~seedchat.engine.host.ModelHost` and answer the same routes. ``/openapi.json``
describes them all (:func:`seedchat.api.schema.openapi_document`), built once when first
asked.
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route

from seedchat import __version__
from seedchat.api.calls import ApiOptions
from seedchat.api.guard import LOOPBACK_NAMES, Guard
from seedchat.api.ollama import create_ollama_api
from seedchat.api.openai import create_api
from seedchat.api.schema import Health, openapi_document
from seedchat.engine.host import ModelHost

_TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def routes(
    host: ModelHost, options: ApiOptions | None = None, root: bool = False
) -> list[BaseRoute]:
    """``/health``, ``/openapi.json``, ``/v1`` and ``/api`` over ``host``: what every listener
    of seedchat's API serves (``root``: also ``/``, Ollama's probe, for ``seedchat serve``)."""
    top = APIRouter()
    top.add_api_route(
        "/health",
        lambda: health(host),
        methods=["GET"],
        name="health",
        response_model=None,
        responses={200: {"model": Health}, 503: {"model": Health, "description": "No model yet."}},
    )
    for method in ("GET", "HEAD") if root else ():
        top.add_api_route(
            "/",
            running,
            methods=[method],
            operation_id=f"running_{method.lower()}",
            response_class=PlainTextResponse,
            responses={200: _TEXT},
        )
    mounted = {"/v1": create_api(host, options), "/api": create_ollama_api(host, options)}

    @cache
    def document() -> dict:
        keyed = options is not None and options.api_key is not None
        return openapi_document("seedchat", __version__, list(top.routes), mounted, keyed)

    def openapi(_request: Request) -> JSONResponse:
        return JSONResponse(document())

    return [
        *top.routes,
        Route("/openapi.json", openapi, methods=["GET"]),
        *(Mount(prefix, app=app) for prefix, app in mounted.items()),
    ]


def health(host: ModelHost) -> JSONResponse:
    """``GET /health``: 200 with the model once it is loaded, else 503 and why."""
    if host.loading is not None:
        loading = getattr(host.loading, "name", host.loading)
        return JSONResponse({"status": "loading", "model": str(loading)}, status_code=503)
    if host.model_id is None:
        return JSONResponse({"status": "no model", "error": host.error}, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "model": host.model_id,
            "busy": host.busy,
            "waiting": host.turns.waiting,
        }
    )


def create_app(
    host: ModelHost, options: ApiOptions | None = None, names: frozenset[str] = LOOPBACK_NAMES
) -> FastAPI:
    """The whole API server (``seedchat serve``): ``/``, and :func:`routes`, behind the
    :class:`~seedchat.api.guard.Guard` (``names``: the Host names it answers to, from
    :func:`~seedchat.api.guard.listener_names`; the origins the options allow may write)."""
    app = FastAPI(title="seedchat", docs_url=None, redoc_url=None, openapi_url=None)
    app.router.routes.extend(routes(host, options, root=True))
    origins = options.cors_origins if options is not None else ()
    app.add_middleware(Guard, names=names, origins=origins)
    return app


def running() -> str:
    """``GET /``: what Ollama's clients probe for before they use ``/api``."""
    return "Ollama is running (seedchat: Ollama's API at /api, OpenAI's at /v1)"
