"""Conversion benchmarks: seedchat vs llama.cpp's own tools, side by side in one run.

    .venv/bin/python benchmarks/bench_convert.py --mode f16 [--runs 2]        # issue 4
    .venv/bin/python benchmarks/bench_convert.py --mode kquant [--runs 3] [--quant Q4_K_M]

Makes a random bf16 Seed-OSS-shaped checkpoint of about 1.1 GB (``_synth.py``), then runs
each tool as subprocesses, rounds interleaved, measuring wall time, the peak RSS of the
process tree (largest of its steps) and the peak disk use of its output folder (every
file in it, temporaries included), polled every 20 ms. Medians over the rounds.

``--mode f16``: ``seedchat convert --quant F16`` vs ``convert_hf_to_gguf.py --outtype f16``.

``--mode kquant``, three columns:

- **one-pass**: ``seedchat convert --quant Q4_K_M`` (quantized while read, no 16-bit file);
- **two-pass**: what seedchat did before: ``convert_checkpoint(quant="BF16")``, then
  ``llama_model_quantize`` on it, then the 16-bit file removed (one process);
- **llama.cpp**: ``convert_hf_to_gguf.py --outtype bf16``, then ``llama_model_quantize``
  (what llama-quantize calls; its binary is not shipped) in a second process.

The three outputs are then compared tensor by tensor (type and bytes). llama.cpp's
converter comes from the llama-cpp-python sdist (downloaded into the work dir if needed).
It does not know the test tokenizer's hash, so it is told the pre-tokenizer
('seed-coder'); the tensors are the work being measured.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import gguf
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

# seedchat's two-pass route before the one-pass quantizer, in one process as it was
TWO_PASS = """
import sys, time
from pathlib import Path
from seedchat.converters import convert_checkpoint, quant_types, two_pass
src, out, quant = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
tmp16 = out.parent / ("." + out.name + ".16bit.partial")
t0 = time.perf_counter()
convert_checkpoint(src, tmp16, quant="BF16", force=True)
t1 = time.perf_counter()
assert two_pass.llama_quantize(tmp16, out, int(quant_types.FILE_TYPES[quant].file_type)) == 0
tmp16.unlink()
print(f"two-pass steps: BF16 file {t1 - t0:.1f} s, llama_model_quantize {time.perf_counter() - t1:.1f} s")
"""

# llama-quantize's call, on llama.cpp's own BF16 file
LLAMA_QUANTIZE = """
import sys, ctypes, llama_cpp
from seedchat.converters import quant_types
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = int(quant_types.FILE_TYPES[sys.argv[3]].file_type)
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))
"""


def llama_cpp_source(work: Path) -> Path:
    root = work / f"llama_cpp_python-{LCP}" / "vendor" / "llama.cpp"
    if not root.is_dir():
        subprocess.run(
            [
                PY,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={LCP}",
                "-d",
                str(work),
            ],
            check=True,
        )
        with tarfile.open(work / f"llama_cpp_python-{LCP}.tar.gz") as tar:
            tar.extractall(work, filter="data")
    return root


def folder_bytes(folder: Path) -> int:
    total = 0
    for p in folder.iterdir():
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            total += p.stat().st_size
    return total


def cpu_seconds() -> float:
    """User + system time of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(steps: list[list[str]], folder: Path) -> tuple[float, int, int, float, str]:
    """Wall seconds, peak RSS of the process tree, peak bytes in ``folder``, CPU seconds,
    and the lines of its output that report steps."""
    wall, peak_rss, peak_disk, output = 0.0, 0, 0, ""
    cpu_before = cpu_seconds()
    for cmd in steps:
        start = time.perf_counter()
        proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while proc.poll() is None:
            try:
                procs = [proc, *proc.children(recursive=True)]
                peak_rss = max(peak_rss, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            peak_disk = max(peak_disk, folder_bytes(folder))
            time.sleep(0.02)
        wall += time.perf_counter() - start
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[:4]} failed:\n{err.decode()[-3000:]}")
        output += "".join(x for x in out.decode().splitlines(True) if "steps:" in x)
    return wall, peak_rss, peak_disk, cpu_seconds() - cpu_before, output.strip()


def kquant_tools(ckpt: Path, work: Path, wrapper: Path, quant: str) -> dict[str, tuple]:
    """name → (steps, output folder, final file)."""
    tools = {}
    for name in ("one-pass", "two-pass", "llama.cpp"):
        folder = work / f"out-{name}"
        tools[name] = (folder, folder / f"{quant}.gguf")
    one, two, lc = (tools[n] for n in ("one-pass", "two-pass", "llama.cpp"))
    lc_bf16 = lc[0] / "bf16.gguf"
    steps = {
        "one-pass": [
            [
                PY,
                "-m",
                "seedchat",
                "convert",
                str(ckpt),
                "-o",
                str(one[1]),
                "--quant",
                quant,
                "--force",
            ]
        ],
        "two-pass": [[PY, "-c", TWO_PASS, str(ckpt), str(two[1]), quant]],
        "llama.cpp": [
            [PY, str(wrapper), str(ckpt), "--outfile", str(lc_bf16), "--outtype", "bf16"],
            [PY, "-c", LLAMA_QUANTIZE, str(lc_bf16), str(lc[1]), quant],
        ],
    }
    return {n: (steps[n], *tools[n]) for n in tools}


