"""Conversion to F16: seedchat vs llama.cpp's convert_hf_to_gguf.py, side by side.

    .venv/bin/python benchmarks/bench_convert.py [--workdir DIR] [--runs 2]

Makes a random bf16 Seed-OSS-shaped checkpoint of about 1.2 GB, then converts it with
each tool in a subprocess, alternating, measuring wall time and the peak RSS of the
process tree. llama.cpp's converter comes from the llama-cpp-python sdist (downloaded
into the work dir if needed). It does not know this tiny test tokenizer's hash, so it
is told the pre-tokenizer ('seed-coder') instead: the vocabulary step is the same
small cost for both, the tensors are the work being measured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import psutil
from _synth import write_checkpoint

PY = sys.executable
LCP = "0.3.36"

WRAPPER = """
import runpy, sys
sys.path.insert(0, {root!r})
sys.path.insert(1, {root!r} + "/gguf-py")
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "seed-coder"
sys.argv = ["convert_hf_to_gguf.py", *sys.argv[1:]]
runpy.run_path({root!r} + "/convert_hf_to_gguf.py", run_name="__main__")
"""


def llama_cpp_source(work: Path) -> Path:
    root = work / f"llama_cpp_python-{LCP}" / "vendor" / "llama.cpp"
    if not root.is_dir():
        subprocess.run([PY, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={LCP}", "-d", str(work)], check=True)  # fmt: skip
        with tarfile.open(work / f"llama_cpp_python-{LCP}.tar.gz") as tar:
            tar.extractall(work, filter="data")
    return root


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of the whole process tree."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return wall, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seedchat-bench-convert"))
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint"
    if not (ckpt / "model.safetensors.index.json").is_file():
        write_checkpoint(ckpt)
    size = sum(p.stat().st_size for p in ckpt.glob("*.safetensors"))
    root = llama_cpp_source(work)
    wrapper = work / "llama_convert.py"
    wrapper.write_text(WRAPPER.format(root=str(root)))
    ours_out, theirs_out = work / "seedchat-f16.gguf", work / "llamacpp-f16.gguf"
    tools = {
        "seedchat": [PY, "-m", "seedchat", "convert", str(ckpt), "-o", str(ours_out),
                     "--quant", "F16", "--force"],
        "llama.cpp": [PY, str(wrapper), str(ckpt), "--outfile", str(theirs_out), "--outtype", "f16"],
    }  # fmt: skip
    results: dict[str, list[tuple[float, int]]] = {k: [] for k in tools}
    for run in range(args.runs):
        for name, cmd in tools.items():
            results[name].append(measure(cmd))
            print(f"run {run + 1} {name:9s} {results[name][-1][0]:6.1f} s  "
                  f"peak RSS {results[name][-1][1] / 2**20:7.0f} MiB", flush=True)  # fmt: skip
    best = {k: (min(w for w, _ in v), max(r for _, r in v)) for k, v in results.items()}
    (tw, tr), (lw, lr) = best["seedchat"], best["llama.cpp"]
    print(
        f"\ncheckpoint: {size / 2**30:.2f} GiB bf16 → F16 "
        f"({ours_out.stat().st_size / 2**30:.2f} GiB vs {theirs_out.stat().st_size / 2**30:.2f} GiB)"
    )
    print(f"{'':10s} {'best wall s':>12s} {'peak RSS MiB':>13s}")
    print(f"{'seedchat':10s} {tw:12.1f} {tr / 2**20:13.0f}")
    print(f"{'llama.cpp':10s} {lw:12.1f} {lr / 2**20:13.0f}")
    print(f"wall time ratio seedchat / llama.cpp = {tw / lw:.2f} (goal ≤ 1.0); "
          f"seedchat peak RSS {tr / 2**30:.2f} GiB (goal < 1.5 GiB)")  # fmt: skip


if __name__ == "__main__":
    main()
