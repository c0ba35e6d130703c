"""The install script's backend choice, checked with its --plan mode (it installs nothing)."""

import os
import re
import subprocess
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "packaging" / "install.sh"


def plan(tmp_path: Path, **env: str) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "SEEDCHAT_BACKEND")}
    full.update(env)
    out = subprocess.run(
        ["bash", str(SCRIPT), "--plan"],
        capture_output=True,
        text=True,
        env=full,
        check=True,
        timeout=60,
    ).stdout
    return dict(line.split("=", 1) for line in out.strip().splitlines())


def fake_tool(bindir: Path, name: str, output: str) -> None:
    bindir.mkdir(exist_ok=True)
    tool = bindir / name
    tool.write_text(f"#!/bin/sh\necho '{output}'\n")
    tool.chmod(0o755)


def test_version_pin_matches_pyproject():
    pin = re.search(r'LLAMA_CPP_VERSION="([\d.]+)"', SCRIPT.read_text()).group(1)
    assert f'"llama-cpp-python=={pin}"' in (REPO / "pyproject.toml").read_text()


def test_portable_x86_build_with_amx_off(tmp_path):
    cpu = tmp_path / "cpuinfo"
    cpu.write_text("flags : fpu sse avx2 fma f16c avx512f avx512_vnni amx_tile\n")
    p = plan(tmp_path, SEEDCHAT_CPUINFO=str(cpu), PATH="/usr/bin:/bin")
    if os.uname().machine in ("x86_64", "amd64"):
        assert "-DGGML_NATIVE=OFF" in p["flags"] and "-DGGML_AMX_TILE=OFF" in p["flags"]
        assert "-DGGML_AVX512=ON" in p["flags"] and "-DGGML_AVX512_VNNI=ON" in p["flags"]
        assert "-DGGML_AVX512_BF16=ON" not in p["flags"]  # this CPU lacks it
    assert p["backend"] == "cpu"


def test_avx512_dropped_where_cpu_lacks_it(tmp_path):
    cpu = tmp_path / "cpuinfo"
    cpu.write_text("flags : fpu sse avx2 fma f16c\n")
    p = plan(tmp_path, SEEDCHAT_CPUINFO=str(cpu))
    assert "AVX512" not in p["flags"]


def test_cuda_chosen_only_with_nvcc_and_a_gpu(tmp_path):
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nvcc", "Cuda compilation tools")
    no_gpu = plan(tmp_path, PATH=f"{bindir}:/usr/bin:/bin")
    assert no_gpu["backend"] == "cpu"
    fake_tool(bindir, "nvidia-smi", "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-x)")
    p = plan(tmp_path, PATH=f"{bindir}:/usr/bin:/bin")
    assert p["backend"] == "cuda" and "-DGGML_CUDA=ON" in p["flags"]
    assert p["wheel_dir"] != no_gpu["wheel_dir"]  # cached apart from the CPU build


def test_user_flags_win_and_key_the_cache(tmp_path):
    p = plan(tmp_path, CMAKE_ARGS="-DGGML_VULKAN=ON")
    assert p["flags"] == "-DGGML_VULKAN=ON" and p["backend"] == "custom"
    assert p["wheel_dir"] != plan(tmp_path)["wheel_dir"]
