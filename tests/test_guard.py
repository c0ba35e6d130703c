"""Who may talk to seedchat's listeners (issue 30): raw HTTP with explicit ``Host`` and
``Origin`` headers against real servers on loopback — the page (with ``/v1`` and ``/api``
beside it), ``seedchat serve`` (in-process and the real command), and ``--lan`` on
127.0.0.1 — as a DNS-rebinding page or another site's page would ask."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import worker_port

from seedchat.api.app import create_app
from seedchat.api.calls import ApiOptions
from seedchat.api.guard import Guard, listener_names, split_host
from seedchat.api.serve import ApiServer
from seedchat.engine.host import ModelHost
from seedchat.models import demo_model
from seedchat.network import find_free_port
from seedchat.settings import load_settings
from seedchat.ui.lan import lan_password
from tests.browser import running_app

pytestmark = pytest.mark.slow

FOREIGN = "attacker.example"
ALLOWED = "seedchat.test"  # in the allowed_hosts setting of the page and `seedchat serve`
PAGE_PATHS = ("/", "/config", "/gradio_api/info", "/v1/models", "/api/tags")


def call(
    port: int,
    path: str,
    host: str | None = None,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
    address: str = "127.0.0.1",
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], str]:
    """One raw request to ``address:port`` whose Host header is ``host`` (default: the
    address and port); (status, headers, the start of the body)."""
    family_source = ("::1", 0) if ":" in address else (source, 0)
    conn = http.client.HTTPConnection(address, port, timeout=30, source_address=family_source)
    shown = f"[{address}]" if ":" in address else address
    sent = {"Host": f"{shown}:{port}" if host is None else host, **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        # an event stream never ends: its status is enough
        streams = "event-stream" in resp.getheader("content-type", "")
        text = b"" if streams else resp.read()
        return (
            resp.status,
            {k.lower(): v for k, v in resp.getheaders()},
            text.decode(errors="replace"),
        )
    finally:
        conn.close()


def status(*args, **kwargs) -> int:
    return call(*args, **kwargs)[0]


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def home_with(tmp: Path, settings: dict) -> Path:
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    (tmp / "config" / "settings.json").write_text(json.dumps(settings))
    return tmp


# -- the rules --------------------------------------------------------------------------------


def test_host_names_and_the_names_a_listener_answers_to():
    assert split_host("[::1]:7860") == ("::1", 7860)
    assert split_host("LocalHost.:80") == ("localhost", 80)
    assert split_host("127.0.0.1") == ("127.0.0.1", None)
    assert split_host("::1") == ("::1", None)  # a setting may name IPv6 without brackets
    loopback = listener_names("127.0.0.1")
    assert loopback == {"127.0.0.1", "localhost", "::1"}
    named = listener_names("192.168.1.20", ["Chat.LAN", 42, " "])  # a bad entry is skipped
    assert named == loopback | {"192.168.1.20", "chat.lan"}
    assert "attacker.example" not in listener_names("0.0.0.0", ["chat.lan"])


def test_a_websocket_from_another_site_is_closed_before_it_is_accepted():
    """The websocket scope (uvicorn here has no websocket library, so it is driven as ASGI):
    a foreign Host or Origin is closed with 1008 before the app sees it; our own passes."""
    import asyncio

    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    async def run(host: str, origin: str) -> list[dict]:
        sent: list[dict] = []

        async def receive():
            return {"type": "websocket.connect"}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "websocket",
            "scheme": "ws",
            "path": "/ws",
            "headers": [(b"host", host.encode()), (b"origin", origin.encode())],
        }
        await Guard(app)(scope, receive, send)
        return sent

    for host, origin in (
        (f"{FOREIGN}:7860", f"http://{FOREIGN}:7860"),
        ("127.0.0.1:7860", "https://evil.example"),
        ("127.0.0.1:7860", "http://localhost:3000"),  # another local site
    ):
        sent = asyncio.run(run(host, origin))
        assert sent and sent[0]["type"] == "websocket.close" and sent[0]["code"] == 1008
    assert reached == []
    assert asyncio.run(run("127.0.0.1:7860", "http://127.0.0.1:7860")) == []
    assert reached == ["/ws"]


# -- the page, /v1 and /api beside it -----------------------------------------------------------


@pytest.fixture(scope="module")
def page_port(tmp_path_factory) -> Iterator[int]:
    home = home_with(tmp_path_factory.mktemp("guard-home"), {"allowed_hosts": [ALLOWED]})
    with running_app(home, port=17950) as app:
        yield port_of(app.url)


def test_the_page_answers_only_to_its_own_names(page_port, caplog):
    port = page_port
    for path in PAGE_PATHS:
        code, headers, text = call(port, path, host=f"{FOREIGN}:{port}")
        assert code == 403, path
        assert headers["content-type"].startswith("text/plain")
        assert "not a name it answers to" in text and "allowed_hosts" in text
        for name in ("127.0.0.1", "localhost", "[::1]", ALLOWED):
            assert status(port, path, host=f"{name}:{port}") == 200, (path, name)
    assert status(port, "/config", host="LOCALHOST") == 200  # any case, no port
    assert status(port, "/config", host="") == 403  # no Host at all
    # logged once per name, however often it is tried
    refused = [r for r in caplog.records if "refused a request for host" in r.getMessage()]
    assert len([r for r in refused if FOREIGN in r.getMessage()]) == 1


def test_the_page_refuses_writes_from_another_sites_page(page_port):
    port = page_port
    own = {"Origin": f"http://127.0.0.1:{port}"}
    for origin in ("https://evil.example", "null", f"http://localhost:{port + 1}"):
        theirs = {"Origin": origin}
        for path in ("/gradio_api/queue/join", "/gradio_api/upload", "/api/show"):
            code, _, text = call(port, path, method="POST", body="{}", headers=theirs)
            assert code == 403 and "another site" in text, (path, origin)
        assert status(port, "/gradio_api/cancel", method="POST", body="{}", headers=theirs) == 403
    # the same requests from the page itself (or with no Origin, as a script) go through
    for headers in (own, {}):
        assert (
            status(port, "/gradio_api/queue/join", method="POST", body="{}", headers=headers) == 422
        )
        assert status(port, "/gradio_api/cancel", method="POST", body="{}", headers=headers) == 422
    # reading is not a write: another site's GET reaches the route (CORS keeps its answer
    # from that site's script)
    assert status(port, "/config", headers={"Origin": "https://evil.example"}) == 200
    # a websocket asked from another site is refused; from the page it reaches the routes
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    theirs = {**upgrade, "Origin": "https://evil.example"}
    assert status(port, "/gradio_api/queue/data", headers=theirs) == 403
    assert status(port, "/gradio_api/queue/data", headers={**upgrade, **own}) != 403


# -- seedchat serve ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_host() -> Iterator[ModelHost]:
    host = ModelHost(load_settings())
    host.load(demo_model(), remember=False, n_gpu_layers=0, context_length=2048)
    yield host
    host.unload()


def serve_paths() -> tuple[str, ...]:
    return ("/", "/health", "/v1/models", "/api/tags", "/api/version")


def test_the_api_server_answers_only_to_its_names_and_pages(model_host):
    options = ApiOptions(cors_origins=("https://app.example",))
    names = listener_names("127.0.0.1", [ALLOWED])
    server = ApiServer(
        create_app(model_host, options, names),
        "127.0.0.1",
        find_free_port("127.0.0.1", worker_port(18450)),
    )
    server.start()
    try:
        port = server.port
        for path in serve_paths():
            assert status(port, path, host=f"{FOREIGN}:{port}") == 403, path
            for name in ("127.0.0.1", "localhost", "[::1]", ALLOWED):
                assert status(port, path, host=f"{name}:{port}") == 200, (path, name)
        show = json.dumps({"model": model_host.model_id})
        for origin, want in (
            ("https://evil.example", 403),
            (f"http://127.0.0.1:{port}", 200),
            ("https://app.example", 200),  # listed with --cors-origin
            (None, 200),  # a client that is not a browser
        ):
            headers = {"Origin": origin} if origin else {}
            assert status(port, "/api/show", method="POST", body=show, headers=headers) == want
    finally:
        server.close()


def test_the_api_server_on_ipv6_loopback(model_host):
    names = listener_names("::1")
    try:
        port = find_free_port("::1", worker_port(18480))
    except Exception as exc:  # no IPv6 on this machine: said, not silently passed
        pytest.skip(f"this machine cannot listen on ::1: {exc}")
    server = ApiServer(create_app(model_host, None, names), "::1", port)
    server.start()
    try:
        assert status(port, "/v1/models", address="::1") == 200  # Host: [::1]:port
        assert status(port, "/v1/models", address="::1", host=f"{FOREIGN}:{port}") == 403
    finally:
        server.close()


def test_seedchat_serve_checks_host_and_origin(cli_env):
    home = Path(cli_env["SEEDCHAT_HOME"])
    home_with(home, {"allowed_hosts": [ALLOWED]})
    port = find_free_port("127.0.0.1", worker_port(18500))
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedchat", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if status(port, "/health") == 200:
                    break
            except OSError:
                time.sleep(0.2)
        for path in serve_paths():
            code, _, text = call(port, path, host=f"{FOREIGN}:{port}")
            assert code == 403 and FOREIGN in text, path
            assert status(port, path, host=f"{ALLOWED}:{port}") == 200, path
            assert status(port, path, host=f"localhost:{port}") == 200, path
        body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "Hi"}]})
        theirs = {"Origin": "https://evil.example"}
        code = status(port, "/v1/chat/completions", method="POST", body=body, headers=theirs)
        assert code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert err.count(f"refused a request for host '{FOREIGN}:{port}'") == 1


# -- LAN mode on loopback: the password on every transport ------------------------------------

GUARDED = (  # (method, path): every transport of the page, each needs the session
    ("GET", "/config"),
    ("GET", "/gradio_api/info"),
    ("POST", "/gradio_api/queue/join"),
    ("GET", "/gradio_api/queue/data?session_hash=x"),
    ("GET", "/gradio_api/heartbeat/x"),
    ("POST", "/gradio_api/cancel"),
    ("POST", "/gradio_api/reset"),
    ("POST", "/gradio_api/upload"),
    ("GET", "/gradio_api/file=/etc/hostname"),
    ("POST", "/gradio_api/stream/x"),
    ("GET", "/gradio_api/runs"),
    ("GET", "/health"),
)
KEYED = ("/v1/models", "/api/tags", "/api/version")


def login(port: int, password: str, source: str = "127.0.0.1") -> tuple[int, str]:
    """(status, the Cookie header of the session it opened)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request(
            "POST",
            "/login",
            body=f"username=seedchat&password={password}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    cookies = [v.split(";", 1)[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"]
    return resp.status, "; ".join(cookies)


