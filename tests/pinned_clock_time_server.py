"""The real `mcp-server-time` with its clock pinned: run by the tools environment's Python
(``.venv-tools``) as ``pinned_clock_time_server.py ISO_INSTANT [server args…]``. Only
``datetime.now`` is replaced (it returns the given instant, in the asked zone); the rest is
the server's own code. The tests of the demo model use it so that the time it must quote
is the same on every run (tests/test_demo_tools.py)."""

from __future__ import annotations

import datetime as dt
import sys

import mcp_server_time
import mcp_server_time.server as server

PINNED = dt.datetime.fromisoformat(sys.argv.pop(1))


class PinnedClock(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return PINNED.astimezone(tz)


server.datetime = PinnedClock
sys.exit(mcp_server_time.main())
