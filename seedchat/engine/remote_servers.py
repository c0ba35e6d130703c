"""OpenAI-compatible servers seedchat can use: their address and key, what each kind does,
and the servers a user saved.

A server's kind is read from its ``/v1/models`` answer: a seedchat server marks its models
(``seedchat``), vLLM owns them as ``vllm``, llama.cpp's server as ``llamacpp``,
llama-cpp-python's server as ``me``. The kind says what seedchat can rely on
(:class:`ServerFeatures`): whether the server renders the thinking budget into Seed's
template (``chat_template_kwargs``), keeps it itself, and counts thinking tokens exactly.

Saved servers live in the settings file (``servers``: name and URL). Their keys go to the
OS keyring (``keyring``) where one works, else into the settings file, which is then made
readable by its owner only (0600); a key is never shown back in full (:func:`masked`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

from seedchat.errors import EngineError, SettingsError
from seedchat.settings import Settings

log = logging.getLogger(__name__)

KEYRING_SERVICE = "seedchat"
ENGINE_KEY_ENV = "SEEDCHAT_ENGINE_KEY"  # a remote server's key, for --engine-url
PROBE_TIMEOUT = httpx.Timeout(10.0)


@dataclass(frozen=True)
class RemoteServer:
    """An OpenAI-compatible server: its base URL (with or without ``/v1``), key, name."""

    url: str
    api_key: str | None = None
    name: str = ""

    @property
    def base_url(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"

    @property
    def label(self) -> str:
        return self.name or urlparse(self.base_url).netloc or self.url


@dataclass(frozen=True)
class ServerFeatures:
    kind: str
    renders_budget: bool = True  # reads chat_template_kwargs.thinking_budget
    enforces_budget: bool = False  # cuts thinking at the budget itself
    exact_counts: bool = False  # sends true thinking counts while streaming


KINDS = {
    "seedchat": ServerFeatures("seedchat", enforces_budget=True, exact_counts=True),
    "vllm": ServerFeatures("vLLM"),
    "llamacpp": ServerFeatures("llama.cpp server"),
    "me": ServerFeatures("llama-cpp-python server", renders_budget=False),
}
OTHER = ServerFeatures("OpenAI-compatible server")


@dataclass(frozen=True)
class ServerModel:
    id: str
    features: ServerFeatures


def _kind(entry: dict[str, Any]) -> ServerFeatures:
    if "seedchat" in entry:
        return KINDS["seedchat"]
    return KINDS.get(str(entry.get("owned_by", "")).lower(), OTHER)


def list_server_models(server: RemoteServer) -> list[ServerModel]:
    """The models a server offers; EngineError when it cannot be reached or refuses."""
    headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
    try:
        reply = httpx.get(server.base_url + "/models", headers=headers, timeout=PROBE_TIMEOUT)
    except httpx.ConnectError as exc:
        raise EngineError(
            f"Cannot reach the server at {server.base_url} ({exc}).",
            hint="Is it running? Check the address: seedchat needs its OpenAI-compatible "
            "base, e.g. http://host:8000/v1.",
        ) from exc
    except httpx.HTTPError as exc:
        raise EngineError(f"The server at {server.base_url} did not answer: {exc}.") from exc
    if reply.status_code in (401, 403):
        raise EngineError(
            f"{server.label} refused the API key ({reply.status_code}).",
            hint="Check the key given for this server.",
        )
    if reply.status_code >= 400:
        raise EngineError(
            f"{server.base_url}/models answered {reply.status_code}: is it an OpenAI-compatible "
            "server?",
            hint="Give the server's base address, e.g. http://host:8000/v1.",
        )
    try:
        data = reply.json().get("data") or []
    except (ValueError, AttributeError) as exc:
        raise EngineError(f"{server.base_url}/models did not answer in JSON.") from exc
    return [ServerModel(str(e.get("id")), _kind(e)) for e in data if e.get("id")]


# -- saved servers -------------------------------------------------------------------------


def masked(key: str | None) -> str:
    """A key as it may be shown: its last four characters only."""
    if not key:
        return "none"
    return "…" + key[-4:] if len(key) > 8 else "set"


def _keyring() -> Any:
    try:
        import keyring  # optional: the OS keyring where one works
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
        if backend.priority <= 0:  # the fail/null backends of a machine without a keyring
            return None
    except (KeyringError, RuntimeError):
        return None
    return keyring


def saved_servers(settings: Settings) -> list[RemoteServer]:
    """The servers the user added, with their keys."""
    servers = []
    for entry in settings.get("servers"):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("url"):
            log.warning("ignoring a saved server without a name and a URL: %r", entry)
            continue
        key = entry.get("key")
        ring = _keyring() if entry.get("keyring") else None
        if ring is not None:
            with contextlib.suppress(Exception):
                key = ring.get_password(KEYRING_SERVICE, entry["name"])
        servers.append(RemoteServer(entry["url"], key, entry["name"]))
    return servers


def save_server(settings: Settings, server: RemoteServer) -> str:
    """Add (or replace, by name) a server; returns where its key went."""
    if not server.name.strip() or not server.url.strip():
        raise SettingsError("A server needs a name and a URL.")
    entry: dict[str, Any] = {"name": server.name.strip(), "url": server.url.strip()}
    where = "no key"
    if server.api_key:
        ring = _keyring()
        if ring is not None:
            ring.set_password(KEYRING_SERVICE, entry["name"], server.api_key)
            entry["keyring"], where = True, "the OS keyring"
        else:
            entry["key"], where = server.api_key, "the settings file (readable by you only)"
    others = [e for e in settings.get("servers") if e.get("name") != entry["name"]]
    settings.set("servers", [*others, entry])
    path = settings.save()
    if any(e.get("key") for e in settings.get("servers")):
        os.chmod(path, 0o600)
    return where


def forget_server(settings: Settings, name: str) -> None:
    settings.set("servers", [e for e in settings.get("servers") if e.get("name") != name])
    settings.save()
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):
            ring.delete_password(KEYRING_SERVICE, name)
