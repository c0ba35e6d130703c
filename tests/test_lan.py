"""`seedchat ui --lan`: the password made and kept private, the address and its QR code,
failed logins rate-limited per address, the API's key — on 127.0.0.1 through the same
code path (``--lan --host 127.0.0.1``: LAN mode's password, limiter and key, bound to
this machine only; no test sends anything beyond it)."""

from __future__ import annotations

import http.client
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from ports import free_run

from seedchat.errors import SeedchatError
from seedchat.network import is_loopback, lan_address, lan_url
from seedchat.ui.lan import (
    ALPHABET,
    MAX_FAILURES,
    LoginLimiter,
    generate_password,
    lan_password,
    qr_data_uri,
    qr_terminal,
)
from seedchat.ui.launch import AUTH_USER, LaunchOptions, launch
from tests.browser import screenshot

# -- reading QR codes back ------------------------------------------------------------------

# segno's compact terminal drawing: two rows a character, light modules in the text colour
HALVES = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}


def decode_terminal_qr(lines: list[str]) -> str:
    """The text of a QR code drawn by :func:`seedchat.ui.lan.qr_terminal`."""
    from PIL import Image

    rows: list[list[int]] = []
    for line in lines:
        top, bottom = zip(*(HALVES[ch] for ch in line), strict=True)
        rows += [list(top), list(bottom)]
    width = max(len(r) for r in rows)
    scale = 8
    image = Image.new("L", ((width + 8) * scale, (len(rows) + 8) * scale), 255)
    for y, row in enumerate(rows):
        for x, light in enumerate(row):
            if not light:
                image.paste(0, ((x + 4) * scale, (y + 4) * scale, (x + 5) * scale, (y + 5) * scale))
    return decode_image(image)


def decode_image(image) -> str:
    import zxingcpp

    found = zxingcpp.read_barcodes(image)
    assert found, "no QR code found"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def decode_data_uri(uri: str) -> str:
    import base64
    import io

    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    return decode_image(image.convert("L"))


# -- the pieces -----------------------------------------------------------------------------


def test_password_is_made_once_strong_and_private(tmp_path):
    path = tmp_path / "config" / "lan-password"
    made = lan_password(path)
    assert made.new and made.path == path
    assert re.fullmatch(rf"[{ALPHABET}]{{4}}(-[{ALPHABET}]{{4}}){{3}}", made.password)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = lan_password(path)  # kept: the same one, not shown again
    assert again.password == made.password and not again.new
    assert len({generate_password() for _ in range(200)}) == 200


def test_a_password_file_others_can_read_is_made_private(tmp_path, caplog):
    path = tmp_path / "lan-password"
    path.write_text("my-own-pass\n")
    path.chmod(0o644)
    assert lan_password(path).password == "my-own-pass"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "could be read by others" in caplog.text