def compare_outputs(files: dict[str, Path]) -> str:
    """Whether every tensor's type and bytes agree across the files."""
    readers = {n: gguf.GGUFReader(f) for n, f in files.items()}
    base_name, base = next(iter(readers.items()))
    ref = {t.name: t for t in base.tensors}
    lines = []
    for name, reader in list(readers.items())[1:]:
        bad = [
            t.name
            for t in reader.tensors
            if t.tensor_type != ref[t.name].tensor_type
            or t.data.tobytes() != ref[t.name].data.tobytes()
        ]
        same = not bad and len(reader.tensors) == len(ref)
        lines.append(
            f"{name} vs {base_name}: {'identical tensors' if same else f'DIFFER: {bad[:5]}'}"
        )
    return "\n".join(lines)


def run_kquant(ckpt: Path, work: Path, wrapper: Path, runs: int, quant: str) -> None:
    tools = kquant_tools(ckpt, work, wrapper, quant)
    results: dict[str, list[tuple[float, int, int, float]]] = {n: [] for n in tools}
    for run in range(runs):
        for name, (steps, folder, _final) in tools.items():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            wall, rss, disk, cpu, out = measure(steps, folder)
            results[name].append((wall, rss, disk, cpu))
            print(
                f"round {run + 1} {name:9s} {wall:6.1f} s  peak RSS {rss / 2**20:6.0f} MiB  "
                f"peak disk {disk / 2**20:6.0f} MiB  CPU {cpu:6.1f} s  "
                f"load {psutil.getloadavg()[0]:.1f}  {out}",
                flush=True,
            )
    finals = {n: t[2] for n, t in tools.items()}
    final_size = finals["one-pass"].stat().st_size
    med = {
        n: tuple(statistics.median(r[k] for r in v) for k in range(4)) for n, v in results.items()
    }
    size = sum(p.stat().st_size for p in ckpt.glob("*.safetensors"))
    print(
        f"\ncheckpoint {size / 2**30:.2f} GiB bf16 → {quant}: final file {final_size / 2**20:.0f} MiB"
    )
    print(
        f"{'':10s} {'wall s':>8s} {'peak RSS MiB':>13s} {'peak disk MiB':>14s} {'disk/final':>11s} "
        f"{'CPU s':>8s}"
    )
    for name, (w, r, d, c) in med.items():
        print(
            f"{name:10s} {w:8.1f} {r / 2**20:13.0f} {d / 2**20:14.0f} {d / final_size:11.2f} "
            f"{c:8.1f}"
        )
    (ow, orss, odisk, oc), (tw, _, tdisk, tc), (lw, lrss, ldisk, lc) = (med[n] for n in tools)
    print(f"\nwall one-pass / two-pass = {ow / tw:.2f} (goal ≤ 0.6); / llama.cpp {ow / lw:.2f}")
    print(f"CPU one-pass / two-pass = {oc / tc:.2f}; / llama.cpp {oc / lc:.2f}")
    print(
        f"peak disk one-pass / final = {odisk / final_size:.2f} (goal ≤ 1.05); "
        f"two-pass {tdisk / final_size:.2f}, llama.cpp {ldisk / final_size:.2f} (≥ 3 expected)"
    )
    print(f"peak RSS one-pass / llama.cpp pair = {orss / lrss:.2f} (goal ≤ 0.5)")
    print(compare_outputs(finals))


def run_f16(ckpt: Path, work: Path, wrapper: Path, runs: int) -> None:
    folders = {n: work / f"out-{n}" for n in ("seedchat", "llama.cpp")}
    tools = {
        "seedchat": [
            [
                PY,
                "-m",
                "seedchat",
                "convert",
                str(ckpt),
                "-o",
                str(folders["seedchat"] / "f16.gguf"),
                "--quant",
                "F16",
                "--force",
            ]
        ],
        "llama.cpp": [
            [
                PY,
                str(wrapper),
                str(ckpt),
                "--outfile",
                str(folders["llama.cpp"] / "f16.gguf"),
                "--outtype",
                "f16",
            ]
        ],
    }
    results: dict[str, list[tuple[float, int, int]]] = {k: [] for k in tools}
    for run in range(runs):
        for name, steps in tools.items():
            shutil.rmtree(folders[name], ignore_errors=True)
            folders[name].mkdir(parents=True)
            results[name].append(measure(steps, folders[name])[:3])
            print(
                f"run {run + 1} {name:9s} {results[name][-1][0]:6.1f} s  "
                f"peak RSS {results[name][-1][1] / 2**20:7.0f} MiB",
                flush=True,
            )
    best = {k: (min(w for w, _, _ in v), max(r for _, r, _ in v)) for k, v in results.items()}
    (tw, tr), (lw, lr) = best["seedchat"], best["llama.cpp"]
    print(f"{'':10s} {'best wall s':>12s} {'peak RSS MiB':>13s}")
    print(f"{'seedchat':10s} {tw:12.1f} {tr / 2**20:13.0f}")
    print(f"{'llama.cpp':10s} {lw:12.1f} {lr / 2**20:13.0f}")
    print(
        f"wall time ratio seedchat / llama.cpp = {tw / lw:.2f} (goal ≤ 1.0); "
        f"seedchat peak RSS {tr / 2**30:.2f} GiB (goal < 1.5 GiB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seedchat-bench-convert"))
    ap.add_argument("--mode", choices=("f16", "kquant"), default="f16")
    ap.add_argument("--quant", default="Q4_K_M", help="the type of --mode kquant")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint"
    if not (ckpt / "model.safetensors.index.json").is_file():
        write_checkpoint(ckpt)
    root = llama_cpp_source(work)
    wrapper = work / "llama_convert.py"
    wrapper.write_text(WRAPPER.format(root=str(root)))
    if args.mode == "kquant":
        run_kquant(ckpt, work, wrapper, args.runs, args.quant.upper())
    else:
        run_f16(ckpt, work, wrapper, args.runs)


if __name__ == "__main__":
    main()
