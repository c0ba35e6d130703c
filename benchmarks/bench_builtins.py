"""OCR seconds per page, and each built-in tool call's overhead against a reference.

    .venv/bin/python benchmarks/bench_builtins.py            # --pages 3 --calls 20

OCR: a scanned PDF made here (each page a 150-dpi A4 picture of 24 lines of text, black
and white, no text layer) read with ``read_document`` (the attachments' reader: pypdf finds
no text, RapidOCR reads the page's picture); the engine's first load is timed apart. Then a
PNG of one paragraph.

A call's overhead: each built-in tool called as the tool loop calls it
(``BuiltinTools.call``), against the plainest way to do the same work, interleaved,
``--calls`` times each, medians:

- python ``run_python("print(2**100)")`` (a fresh sandbox each call) against Monty's
  ``feed_run`` of the same code in a pool already started;
- files ``read_file`` of a 4 KB text file against ``Path.read_text``;
- fetch ``fetch_url`` of an article on a loopback server (the test switch allows its port)
  against ``httpx.get`` of the same URL (no address check, no text extraction).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seedchat.documents import ocr
from seedchat.documents.read import read_document
from seedchat.tools.builtin.config import BuiltinConfig
from seedchat.tools.builtin.fetch import FetchLimits, FetchTool
from seedchat.tools.builtin.files import FilesTool
from seedchat.tools.builtin.python import PythonLimits, PythonTool
from seedchat.tools.builtin.runner import BuiltinTools
from tests.documents_helpers import image_bytes, text_image

TEXT = (
    "the harbour master counted seventeen ships before noon while the tide turned "
    "and the lighthouse keeper wrote every name into a ledger bound in green cloth"
)
WORDS = TEXT.split()


def page_lines(page: int, lines: int = 24, width: int = 9) -> list[str]:
    start = page * 7
    return [
        " ".join(WORDS[(start + i * width + j) % len(WORDS)] for j in range(width))
        for i in range(lines)
    ]


def scanned_pages(pages: int) -> bytes:
    """A PDF of ``pages`` A4 pictures at 150 dpi (1240 x 1754), no text layer."""
    from PIL import Image

    images = []
    for n in range(pages):
        canvas = Image.new("1", (1240, 1754), 1)
        canvas.paste(text_image(page_lines(n), size=30, width=1180).convert("1"), (30, 80))
        images.append(canvas)
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:])
    return buf.getvalue()


def bench_ocr(pages: int) -> None:
    started = time.perf_counter()
    ocr.engine()
    print(f"OCR engine load: {time.perf_counter() - started:.2f} s")
    pdf = scanned_pages(pages)
    times: list[float] = []
    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    doc = read_document(pdf, "scan.pdf", progress=progress)
    found = sum(w in doc.text for w in set(WORDS))
    print(
        f"scanned PDF, {pages} pages: per page median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}); pages read by OCR {doc.ocr_pages}; "
        f"{found}/{len(set(WORDS))} words found"
    )
    png = image_bytes(text_image(page_lines(0, lines=4)))
    started = time.perf_counter()
    read_document(png, "para.png")
    print(f"PNG of a paragraph (4 lines, 1400 px wide): {time.perf_counter() - started:.2f} s")


PARAGRAPHS = "".join(f"<p>{' '.join(WORDS)}</p>" for _ in range(8))
ARTICLE = (
    f"<html><body><nav>Home Shop</nav><article><h1>Tides</h1>{PARAGRAPHS}</article>"
    "<footer>Subscribe</footer></body></html>"
).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(ARTICLE)))
        self.end_headers()
        self.wfile.write(ARTICLE)

    def log_message(self, *args) -> None:
        pass


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def compare(name: str, ours, reference, calls: int) -> None:
    ours(), reference()  # warm
    mine, ref = [], []
    for i in range(calls):
        pair = [(mine, ours), (ref, reference)]
        for bucket, fn in pair if i % 2 == 0 else pair[::-1]:
            bucket.append(timed(fn))
    a, b = statistics.median(mine) * 1000, statistics.median(ref) * 1000
    print(f"{name}: seedchat {a:.2f} ms, reference {b:.2f} ms, overhead {a - b:+.2f} ms")


def bench_calls(calls: int) -> None:
    import httpx
    import pydantic_monty

    cancel = threading.Event()
    config = BuiltinConfig(enabled={"python", "files", "fetch"})
    folder = Path(tempfile.mkdtemp())
    (folder / "notes.txt").write_text(" ".join(WORDS * 30), encoding="utf-8")
    config.folders = [folder]
    tools = BuiltinTools(config)
    tools.tools["python"] = PythonTool(PythonLimits())
    tools.tools["files"] = FilesTool([folder])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    tools.tools["fetch"] = FetchTool(FetchLimits(), allow_loopback_ports=[port])
    url = f"http://127.0.0.1:{port}/article"

    with pydantic_monty.Monty(min_processes=1, max_processes=1) as pool:

        def monty() -> None:
            with pool.checkout() as session:
                session.feed_run("print(2**100)", print_callback=pydantic_monty.CollectString())

        compare(
            "python run_python",
            lambda: tools.call("run_python", {"code": "print(2**100)"}, cancel),
            monty,
            calls,
        )
    compare(
        "files read_file",
        lambda: tools.call("read_file", {"path": "notes.txt"}, cancel),
        lambda: (folder / "notes.txt").read_text(encoding="utf-8"),
        calls,
    )
    compare(
        "fetch fetch_url",
        lambda: tools.call("fetch_url", {"url": url}, cancel),
        lambda: httpx.get(url).text,
        calls,
    )
    httpd.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    bench_ocr(args.pages)
    bench_calls(args.calls)


if __name__ == "__main__":
    main()
