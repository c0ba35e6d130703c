"""sqlite-utils, imported without pandas.

sqlite-utils imports pandas at its own import when pandas is installed (gradio brings it)
only to convert pandas values on insert; seedchat inserts none, and that import cost every
command that opens the store about 0.4 s of its start (`seedchat chat`, `seedchat history`:
0.65-0.88 s to import the store, 0.29-0.33 s without). While sqlite-utils loads, pandas is
hidden (``sys.modules["pandas"] = None`` makes its import fail, which sqlite-utils expects
when pandas is missing); afterwards it imports as usual. Where pandas is already loaded
(the page: gradio imported it first), nothing is hidden.
"""

from __future__ import annotations

import sys

_hidden = "pandas" not in sys.modules
if _hidden:
    sys.modules["pandas"] = None  # type: ignore[assignment]
try:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations
finally:
    if _hidden:
        del sys.modules["pandas"]

__all__ = ["Database", "Migrations"]
