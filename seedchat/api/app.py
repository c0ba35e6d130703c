"""The API's two faces put together: :func:`routes` is the one list of what is served
(``/health``, OpenAI's ``/v1``, Ollama's ``/api``), used by ``seedchat serve``
(:func:`create_app`) and beside the web page (``seedchat.ui.launch``), so both share one
:class:`~seedchat.engine.host.ModelHost` and answer the same routes.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Mount, Route

from seedchat.api.calls import ApiOptions
from seedchat.api.guard import LOOPBACK_NAMES, Guard
from seedchat.api.ollama import create_ollama_api
from seedchat.api.openai import create_api
from seedchat.engine.host import ModelHost


def routes(host: ModelHost, options: ApiOptions | None = None) -> list[BaseRoute]:
    """``/health``, ``/v1`` and ``/api`` over ``host``: what every listener of seedchat's
    API serves."""
    return [
        Route("/health", lambda _request: health(host), methods=["GET"]),
        Mount("/v1", app=create_api(host, options)),
        Mount("/api", app=create_ollama_api(host, options)),
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
    app.add_api_route("/", running, methods=["GET", "HEAD"])
    app.router.routes.extend(routes(host, options))
    origins = options.cors_origins if options is not None else ()
    app.add_middleware(Guard, names=names, origins=origins)
    return app


def running() -> PlainTextResponse:
    """``GET /``: what Ollama's clients probe for before they use ``/api``."""
    return PlainTextResponse("Ollama is running (seedchat: Ollama's API at /api, OpenAI's at /v1)")
