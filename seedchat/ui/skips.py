"""An update that leaves an output alone costs nothing for that output.

A streamed update of a reply sets the chat and leaves the event's other outputs as they are
(the statistics, the error box, the model's status, the sidebar's list, the message box).
Gradio's ``Blocks.postprocess_data`` treats each one left alone (``gr.skip()``, or an output
missing from a returned dict) as a property update with no properties: it builds a whole new
component from the old one's arguments (a random key, the upload folder resolved on disk) and
serializes its configuration twice (its API schema through pydantic) — 2.8 ms of the page
server's event loop for every update of the chat, beside the model's threads.
:func:`light_skips` answers those outputs directly with what gradio would have answered (an
empty update, or nothing for a ``gr.State``), and hands gradio only the outputs that change.
A gradio release whose ``postprocess_data`` takes other arguments is left as it is (with a
warning in the log).
"""

from __future__ import annotations

import copy
import inspect
import logging
import types
from typing import Any

from gradio import skip  # what gradio answers for an output an update leaves alone

log = logging.getLogger(__name__)

_ALONE = object()  # an output the update leaves alone, in :func:`changed`'s list


def light_skips(blocks: Any) -> None:
    """Let ``blocks`` skip the outputs an update leaves alone (idempotent)."""
    original = blocks.postprocess_data
    if getattr(original, "light_skips", False):
        return
    if list(inspect.signature(original).parameters)[:3] != ["block_fn", "predictions", "state"]:
        log.warning("gradio's postprocess_data has changed: outputs left alone are rebuilt")
        return

    async def postprocess_data(_blocks: Any, block_fn: Any, predictions: Any, state: Any = None):
        values = changed(block_fn, predictions)
        if values is None:
            return await original(block_fn, predictions, state)
        output = [None if o.stateful else skip() for o in block_fn.outputs]
        kept = [i for i, value in enumerate(values) if value is not _ALONE]
        if kept:
            some = copy.copy(block_fn)
            some.outputs = [block_fn.outputs[i] for i in kept]
            some_values = [values[i] for i in kept]
            done = await original(some, some_values if len(kept) > 1 else some_values[0], state)
            for i, value in zip(kept, done, strict=True):
                output[i] = value
        return output

    postprocess_data.light_skips = True  # type: ignore[attr-defined]
    blocks.postprocess_data = types.MethodType(postprocess_data, blocks)


def changed(block_fn: Any, predictions: Any) -> list[Any] | None:
    """Each output's value in order, ``_ALONE`` for one left alone; None when gradio's own
    path should take the update whole (one output, a batch, nothing left alone, a shape
    gradio would reject with its own message)."""
    outputs = list(block_fn.outputs)
    if len(outputs) < 2 or block_fn.batch:
        return None
    if isinstance(predictions, dict):
        if not predictions or not all(hasattr(key, "_id") for key in predictions):
            return None
        by_id = {key._id: value for key, value in predictions.items()}
        if len(by_id) != len(predictions) or not by_id.keys() <= {o._id for o in outputs}:
            return None
        values = [by_id.get(o._id, _ALONE) for o in outputs]
    elif isinstance(predictions, list | tuple) and len(predictions) == len(outputs):
        values = list(predictions)
    else:
        return None
    values = [_ALONE if _is_left_alone(value) else value for value in values]
    return values if any(value is _ALONE for value in values) else None


def _is_left_alone(value: Any) -> bool:
    return value is _ALONE or (isinstance(value, dict) and value == skip())
