"""A stand-in for the Hugging Face hub on a loopback port, for ``seedchat pull``'s tests.

It answers the endpoints huggingface_hub calls for a download, the way the hub does:

- ``GET /api/models/OWNER/NAME[/revision/REV]`` (``HfApi.model_info``, with
  ``?blobs=true`` for ``files_metadata``): the commit sha and ``siblings``, each with its
  ``size`` and, for LFS files, ``lfs: {sha256, size, pointerSize}``; an unknown repository
  is a 401 with ``X-Error-Code: RepoNotFound``.
- ``GET /api/models/OWNER/NAME/tree/REV`` (``HfApi.list_repo_tree``, which
  ``snapshot_download`` calls: the converter's checkpoint download): every file, with its
  ``size``, ``oid`` and ``lfs``.
- ``HEAD``/``GET /OWNER/NAME/resolve/REV/PATH`` (``get_hf_file_metadata`` and the download):
  ``X-Repo-Commit``, ``ETag`` (the sha256 of LFS files), ``X-Linked-Etag``,
  ``X-Linked-Size``, ``Content-Length``, ``Accept-Ranges``; ``Range: bytes=N-`` (or ``N-M``)
  answers 206 with ``Content-Range``; an unknown file is a 404 ``EntryNotFound``; a gated
  repository without the right ``Authorization: Bearer`` token is a 401 ``GatedRepo``.

What a test can ask of it: ``sent[path]`` counts the body bytes sent for each file (all
requests), ``transfers`` has one record per file body sent (its path, first byte, bytes
sent, whether it ended), ``requests`` logs (method, path, Range); ``wait_idle()`` waits
for every body being sent to end; ``cut_after[path] = n`` drops the
connection after n bytes (once), ``throttle[path] = bytes_per_second`` slows a file
down, ``corrupt[path] = offset`` flips one byte in what is served (the sha256 listed
stays the true one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import gguf
import numpy as np

CHUNK = 64 * 1024


@dataclass
class StandInRepo:
    files: dict[str, bytes]
    sha: str
    gated_token: str | None = None  # when set: the token its files need
    lfs: set[str] = field(default_factory=set)  # paths stored with LFS (sha256 known)

    def tree_entry(self, path: str) -> dict:
        """The file as ``list_repo_tree`` lists it."""
        sibling = self.sibling(path)
        entry = {"type": "file", "path": path, "size": sibling["size"], "oid": sibling["blobId"]}
        if "lfs" in sibling:
            lfs = sibling["lfs"]
            entry["lfs"] = {
                "oid": lfs["sha256"],
                "size": lfs["size"],
                "pointerSize": lfs["pointerSize"],
            }
        return entry

    def sibling(self, path: str) -> dict:
        data = self.files[path]
        entry = {"rfilename": path, "size": len(data), "blobId": hashlib.sha1(data).hexdigest()}
        if path in self.lfs:
            sha = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
        return entry


@dataclass
class Transfer:
    path: str
    start: int  # the first byte (a Range request's start)
    sent: int = 0
    ended: bool = False


class StandInHub:
    def __init__(self) -> None:
        self.repos: dict[str, StandInRepo] = {}
        self.sent: Counter[str] = Counter()
        self.requests: list[tuple[str, str, str | None]] = []
        self.transfers: list[Transfer] = []
        self.cut_after: dict[str, int] = {}
        self.throttle: dict[str, float] = {}
        self.corrupt: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None

    # -- content -----------------------------------------------------------------

    def add_repo(
        self, repo: str, files: dict[str, bytes | Path], gated_token: str | None = None
    ) -> StandInRepo:
        data = {p: (v.read_bytes() if isinstance(v, Path) else v) for p, v in files.items()}
        sha = hashlib.sha1(repo.encode()).hexdigest()
        lfs = {p for p in data if p.endswith(".gguf")}
        self.repos[repo] = StandInRepo(data, sha, gated_token, lfs)
        return self.repos[repo]

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def bytes_sent(self, suffix: str) -> int:
        return sum(n for path, n in self.sent.items() if path.endswith(suffix))

    def reset_counts(self) -> None:
        self.wait_idle()
        self.sent.clear()
        self.requests.clear()
        self.transfers.clear()

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while any(not t.ended for t in self.transfers) and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- serving -----------------------------------------------------------------

    def __enter__(self) -> StandInHub:
        hub = self

        class Handler(_Handler):
            standin = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server = self._server
        threading.Thread(target=lambda: server.serve_forever(0.05), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


_API = re.compile(r"^/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?/?$")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)/?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class _Handler(BaseHTTPRequestHandler):
    standin: StandInHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # a client went away
            super().handle()

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {"Content-Type": "application/json", "X-Error-Code": code}
        self._send(status, {**headers, "X-Error-Message": message}, body)

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def _route(self) -> None:
        path = unquote(urlparse(self.path).path)
        self.standin.requests.append((self.command, path, self.headers.get("Range")))
        if m := _TREE.match(path):
            return self._tree(m.group(1))
        if m := _API.match(path):
            return self._model_info(m.group(1))
        if m := _RESOLVE.match(path):
            return self._resolve(m.group(1), m.group(2), m.group(3))
        self._error(404, "NotFound", f"no route {path}")

    def _model_info(self, repo_id: str) -> None:
        repo = self.standin.repos.get(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found")
        info = {
            "id": repo_id,
            "sha": repo.sha,
            "private": False,
            "gated": "manual" if repo.gated_token else False,
            "siblings": [repo.sibling(p) for p in repo.files],
        }
        self._send(200, {"Content-Type": "application/json"}, json.dumps(info).encode())

    def _tree(self, repo_id: str) -> None:
        repo = self.standin.repos.get(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found")
        tree = [repo.tree_entry(p) for p in repo.files]
        self._send(200, {"Content-Type": "application/json"}, json.dumps(tree).encode())

    def _resolve(self, repo_id: str, revision: str, path: str) -> None:
        repo = self.standin.repos.get(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found")
        if repo.gated_token and self.headers.get("Authorization") != f"Bearer {repo.gated_token}":
            return self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
        if revision not in ("main", repo.sha) or path not in repo.files:
            return self._error(404, "EntryNotFound", f"{path} does not exist")
        data = repo.files[path]
        sibling = repo.sibling(path)
        etag = sibling["lfs"]["sha256"] if "lfs" in sibling else sibling["blobId"]
        headers = {
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if "lfs" in sibling:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        start, end = 0, len(data)
        rng = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        if rng:
            start = int(rng.group(1))
            end = min(end, int(rng.group(2)) + 1) if rng.group(2) else end
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        self.send_response(206 if rng else 200)
        for key, value in {**headers, "Content-Length": str(end - start)}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "GET":
            self._body(path, data[:end], start)

    def _body(self, path: str, data: bytes, start: int) -> None:
        hub = self.standin
        if path in hub.corrupt and hub.corrupt[path] < len(data):
            i = hub.corrupt[path]
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        cut = hub.cut_after.pop(path, None)
        transfer = Transfer(path, start)
        hub.transfers.append(transfer)
        try:
            for offset in range(start, len(data), CHUNK):
                chunk = data[offset : offset + CHUNK]
                if cut is not None and transfer.sent + len(chunk) > cut:
                    self._count(transfer, chunk[: cut - transfer.sent])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self._count(transfer, chunk)
                if rate := hub.throttle.get(path):
                    time.sleep(len(chunk) / rate)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading
            self.close_connection = True
        finally:
            transfer.ended = True

    def _count(self, transfer: Transfer, chunk: bytes) -> None:
        self.wfile.write(chunk)
        transfer.sent += len(chunk)
        self.standin.sent[transfer.path] += len(chunk)


def write_model_gguf(
    path: Path,
    name: str = "tiny seed",
    layers: int = 2,
    embd: int = 64,
    vocab: int = 300,
    payload_bytes: int = 0,
) -> Path:
    """A real GGUF (gguf-py) with Seed-OSS's architecture keys, a vocabulary and tensors;
    ``payload_bytes`` of extra random weights make it as large as a test needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(name) + layers)
    w = gguf.GGUFWriter(str(path), "seed_oss")
    w.add_name(name)
    w.add_context_length(32768)
    w.add_block_count(layers)
    w.add_embedding_length(embd)
    w.add_feed_forward_length(embd * 4)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_key_length(embd // 4)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"tok{i}" for i in range(vocab)])
    w.add_tensor("token_embd.weight", rng.standard_normal((vocab, embd)).astype(np.float16))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_q.weight", rng.standard_normal((embd, embd)).astype(np.float16))
    if payload_bytes:
        extra = rng.standard_normal(payload_bytes // 2).astype(np.float16)
        w.add_tensor(f"blk.{layers - 1}.ffn_down.weight", extra.reshape(1, -1))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
