"""Loopback ports for the tests that start servers: one held open, a run of free ones."""

from __future__ import annotations

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