def test_lan_mode_asks_for_the_password_on_every_transport(tmp_path_factory):
    from seedchat.ui.launch import LaunchOptions, start

    home = tmp_path_factory.mktemp("lan-home")
    kept = lan_password(home / "config" / "lan-password")
    old = os.environ.get("SEEDCHAT_HOME")
    os.environ["SEEDCHAT_HOME"] = str(home)
    try:
        running = start(
            LaunchOptions(
                host="127.0.0.1",
                port=find_free_port("127.0.0.1", worker_port(17990)),
                open_browser=False,
                password=kept.password,
                password_file=kept.path,
                lan=True,
            ),
            block=False,
        )
    finally:
        os.environ["SEEDCHAT_HOME"] = old or ""
    port = port_of(running.url)
    try:
        check_lan(port, kept.password, kept.path)
    finally:
        running.close()


def check_lan(port: int, password: str, path: Path) -> None:
    bearer = {"Authorization": f"Bearer {password}"}
    # a foreign Host is refused before anything else, password or not
    for p in PAGE_PATHS:
        assert status(port, p, host=f"{FOREIGN}:{port}", headers=bearer) == 403, p
    # without the password: the login page, and nothing else
    code, _, text = call(port, "/")
    assert code == 200 and '"auth_required":true' in text.replace(" ", "")
    for method, p in GUARDED:
        body = "{}" if method == "POST" else None
        assert status(port, p, method=method, body=body) == 401, p
    for p in KEYED:
        assert status(port, p, source="127.0.0.2") == 401, p
    # with the session (gradio's cookie) or the key
    code, cookie = login(port, password)
    assert code == 200 and cookie
    session = {"Cookie": cookie}
    for p in ("/config", "/gradio_api/info", "/gradio_api/heartbeat/x"):
        assert status(port, p, headers=session) == 200, p
    assert status(port, "/health", headers=bearer) != 401
    for p in KEYED:
        assert status(port, p, headers=bearer) == 200, p
    # a new password written to the file: the old session and the old password are done
    new = "new-pass-word-1234"
    path.write_text(new + "\n")
    for p in ("/config", "/gradio_api/heartbeat/x", "/gradio_api/info"):
        assert status(port, p, headers=session) == 401, p
    assert status(port, "/v1/models", headers=bearer, source="127.0.0.3") == 401
    assert status(port, "/v1/models", headers={"Authorization": f"Bearer {new}"}) == 200
    assert login(port, password, source="127.0.0.4")[0] == 400
    code, cookie = login(port, new)
    assert code == 200
    assert status(port, "/config", headers={"Cookie": cookie}) == 200
