"""Addresses and ports: what counts as this machine only, and finding a free port."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket

from seedchat.errors import SeedchatError

log = logging.getLogger(__name__)

PORT_TRIES = 100


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``port`` now. As servers do (SO_REUSEADDR), a port
    whose last connections are still closing (TIME_WAIT) counts as free; one with a
    listener does not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # on Windows the option would let two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str, start: int, tries: int = PORT_TRIES) -> int:
    """``start`` if it is free on ``host``, else the next free port after it."""
    for port in range(start, min(start + tries, 65536)):
        if port_is_free(host, port):
            if port != start:
                log.info("port %d is taken, using %d", start, port)
            return port
    raise SeedchatError(
        f"No free port between {start} and {min(start + tries, 65536) - 1} on {host}.",
        hint="Close another app or choose a port with --port.",
    )


def browser_url(host: str, port: int) -> str:
    """The address to open for a server listening on ``host``: a wildcard address is
    reached through 127.0.0.1."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


WILDCARDS = ("0.0.0.0", "::", "")


def lan_address() -> str:
    """This machine's address on the local network (IPv4): the one its default route
    leaves from. A UDP socket's connect only picks the route; it sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            address = sock.getsockname()[0]
        except OSError:
            address = ""
    if not address or is_loopback(address) or address in WILDCARDS:
        try:
            address = socket.gethostbyname(socket.gethostname())
        except OSError:
            address = ""
    if not address or is_loopback(address):
        raise SeedchatError(
            "This machine has no address on a local network: a phone could not reach it.",
            hint="Connect to the network (Wi-Fi or a cable), or name the address with --host.",
        )
    return address


def lan_url(host: str, port: int) -> str:
    """The address other devices open for a server listening on ``host``: this machine's
    LAN address for a wildcard, else ``host`` itself."""
    shown = lan_address() if host in WILDCARDS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"
