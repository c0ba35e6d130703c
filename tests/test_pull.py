"""`seedchat pull` against a stand-in for the Hugging Face hub on a loopback port
(tests/hub_standin.py): real GGUF files made here, their sha256, split files, a gated
repository, cut connections, corrupted bytes, a full disk and no network at all."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import gguf
import numpy as np
import pytest
from hub_standin import StandInHub, write_model_gguf

from seedchat.converters import convert_checkpoint
from seedchat.errors import ConversionError
from seedchat.hub import (
    ChecksumMismatch,
    Downloads,
    FileNotFound,
    GatedRepo,
    HubUnreachable,
    NotEnoughDisk,
    PullCancelled,
    PullError,
    RepoNotFound,
    list_repo,
    partial_downloads,
    pull,
)
from seedchat.hub.repo import group_options, quant_of
from seedchat.models import list_models
from seedchat.paths import get_paths

REPO = "tester/Tiny-Seed-GGUF"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real GGUFs: two quantizations, an Unsloth-style name, a split model, a projector."""
    d = tmp_path_factory.mktemp("gguf")
    out = {
        "Tiny-Seed-Q4_K_M.gguf": write_model_gguf(d / "q4.gguf", "q4", payload_bytes=2_500_000),
        "Tiny-Seed-Q8_0.gguf": write_model_gguf(d / "q8.gguf", "q8", payload_bytes=4_000_000),
        "Tiny-Seed-UD-Q4_K_XL.gguf": write_model_gguf(d / "xl.gguf", "xl", payload_bytes=100),
        "mmproj-Tiny-Seed-F16.gguf": write_model_gguf(d / "mm.gguf", "mmproj"),
    }
    for i in (1, 2):
        part = d / f"part{i}.gguf"
        w = gguf.GGUFWriter(str(part), "seed_oss")
        w.add_uint16("split.no", i - 1)
        w.add_uint16("split.count", 2)
        w.add_tensor(f"blk.{i}.attn_q.weight", np.full((64, 256 * i), i, dtype=np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        out[f"F16/Tiny-Seed-F16-0000{i}-of-00002.gguf"] = part
    return out


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, files: dict[str, Path]):
    """The stand-in hub, with HF_ENDPOINT pointed at it and huggingface_hub online
    (conftest sets HF_HUB_OFFLINE=1 for every other test) and kept inside tmp."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for name in ("HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.setenv(name, str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "hf" / "agents.json"))
    with StandInHub() as standin:
        standin.add_repo(REPO, {**files, "README.md": b"# tiny\n"})
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        yield standin


def models_dir() -> Path:
    return get_paths().models


def leftovers() -> list[str]:
    return sorted(p.name for p in models_dir().iterdir() if p.name.startswith("."))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_env(hub: StandInHub, home: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    hf = str(tmp_path / "hf")
    env.update(SEEDCHAT_HOME=str(home), HF_ENDPOINT=hub.url, HF_HOME=hf, HF_HUB_CACHE=hf)
    env.update(COLUMNS="160", **extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", "pull", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


# -- the repository's files --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("Seed-OSS-36B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("Seed-OSS-36B-Instruct-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("seed-coder-8b-reasoning-q5_k_m.gguf", "Q5_K_M"),
        ("ByteDance-Seed_Seed-OSS-36B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("Q8_0/Seed-OSS-36B-Instruct-Q8_0-00001-of-00002.gguf", "Q8_0"),
        ("unsloth.BF16.gguf", "BF16"),
        ("model.gguf", "?"),
    ],
)
def test_the_quantization_is_read_from_the_file_name(name, quant):
    assert quant_of(name) == quant


def test_split_files_are_one_model_and_incomplete_sets_are_left_out(hub):
    listing = list_repo(REPO)
    by_quant = {o.quant: o for o in listing.options}
    assert set(by_quant) == {"Q4_K_M", "Q8_0", "UD-Q4_K_XL", "F16"}  # no mmproj, no README
    split = by_quant["F16"]
    assert split.split and [f.name for f in split.files] == [
        "Tiny-Seed-F16-00001-of-00002.gguf",
        "Tiny-Seed-F16-00002-of-00002.gguf",
    ]
    assert all(f.sha256 for f in split.files)  # LFS files come with their sha256
    lonely = [split.files[1]]  # part 2 without part 1
    assert group_options(lonely) == []


# -- downloading -------------------------------------------------------------------


def test_quant_by_name_downloads_that_file_only(hub, files):
    result = pull(f"{REPO}:q4_k_m")
    path = models_dir() / "Tiny-Seed-Q4_K_M.gguf"
    assert result.path == path and path.read_bytes() == files["Tiny-Seed-Q4_K_M.gguf"].read_bytes()
    assert dict(hub.sent) == {"Tiny-Seed-Q4_K_M.gguf": path.stat().st_size}
    assert leftovers() == []
    assert [m.path for m in list_models() if m.source == "models dir"] == [path]
    # `Q4_K_XL` finds the Unsloth file; asking again finds the file already there
    assert pull(f"{REPO}:Q4_K_XL").path.name == "Tiny-Seed-UD-Q4_K_XL.gguf"
    assert pull(f"{REPO}:Q4_K_M").already


def test_a_split_model_is_fetched_whole(hub, files):
    result = pull(REPO, quant="F16")
    names = sorted(p.name for p in models_dir().glob("*.gguf"))
    assert names == ["Tiny-Seed-F16-00001-of-00002.gguf", "Tiny-Seed-F16-00002-of-00002.gguf"]
    assert result.path.name == names[0]
    for name in names:
        source = files[f"F16/{name}"]
        assert sha256(models_dir() / name) == sha256(source)
    assert leftovers() == []


def test_a_cut_connection_resumes_with_a_range_request(hub, files):
    size = files["Tiny-Seed-Q8_0.gguf"].stat().st_size
    hub.cut_after["Tiny-Seed-Q8_0.gguf"] = 1_500_000
    pull(f"{REPO}:Q8_0")
    first, second = hub.transfers
    assert (first.start, first.sent) == (0, 1_500_000)
    assert 1_000_000 <= second.start <= 1_500_000  # not from the start again
    assert second.sent == size - second.start  # only the rest
    assert sha256(models_dir() / "Tiny-Seed-Q8_0.gguf") == sha256(files["Tiny-Seed-Q8_0.gguf"])


def test_a_killed_download_continues_where_it_stopped(hub, files, seedchat_home, tmp_path):
    """`seedchat pull` killed (SIGKILL) mid-way; the next run fetches only the rest."""
    name = "Tiny-Seed-Q8_0.gguf"
    size = files[name].stat().st_size
    hub.throttle[name] = 2_000_000  # bytes per second: long enough to kill it mid-way
    env = cli_env(hub, seedchat_home, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedchat", "pull", f"{REPO}:Q8_0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    part = models_dir() / f".{name}.part"
    deadline = time.monotonic() + 60
    while (not part.exists() or part.stat().st_size < 1_000_000) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    have = part.stat().st_size
    assert 1_000_000 <= have < size and not (models_dir() / name).exists()
    hub.reset_counts()
    hub.throttle.clear()
    done = run_cli(env, f"{REPO}:Q8_0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed" in done.stdout
    (transfer,) = hub.transfers
    assert (transfer.start, transfer.sent) == (have, size - have)
    assert sha256(models_dir() / name) == sha256(files[name])
    assert leftovers() == []


def test_a_cancelled_background_download_resumes(hub, files):
    """The UI's way: a download job cancelled, listed as partial, started again."""
    name = "Tiny-Seed-Q8_0.gguf"
    hub.throttle[name] = 3_000_000
    downloads = Downloads()
    job = downloads.start(f"{REPO}:Q8_0")
    deadline = time.monotonic() + 30
    while (job.progress is None or job.progress.done < 1_000_000) and time.monotonic() < deadline:
        time.sleep(0.02)
    job.cancel()
    assert job.wait(10) and job.state == "cancelled" and isinstance(job.error, PullCancelled)
    (partial,) = partial_downloads()
    assert partial.repo == REPO and partial.path == name and 0 < partial.have < partial.size
    hub.reset_counts()
    hub.throttle.clear()
    again = downloads.start(f"{REPO}:Q8_0")
    assert again is not job and again.wait(30) and again.state == "done", again.error
    assert again.result.resumed == partial.have
    assert hub.transfers[0].start == partial.have
    assert partial_downloads() == [] and leftovers() == []


def test_a_corrupted_byte_is_caught_and_the_file_deleted(hub):
    hub.corrupt["Tiny-Seed-Q4_K_M.gguf"] = 123_456
    with pytest.raises(ChecksumMismatch) as caught:
        pull(f"{REPO}:Q4_K_M")
    assert "sha256" in caught.value.message and "deleted" in caught.value.message
    assert "again" in caught.value.hint
    assert list(models_dir().iterdir()) == []  # no file, no part, no note


def test_not_enough_disk_stops_before_downloading(hub, monkeypatch):
    monkeypatch.setattr("seedchat.hub.pulling.free_bytes", lambda path: 50 * 2**20)
    with pytest.raises(NotEnoughDisk) as caught:
        pull(f"{REPO}:Q8_0")
    assert "needs 3.9 MB more" in caught.value.message and "50.0 MB free" in caught.value.message
    assert "-o DIR" in caught.value.hint
    assert hub.transfers == [] and not list(models_dir().glob("*.gguf"))


def test_unknown_repo_and_unknown_quant(hub, seedchat_home, tmp_path):
    with pytest.raises(RepoNotFound, match="No repository tester/Nope"):
        pull("tester/Nope:Q4_K_M")
    with pytest.raises(FileNotFound) as caught:
        pull(f"{REPO}:Q3_K_S")
    assert "no Q3_K_S file" in caught.value.message
    assert "Q4_K_M" in caught.value.hint and "F16" in caught.value.hint
    with pytest.raises(FileNotFound, match=r"no GGUF file 'nope\.gguf'"):
        pull(REPO, file="nope.gguf")
    assert pull(REPO, file="Tiny-Seed-Q4_K_M.gguf").path.name == "Tiny-Seed-Q4_K_M.gguf"
    proc = run_cli(cli_env(hub, seedchat_home, tmp_path), "tester/Nope")
    assert proc.returncode == 1
    assert "No repository tester/Nope" in proc.stderr and "Traceback" not in proc.stderr


def test_offline_says_so_at_once(hub, monkeypatch, seedchat_home, tmp_path):
    with socket.socket() as s:  # a port nothing listens on: connection refused
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    started = time.monotonic()
    with pytest.raises(HubUnreachable) as caught:
        pull(f"{REPO}:Q4_K_M")
    assert time.monotonic() - started < 5
    assert "Cannot reach the Hugging Face Hub" in caught.value.message
    assert "internet connection" in caught.value.hint
    env = {**cli_env(hub, seedchat_home, tmp_path), "HF_ENDPOINT": closed}
    proc = run_cli(env, f"{REPO}:Q4_K_M")
    assert proc.returncode == 1 and "Cannot reach the Hugging Face Hub" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_gated_repo_needs_hf_token(hub, monkeypatch, files):
    gated = {"Gated-Q4_K_M.gguf": files["Tiny-Seed-Q4_K_M.gguf"]}
    hub.add_repo("tester/Gated-GGUF", gated, gated_token="hf_test_secret")
    with pytest.raises(GatedRepo) as caught:
        pull("tester/Gated-GGUF:Q4_K_M")
    assert "gated" in caught.value.message and "HF_TOKEN" in caught.value.hint
    assert list(models_dir().iterdir()) == []
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    assert pull("tester/Gated-GGUF:Q4_K_M").path.is_file()


def test_without_a_quant_it_lists_what_fits_and_takes_the_best(hub, seedchat_home, tmp_path):
    env = cli_env(hub, seedchat_home, tmp_path, SEEDCHAT_FAKE_GPUS="Tiny GPU:1024:900")
    listed = run_cli(env, REPO, "--list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    out = listed.stdout
    for quant in ("Q4_K_M", "Q8_0", "UD-Q4_K_XL", "F16"):
        assert quant in out
    assert "fits" in out and "← best fit" in out and "Tiny GPU" in out
    assert f"Best fit: seedchat pull {REPO}:" in out
    assert not list(models_dir().glob("*.gguf"))  # --list downloads nothing
    # the architecture came from the start of one file, not a whole download
    assert sum(hub.sent.values()) < 600_000
    best = out.split(f"Best fit: seedchat pull {REPO}:")[1].split()[0]
    hub.reset_counts()
    done = run_cli(env, REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "saved" in done.stdout and "sha256 checked" in done.stdout
    option = {o.quant: o for o in list_repo(REPO).options}[best]
    assert sorted(p.name for p in models_dir().glob("*.gguf")) == [f.name for f in option.files]


def test_hub_offline_mode_is_named(hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnreachable, match="HF_HUB_OFFLINE"):
        pull(f"{REPO}:Q4_K_M")


def test_converting_a_hub_id_fails_as_pull_does(hub, monkeypatch, files, tmp_path):
    """One mapping of the hub's errors: the converter's checkpoint download says what
    ``seedchat pull`` says (gated, no such repository, unreachable, offline mode)."""
    from huggingface_hub import constants

    gated = {"config.json": b"{}", "Gated-Q4_K_M.gguf": files["Tiny-Seed-Q4_K_M.gguf"]}
    hub.add_repo("tester/Gated", gated, gated_token="hf_test_secret")

    def both(repo: str) -> tuple[PullError, ConversionError]:
        with pytest.raises(PullError) as pulled:
            pull(f"{repo}:Q4_K_M")
        with pytest.raises(ConversionError) as converted:
            convert_checkpoint(repo, tmp_path / "out.gguf")
        assert not (tmp_path / "out.gguf").exists()
        return pulled.value, converted.value

    for repo, kind in (("tester/Gated", GatedRepo), ("tester/Nope", RepoNotFound)):
        pulled, converted = both(repo)
        assert type(pulled) is kind and type(converted.__cause__) is kind
        assert (converted.message, converted.hint) == (pulled.message, pulled.hint)
        assert repo in converted.message and "HF_TOKEN" in converted.hint

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    pulled, converted = both(REPO)
    assert type(pulled) is HubUnreachable and type(converted.__cause__) is HubUnreachable
    assert converted.message.startswith(f"Cannot reach the Hugging Face Hub at {closed} (")
    assert pulled.message.startswith(f"Cannot reach the Hugging Face Hub at {closed} (")
    assert converted.hint == pulled.hint and "internet connection" in pulled.hint

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    pulled, converted = both(REPO)
    assert type(converted.__cause__) is HubUnreachable
    assert (converted.message, converted.hint) == (pulled.message, pulled.hint)
    assert "HF_HUB_OFFLINE" in converted.message


def test_pull_is_thread_safe_across_two_repos(hub, files):
    """The app may download two models at once (one job per repository)."""
    hub.add_repo("tester/Other-GGUF", {"Other-Q4_K_M.gguf": files["Tiny-Seed-Q4_K_M.gguf"]})
    results = {}
    threads = [
        threading.Thread(target=lambda s=s: results.setdefault(s, pull(s)))
        for s in (f"{REPO}:Q4_K_M", "tester/Other-GGUF:Q4_K_M")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(p.name for p in models_dir().glob("*.gguf")) == [
        "Other-Q4_K_M.gguf",
        "Tiny-Seed-Q4_K_M.gguf",
    ]
