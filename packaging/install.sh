#!/usr/bin/env bash
# Sets up seedchat in a virtual environment, with a llama.cpp backend built for this machine.
#
#   bash packaging/install.sh          # the app
#   bash packaging/install.sh --dev    # the app plus what the tests need
#   bash packaging/install.sh --plan   # only print the backend, build flags and wheel cache; change nothing
#
# Safe to run again: the virtual environment is reused, and llama-cpp-python (which
# PyPI ships only as source) is compiled once per version + build flags + platform and
# kept as a wheel in seedchat's cache, so later installs take seconds.
#
# Environment:
#   SEEDCHAT_VENV         where the virtual environment lives (default: .venv in the repo)
#   SEEDCHAT_PYTHON       the Python that creates it (default: python3)
#   SEEDCHAT_WHEEL_CACHE  where built wheels are kept (default: seedchat's cache dir/wheels)
#   SEEDCHAT_BACKEND      force a backend: cuda | metal | cpu (default: chosen for you)
#   SEEDCHAT_TOOLS_VENV   --dev: the MCP test servers' Python environment (default: .venv-tools)
#   SEEDCHAT_TOOLS_NODE   --dev: their npm folder (default: .tools)
#   CMAKE_ARGS            your own llama.cpp build flags (replaces the chosen ones)
set -euo pipefail

LLAMA_CPP_VERSION="0.3.36"
TORCH_VERSION="2.13.0"
MCP_SERVER_TIME_VERSION="2026.10.19"          # the MCP servers the tests run (--dev)
SERVER_EVERYTHING_VERSION="2026.8.31"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dev=0; plan=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --plan) plan=1 ;;
    -h|--help) sed -n "2,19p" "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[seedchat install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[seedchat install] error:\033[0m %s\n' "$*" >&2; exit 1; }
start=$(date +%s)

python="${SEEDCHAT_PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found. Install Python 3.10 or newer, or set SEEDCHAT_PYTHON."
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "seedchat needs Python 3.10 or newer; $python is $("$python" --version 2>&1)."

# ---- choose llama.cpp's build flags ------------------------------------------------
os="$(uname -s)"; arch="$(uname -m)"
cpuinfo="${SEEDCHAT_CPUINFO:-/proc/cpuinfo}"  # read for CPU features (tests point it elsewhere)
backend="${SEEDCHAT_BACKEND:-}"
if [ -z "$backend" ]; then
  if [ "$os" = "Darwin" ]; then backend=metal
  elif command -v nvcc >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then backend=cuda
  else backend=cpu; fi
  auto_backend=1
fi
choose_flags() {
  case "$backend" in
    metal) flags="-DGGML_METAL=ON" ;;
    cuda)  flags="-DGGML_CUDA=ON" ;;
    cpu)   flags="" ;;
    *) die "SEEDCHAT_BACKEND must be cuda, metal or cpu, not '$backend'." ;;
  esac
  if [ "$os" = "Linux" ] && { [ "$arch" = "x86_64" ] || [ "$arch" = "amd64" ]; }; then
    # Portable x86 build: the native build crashes in llama_decode on AMX machines.
    flags="$flags -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
    if grep -qw avx512f "$cpuinfo" 2>/dev/null; then
      flags="$flags -DGGML_AVX512=ON"
      grep -qw avx512_vnni "$cpuinfo" && flags="$flags -DGGML_AVX512_VNNI=ON"
      grep -qw avx512_bf16 "$cpuinfo" && flags="$flags -DGGML_AVX512_BF16=ON"
    fi
    flags="$flags -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF"
  fi
  flags="${flags# }"
}
if [ -n "${CMAKE_ARGS:-}" ]; then flags="$CMAKE_ARGS"; backend="custom"; else choose_flags; fi
pytag="$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
compute_wheeldir() {
key="$(printf '%s|%s|%s|%s|%s' "$LLAMA_CPP_VERSION" "$flags" "$os" "$arch" "$pytag" | sha256sum 2>/dev/null || printf '%s|%s|%s|%s|%s' "$LLAMA_CPP_VERSION" "$flags" "$os" "$arch" "$pytag" | shasum -a 256)"
key="${key:0:16}"
if [ -n "${SEEDCHAT_WHEEL_CACHE:-}" ]; then cache_root="$SEEDCHAT_WHEEL_CACHE"
elif [ -n "${SEEDCHAT_HOME:-}" ]; then cache_root="$SEEDCHAT_HOME/cache/wheels"
elif [ "$os" = "Darwin" ]; then cache_root="$HOME/Library/Caches/seedchat/wheels"
else cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/seedchat/wheels"; fi
wheeldir="$cache_root/llama-cpp-python-$LLAMA_CPP_VERSION-$os-$arch-$pytag-$backend-$key"
}
compute_wheeldir
if [ "$plan" = 1 ]; then
  echo "backend=$backend"; echo "flags=$flags"; echo "wheel_dir=$wheeldir"; exit 0
fi

