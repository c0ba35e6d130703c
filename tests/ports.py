"""Loopback ports for the tests that start servers: one held open, a run of free ones, and
each pytest-xdist worker's own range for the tests that name a starting port."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from seedchat.network import port_is_free


@contextmanager
def occupied(port: int = 0) -> Iterator[int]:
    """A loopback port (``port``, or any free one) held open by a listening socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def free_run(length: int = 3) -> int:
    """A port p such that p … p+length-1 are all free now."""
    for _ in range(50):
        with occupied() as p:
            pass
        if all(port_is_free("127.0.0.1", p + i) for i in range(length)) and p + length < 65536:
            return p
    raise RuntimeError("no free run of ports")


# Under pytest-xdist (the README's test command runs two workers) both workers start servers
# at the same moments; a port found free by one can be taken by the other before its server
# binds it. Each worker starts its search this far from the other's.
WORKER_SPACING = 2000


def worker_port(port: int) -> int:
    """``port`` moved into this pytest-xdist worker's own range (gw0: ``port``, gw1:
    ``port + 1000``, …); ``port`` itself outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return port + WORKER_SPACING * int(worker.removeprefix("gw") or 0)
