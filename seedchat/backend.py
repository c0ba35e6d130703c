"""The llama.cpp backend (llama-cpp-python): import it safely and describe it.

Importing llama_cpp can fail in many ways (not installed, a shared library that
does not load, a build for another CPU). :func:`load_backend` turns each into a
:class:`BackendError` with a fix. llama.cpp's own logging is routed into Python's
``logging`` through its log callback, never by redirecting file descriptors (that
breaks inside packaged builds).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from seedchat.errors import BackendError

log = logging.getLogger(__name__)
llama_log = logging.getLogger("seedchat.llama_cpp")

#: Environment variable with fake GPUs, "name:total_mib:free_mib;..." — a stand-in for
#: what cannot exist on a machine without a GPU (used by tests and demos of the planner).
FAKE_GPUS_ENV = "SEEDCHAT_FAKE_GPUS"

REINSTALL_HINT = "Run 'bash packaging/install.sh' again (it rebuilds the backend for this machine)."

# ggml_log_level (ggml.h): 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continues the previous line
_LEVELS = {
    0: logging.CRITICAL,
    1: logging.DEBUG,
    2: logging.INFO,
    3: logging.WARNING,
    4: logging.ERROR,
}
_last_level = [logging.DEBUG]


@dataclass(frozen=True)
class GpuInfo:
    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class BackendInfo:
    version: str
    system_info: str
    gpu_offload: bool
    devices: tuple[str, ...]

    @property
    def cpu_features(self) -> list[str]:
        """Features llama.cpp was built with and found, e.g. AVX2, AVX512, from its system info.

        The info reads like ``CPU : SSE3 = 1 | AVX2 = 1 | ...``.
        """
        feats = []
        for chunk in self.system_info.split("|"):
            name, _, value = chunk.rpartition("=")
            if value.strip() == "1":
                feats.append(name.split(":")[-1].strip())
        return feats


_log_callback = None  # keep a reference: llama.cpp holds a raw pointer to it


def _install_log_callback(llama_cpp: ModuleType) -> None:
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def _callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        py_level = _last_level[0] if level == 5 else _LEVELS.get(level, logging.DEBUG)
        _last_level[0] = py_level
        msg = text.decode("utf-8", errors="replace").rstrip()
        if msg and llama_log.isEnabledFor(py_level):
            llama_log.log(py_level, "%s", msg)

    _log_callback = _callback
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


@functools.lru_cache(maxsize=1)
def load_backend() -> ModuleType:
    """Import llama_cpp with its logging routed to ``logging``; raise BackendError if broken."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendError(
            f"The llama.cpp backend (llama-cpp-python) is not installed or cannot be imported: {exc}",
            hint=REINSTALL_HINT,
        ) from exc
    except OSError as exc:  # the shared library failed to load
        raise BackendError(
            f"The llama.cpp library failed to load: {exc}",
            hint=REINSTALL_HINT,
        ) from exc
    except Exception as exc:
        raise BackendError(
            f"The llama.cpp backend is broken: {type(exc).__name__}: {exc}",
            hint=REINSTALL_HINT,
        ) from exc
    try:
        _install_log_callback(llama_cpp)
        llama_cpp.llama_backend_init()
    except Exception as exc:
        raise BackendError(
            f"The llama.cpp backend failed to start: {exc}", hint=REINSTALL_HINT
        ) from exc
    return llama_cpp


def _ggml_base_names() -> tuple[str, ...]:
    if sys.platform == "win32":
        return ("ggml-base.dll", "libggml-base.dll")
    if sys.platform == "darwin":
        return ("libggml-base.dylib", "libggml-base.so")
    return ("libggml-base.so",)


@functools.lru_cache(maxsize=1)
def load_ggml_base() -> ctypes.CDLL:
    """ggml's base library, the one llama.cpp itself was loaded with (its quantizers).

    It lies beside llama.cpp's library in llama-cpp-python's ``lib`` folder (or in
    ``LLAMA_CPP_LIB_PATH``, as for llama-cpp-python); loading it after llama.cpp finds the
    copy already in the process. Raises BackendError with a fix if it is missing or broken.
    """
    llama_cpp = load_backend()
    folder = Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(llama_cpp.__file__).parent / "lib")
    path = next((folder / n for n in _ggml_base_names() if (folder / n).is_file()), None)
    if path is None:
        raise BackendError(
            f"llama.cpp's ggml-base library ({_ggml_base_names()[0]}) is not in {folder}.",
            hint=REINSTALL_HINT,
        )
    try:
        lib = ctypes.CDLL(str(path))
        lib.ggml_quantize_chunk  # noqa: B018 - the symbol the converter needs
    except (OSError, AttributeError) as exc:
        raise BackendError(
            f"llama.cpp's ggml-base library {path} failed to load: {exc}", hint=REINSTALL_HINT
        ) from exc
    return lib


def backend_info() -> BackendInfo:
    """Version, build features and offload support of the installed backend."""
    llama_cpp = load_backend()
    info = llama_cpp.llama_print_system_info()
    info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    devices: list[str] = []
    try:
        for i in range(llama_cpp.ggml_backend_dev_count()):
            dev = llama_cpp.ggml_backend_dev_get(i)
            name = llama_cpp.ggml_backend_dev_name(dev)
            devices.append(name.decode() if isinstance(name, bytes) else str(name))
    except AttributeError:  # older bindings without the device API
        pass
    return BackendInfo(
        version=getattr(llama_cpp, "__version__", "unknown"),
        system_info=info.strip(),
        gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        devices=tuple(devices),
    )


def _fake_gpus(spec: str) -> list[GpuInfo]:
    gpus = []
    for item in filter(None, (s.strip() for s in spec.split(";"))):
        try:
            name, total, free = item.rsplit(":", 2)
            gpus.append(GpuInfo(name, int(total) * 2**20, int(free) * 2**20))
        except ValueError as exc:
            raise BackendError(
                f"{FAKE_GPUS_ENV} entry '{item}' is not 'name:total_mib:free_mib'."
            ) from exc
    return gpus


def detect_gpus() -> list[GpuInfo]:
    """GPUs with their free memory (NVIDIA through nvidia-smi; others are not measured)."""
    spec = os.environ.get(FAKE_GPUS_ENV)
    if spec is not None:
        return _fake_gpus(spec)
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed: %s", exc)
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(GpuInfo(parts[0], int(parts[1]) * 2**20, int(parts[2]) * 2**20))
    return gpus


def total_ram_bytes() -> int | None:
    """Physical memory of this machine, if it can be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def available_ram_bytes() -> int | None:
    """Memory available for new allocations (Linux /proc/meminfo; else None)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def platform_summary() -> str:
    return f"{platform.system()} {platform.release()} {platform.machine()}"