def test_refuses_to_start_without_a_password_it_can_set(tmp_path, cli_env):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(SeedchatError, match="cannot keep a password"):
        lan_password(blocker / "lan-password")
    with pytest.raises(SeedchatError, match="without a password"):
        launch(None, LaunchOptions(host="127.0.0.1", lan=True), block=False)
    # the command: a config folder that cannot be made stops it before it listens
    home = Path(cli_env["SEEDCHAT_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text("a file where the folder should be")
    proc = subprocess.run(
        [*UI_LAN, "--no-browser"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "running at" not in proc.stdout
    assert "cannot keep a password" in proc.stderr + proc.stdout


def test_the_limiter_counts_per_address_within_its_window():
    now = [1000.0]
    limiter = LoginLimiter(max_failures=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("10.0.0.5") == 0
        limiter.failed("10.0.0.5")
        now[0] += 1
    assert limiter.retry_after("10.0.0.5") == pytest.approx(57)
    assert limiter.retry_after("10.0.0.6") == 0  # another address is not held up
    now[0] += 57
    assert limiter.retry_after("10.0.0.5") == 0  # the first failure left the window
    limiter.failed("10.0.0.5")
    limiter.succeeded("10.0.0.5")
    assert limiter.retry_after("10.0.0.5") == 0


def test_key_and_address_rules():
    lan = LaunchOptions(host="127.0.0.1", password="pw", lan=True)
    assert lan.key == "pw" and lan.serves_api
    assert LaunchOptions(host="127.0.0.1", password="pw", lan=True, api_key="k").key == "k"
    assert LaunchOptions(password="pw").key is None  # not LAN: the API key only
    assert lan_url("127.0.0.1", 7861) == "http://127.0.0.1:7861/"
    try:  # a UDP socket's connect picks a route and sends nothing
        address = lan_address()
    except SeedchatError as err:
        assert "no address on a local network" in str(err)
    else:
        assert not is_loopback(address)
        assert lan_url("0.0.0.0", 7861) == f"http://{address}:7861/"


def test_qr_codes_decode_to_the_address():
    url = "http://192.168.1.20:7860/"
    assert decode_terminal_qr(qr_terminal(url).splitlines()) == url
    assert decode_data_uri(qr_data_uri(url)) == url


# -- the real command on 127.0.0.1 ------------------------------------------------------------


UI_LAN = [sys.executable, "-m", "seedchat", "ui", "--lan", "--host", "127.0.0.1"]


@contextmanager
def lan_ui(cli_env: dict, port: int) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """`seedchat ui --lan --host 127.0.0.1`, until it has printed the password."""
    proc = subprocess.Popen(
        [*UI_LAN, "--port", str(port), "--no-browser"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "The API's key" in line:
                break
        assert any("running at" in line for line in lines), (lines, proc.poll())
        yield proc, lines
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(
    url: str, path: str, body: str | None = None, source: str = "127.0.0.1", key: str = ""
) -> tuple[int, dict[str, str]]:
    """One HTTP request from the local address ``source`` (127.0.0.x: all this machine)."""
    parts = urlparse(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=20, source_address=(source, 0)
    )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request("POST" if body is not None else "GET", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def login_form(password: str) -> str:
    return f"username={AUTH_USER}&password={password}"


def printed(lines: list[str]) -> tuple[str, list[str], str]:
    """(the address, the QR code's lines, the password) as `seedchat ui --lan` printed them."""
    start = next(i for i, line in enumerate(lines) if line.startswith("On a phone"))
    address = re.search(r"http://\S+/", lines[start]).group(0)
    qr = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        qr.append(line)
    said = next(i for i, line in enumerate(lines) if "shown this once" in line)
    password = lines[said + 1].strip()
    return address, qr, password


@pytest.mark.slow
def test_lan_mode_on_loopback(cli_env, browser):
    port = free_run()
    with lan_ui(cli_env, port) as (proc, lines):
        address, qr, password = printed(lines)
        assert address == f"http://127.0.0.1:{port}/"
        assert decode_terminal_qr(qr) == address  # the printed QR code is the address
        kept = Path(cli_env["SEEDCHAT_HOME"]) / "config" / "lan-password"
        assert kept.read_text().strip() == password
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600

        # the page asks for the password; the right one opens it, with the address and
        # its QR code in the Models tab
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(address, wait_until="domcontentloaded")
            page.locator("input[type=password]").wait_for(timeout=30_000)
            assert not page.locator("#chatbot").count()
            page.locator("input[type=text]").first.fill(AUTH_USER)
            page.locator("input[type=password]").fill(password)
            page.locator("input[type=password]").press("Enter")
            page.wait_for_selector("#chatbot", timeout=30_000)
            page.get_by_role("tab", name="Models").click()
            note = page.locator("#phone-address")
            note.get_by_text(address).first.wait_for(timeout=15_000)
            uri = note.locator("img").get_attribute("src")
            assert decode_data_uri(uri) == address
            screenshot(page, "lan-models-tab")
        finally:
            page.close()

        # the API beside the page needs the key (the password) — asked from 127.0.0.3
        assert request(address, "/v1/models", source="127.0.0.3")[0] == 401
        assert request(address, "/v1/models", source="127.0.0.3", key=password)[0] == 200
        # wrong passwords from one address: refused, then rate-limited (the right one too)
        for _ in range(MAX_FAILURES):
            assert request(address, "/login", login_form("wrong"))[0] == 400
        status, headers = request(address, "/login", login_form("wrong"))
        assert status == 429 and int(headers["retry-after"]) > 0
        assert request(address, "/login", login_form(password))[0] == 429
        assert request(address, "/v1/models", key=password)[0] == 429
        # another address is not held up by them
        assert request(address, "/login", login_form(password), source="127.0.0.2")[0] == 200
    stderr = proc.stderr.read()
    assert stderr.count("failed login (wrong password) from 127.0.0.1") == MAX_FAILURES
    assert "failed login (wrong API key) from 127.0.0.3" in stderr
    assert "refused a login from 127.0.0.1: too many failures" in stderr
    assert password not in stderr
