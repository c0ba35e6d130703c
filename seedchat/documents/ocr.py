"""Text where a file has none: a scanned PDF page's images and an attached picture (PNG,
JPEG, WebP) read by OCR.

The OCR is RapidOCR (``rapidocr-onnxruntime``): PaddleOCR's PP-OCR detection, direction
and recognition models run by onnxruntime on the CPU. The three models are inside the
package's wheel, so nothing is downloaded when it is first used (these machines may reach
only package registries); they read Latin script and Chinese. The engine is loaded once,
on the first page that needs it (a few seconds), and kept.

:func:`image_text` gives an image's lines in reading order (boxes on one line joined left
to right, lines top to bottom); an empty string when it found no text, so the caller can
say so rather than attach an empty page.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from seedchat.errors import SeedchatError

log = logging.getLogger(__name__)

#: A PDF page whose text layer has fewer characters than this is read by OCR.
MIN_TEXT_CHARS = 8
#: An image larger than this (pixels on its longest side) is scaled down first.
MAX_SIDE = 2400
#: Text is looked for in the image scaled to this many pixels on its longest side.
DET_SIDE = 1280

_lock = threading.Lock()
_engine: Any = None


class OcrError(SeedchatError):
    """OCR could not run (its package missing or broken)."""


def engine() -> Any:
    """The one RapidOCR engine of this process (loaded on first use)."""
    global _engine
    with _lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise OcrError(
                    "Reading scanned pages and images needs rapidocr-onnxruntime.",
                    hint="Install seedchat again with its dependencies: pip install seedchat.",
                ) from exc
            threads = min(4, os.cpu_count() or 1)
            _engine = RapidOCR(
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
                # detection on the image scaled to DET_SIDE at most (its default scales the
                # short side up to 736: a line of text becomes a huge image, 20x slower);
                # the lines found are read from the image at its own size
                det_limit_side_len=DET_SIDE,
                det_limit_type="max",
            )
            log.info("OCR engine loaded (%d threads)", threads)
        return _engine


def open_image(data: bytes) -> Any | None:
    """The picture ``data`` holds (Pillow), or None when it is not one Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        log.info("not a readable image: %r", exc)
        return None
    return image


def image_text(image: Any) -> str:
    """The text of a Pillow image, line by line ("" when none was found)."""
    import numpy as np

    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    result, _ = engine()(np.asarray(image))
    return "\n".join(_lines(result or []))


def images_text(images: Sequence[Any]) -> str:
    """The text of several images (a page's), one after the other."""
    texts = (image_text(image) for image in images)
    return "\n".join(text for text in texts if text.strip())


def _lines(result: Sequence[Any]) -> list[str]:
    """RapidOCR's boxes ``[corners, text, score]`` as lines: a box whose vertical middle is
    within half a line's height of a line's joins it; lines top to bottom."""
    boxes = []
    for corners, text, _score in result:
        ys = [point[1] for point in corners]
        xs = [point[0] for point in corners]
        boxes.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text))
    lines: list[list[tuple[float, float, float, str]]] = []
    for box in sorted(boxes):
        if lines and abs(box[0] - lines[-1][0][0]) <= max(box[1], lines[-1][0][1]) / 2:
            lines[-1].append(box)
        else:
            lines.append([box])
    return [" ".join(b[3] for b in sorted(line, key=lambda b: b[2])) for line in lines]