# ---- MCP servers for the tests, each in an environment of its own ------------------
# Servers pin their own `mcp` (often <2): kept out of seedchat's venv, they cannot clash.
# Installed in the background while seedchat's own packages install (pip uses one core).
install_test_servers() {
  tools_venv="${SEEDCHAT_TOOLS_VENV:-$repo/.venv-tools}"
  have="$("$tools_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-server-time"))' 2>/dev/null || true)"
  if [ "$have" = "$MCP_SERVER_TIME_VERSION" ]; then
    say "mcp-server-time $have already in $tools_venv"
  else
    say "installing mcp-server-time $MCP_SERVER_TIME_VERSION into $tools_venv (for the tests)"
    [ -x "$tools_venv/bin/python" ] || "$python" -m venv "$tools_venv" || die "could not create $tools_venv."
    "$tools_venv/bin/python" -m pip install -q --disable-pip-version-check "mcp-server-time==$MCP_SERVER_TIME_VERSION" \
      || die "pip could not install mcp-server-time into $tools_venv (see above)."
  fi
  tools_node="${SEEDCHAT_TOOLS_NODE:-$repo/.tools}"
  everything="$tools_node/node_modules/@modelcontextprotocol/server-everything/package.json"
  have="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$everything" 2>/dev/null || true)"
  if [ "$have" = "$SERVER_EVERYTHING_VERSION" ]; then
    say "@modelcontextprotocol/server-everything $have already in $tools_node"
  elif command -v npm >/dev/null 2>&1; then
    say "installing @modelcontextprotocol/server-everything $SERVER_EVERYTHING_VERSION into $tools_node (for the tests)"
    mkdir -p "$tools_node"
    npm install --prefix "$tools_node" --no-audit --no-fund --loglevel=error \
      "@modelcontextprotocol/server-everything@$SERVER_EVERYTHING_VERSION" >/dev/null \
      || die "npm could not install @modelcontextprotocol/server-everything into $tools_node."
  else
    say "node and npm not found: the MCP tests need them (Node.js 18 or newer)."
  fi
}
servers_pid=""
if [ "$dev" = 1 ]; then install_test_servers & servers_pid=$!; fi

# ---- the virtual environment -------------------------------------------------------
venv="${SEEDCHAT_VENV:-$repo/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  say "creating virtual environment in $venv"
  "$python" -m venv "$venv" || die "could not create a virtual environment (on Debian/Ubuntu: apt-get install python3-venv)."
else
  say "reusing virtual environment in $venv"
fi
vpy="$venv/bin/python"
# pip byte-compiles every file it installs on one core (about two thirds of its time for
# seedchat[dev]); it installs without, and compileall does it once at the end on every core.
pip() { "$vpy" -m pip --disable-pip-version-check "$@"; }
pip_install() { pip install --no-compile "$@"; }
pip install -q --upgrade pip >/dev/null 2>&1 || true

# ---- build llama-cpp-python once, then reuse the wheel -----------------------------
build_failed() {
  tail -30 "$tmp/build.log" >&2
  die "building llama-cpp-python failed (full log: $tmp/build.log). It needs a C/C++ compiler and cmake; for CUDA, nvcc must match your driver. SEEDCHAT_BACKEND=cpu builds without GPU support."
}
build_wheel() {  # $1: an empty folder to build into
  CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}" \
    pip wheel --no-cache-dir --no-deps -w "$1" "llama-cpp-python==$LLAMA_CPP_VERSION" >"$1/build.log" 2>&1
}
installed="$("$vpy" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)"
stamp="$venv/.seedchat-llama-build"
if [ "$installed" = "$LLAMA_CPP_VERSION" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  say "llama-cpp-python $LLAMA_CPP_VERSION ($backend) already installed"
else
  if ! ls "$wheeldir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_CPP_VERSION for $backend (once; several minutes)"
    say "flags: ${flags:-<defaults>}"
    command -v cmake >/dev/null 2>&1 || pip install -q cmake ninja
    mkdir -p "$cache_root"
    tmp="$(mktemp -d "$cache_root/.build-XXXXXX")"
    if ! build_wheel "$tmp"; then
      [ "$backend" = cuda ] && [ -n "${auto_backend:-}" ] || build_failed
      say "the CUDA build failed (log: $tmp/build.log); building for the CPU instead"
      backend=cpu; choose_flags; compute_wheeldir
      if ! ls "$wheeldir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        rm -rf "$tmp"; tmp="$(mktemp -d "$cache_root/.build-XXXXXX")"
        build_wheel "$tmp" || build_failed
      fi
    fi
    if [ -d "$tmp" ] && ls "$tmp"/llama_cpp_python-*.whl >/dev/null 2>&1; then
      rm -rf "$wheeldir"; mv "$tmp" "$wheeldir"   # appears under its final name only when complete
    fi
  else
    say "reusing cached llama-cpp-python wheel from $wheeldir"
  fi
  # Same version, other build: replace it in place; else a plain install (with its dependencies).
  reinstall=""; [ "$installed" = "$LLAMA_CPP_VERSION" ] && reinstall="--force-reinstall --no-deps"
  # shellcheck disable=SC2086
  pip_install -q $reinstall --find-links "$wheeldir" --only-binary=llama-cpp-python \
    "llama-cpp-python==$LLAMA_CPP_VERSION" || die "installing the cached wheel failed; delete $wheeldir and run again."
  echo "$key" > "$stamp"
fi

# ---- seedchat and its dependencies -------------------------------------------------
extras=""
if [ "$dev" = 1 ]; then
  extras="[dev]"
  "$vpy" -c 'import torch' >/dev/null 2>&1 || { say "installing torch $TORCH_VERSION (CPU, for tests only)"; pip_install -q "torch==$TORCH_VERSION"; }
fi
say "installing seedchat$extras"
pip_install -q --find-links "$wheeldir" --only-binary=llama-cpp-python -e "$repo$extras" \
  || die "pip could not install seedchat's dependencies (see above)."
say "compiling the installed modules"
site="$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$vpy" -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true  # a package's test data may not parse
if [ -n "$servers_pid" ]; then
  wait "$servers_pid" || die "the MCP test servers did not install (see above)."
fi

if [ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
      || say "could not install chromium: browser tests will fail. Install it, or set SEEDCHAT_CHROMIUM."
  else
    say "chromium not found: install it (e.g. 'sudo apt-get install chromium') for the browser tests, or set SEEDCHAT_CHROMIUM."
  fi
fi

say "done in $(( $(date +%s) - start )) s. Start the app with: $venv/bin/seedchat"
