import json
import subprocess
import sys
from pathlib import Path

from tiny_gguf import write_gguf

from seedchat.paths import get_paths


def doctor(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", "doctor", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )


def checks(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(proc.stdout)["checks"]}


def test_healthy_installation_passes(cli_env):
    write_gguf(get_paths().ensure().models / "m.gguf", name="mine")
    proc = doctor(cli_env, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = checks(proc)
    assert found["llama.cpp backend"]["status"] == "ok"
    assert "0.3.36" in found["llama.cpp backend"]["detail"]
    assert (
        "AVX2" in found["llama.cpp build"]["detail"] or "NEON" in found["llama.cpp build"]["detail"]
    )
    assert found["data dir"]["status"] == "ok"
    assert any("mine" in c["detail"] for c in json.loads(proc.stdout)["checks"])


def test_broken_backend_is_reported_with_a_fix(cli_env, tmp_path):
    # A llama_cpp package whose shared library fails to load, as after a bad build.
    fake = tmp_path / "fakepkgs" / "llama_cpp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise OSError('libllama.so: cannot open shared object file: No such file or directory')\n"
    )
    env = {**cli_env, "PYTHONPATH": str(fake.parent)}
    proc = doctor(env)
    assert proc.returncode == 1
    assert "llama.cpp library failed to load" in proc.stdout
    assert "libllama.so" in proc.stdout
    assert "packaging/install.sh" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unwritable_home_is_reported(cli_env, tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a folder")
    env = {**cli_env, "SEEDCHAT_HOME": str(blocker / "home")}
    proc = doctor(env, "--json")
    assert proc.returncode == 1
    found = checks(proc)
    assert found["data dir"]["status"] == "fail"
    assert "not writable" in found["data dir"]["detail"]
    assert "SEEDCHAT_HOME" in found["data dir"]["hint"]


def test_fake_gpu_is_listed_with_free_memory(cli_env):
    proc = doctor({**cli_env, "SEEDCHAT_FAKE_GPUS": "RTX 4060:8192:6000"}, "--json")
    gpu = checks(proc)["GPU 0"]
    assert "RTX 4060" in gpu["detail"] and "5.9 GB free" in gpu["detail"]
    # a CPU-only build with a GPU present tells the user how to get offload
    assert checks(proc)["GPU offload"]["status"] == "warn"


def test_bad_settings_warn_but_do_not_fail(cli_env):
    settings = get_paths().ensure().settings_file
    settings.write_text('{"top_p": 3}')
    write_gguf(get_paths().models / "m.gguf")
    proc = doctor(cli_env, "--json")
    assert proc.returncode == 0
    assert "'top_p'" in checks(proc)["settings"]["detail"]


def test_human_output_marks_problems(cli_env, tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("")
    proc = doctor({**cli_env, "SEEDCHAT_HOME": str(Path(blocker, "h"))})
    assert proc.returncode == 1
    assert "✗ data dir" in proc.stdout and "problem" in proc.stdout


def test_conversation_database_is_checked(cli_env):
    from seedchat.store import Store

    found = checks(doctor(cli_env, "--json"))
    assert found["conversations"]["status"] == "info"  # none yet: made on the first chat
    with Store() as store:
        conv = store.create_conversation(title="kept")
        store.add_message(conv.id, "user", "hello")
    found = checks(doctor(cli_env, "--json"))
    assert found["conversations"]["status"] == "ok"
    assert found["conversations"]["detail"].startswith("1 saved")
    # a damaged file fails the check with the way out, and is left as it was
    path = get_paths().database
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    proc = doctor(cli_env, "--json")
    assert proc.returncode == 1
    check = checks(proc)["conversations"]
    assert check["status"] == "fail" and "move-aside" in (check["hint"] or "")
    assert path.read_bytes() == bytes(data)


def test_a_large_database_is_checked_by_doctor_not_on_open(monkeypatch):
    """Files above QUICK_CHECK_BYTES skip the page check on open; doctor runs it then (and
    runs it once: a small file's check on open is not repeated)."""
    import seedchat.store.db as store_module
    from seedchat.doctor import run_doctor
    from seedchat.store import Store

    with Store() as store:
        conv = store.create_conversation(title="kept")
        for i in range(200):
            store.add_message(conv.id, "user", f"message {i} " + "x" * 400)
    calls = []
    real_check = Store.check
    monkeypatch.setattr(Store, "check", lambda self: calls.append(1) or real_check(self))
    found = {c.name: c for c in run_doctor().checks}
    assert found["conversations"].status.value == "ok" and calls == []  # checked on open
    monkeypatch.setattr(store_module, "QUICK_CHECK_BYTES", 0)  # as for a large file
    path = get_paths().database
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    found = {c.name: c for c in run_doctor().checks}
    assert calls == [1]
    assert found["conversations"].status.value == "fail"
    assert "move-aside" in (found["conversations"].hint or "")
    assert path.read_bytes() == bytes(data)


def test_doctor_says_which_seed_models_fit_and_how(monkeypatch):
    """An 8 GB GPU (injected) and 32 GB of memory: Seed-OSS-36B's Q4_K_M with some layers
    on the GPU, Seed-Coder-8B whole on it; each with the command that gets it."""
    import dataclasses

    from seedchat import backend
    from seedchat.doctor import run_doctor

    monkeypatch.setenv("SEEDCHAT_FAKE_GPUS", "RTX 4060:8192:7680")
    monkeypatch.setattr(backend, "available_ram_bytes", lambda: 32 * 2**30)
    offloading = dataclasses.replace(backend.backend_info(), gpu_offload=True)
    monkeypatch.setattr(backend, "backend_info", lambda: offloading)  # this build: CPU only
    found = {c.name: c for c in run_doctor().checks}
    assert "RTX 4060 with 7.5 GB free" in found["what fits"].detail
    seed = found["Seed-OSS-36B-Instruct"].detail
    assert seed.startswith("Q4_K_M (20.3 GB) fits with ") and "of 64 layers on the GPU" in seed
    assert seed.endswith("seedchat pull unsloth/Seed-OSS-36B-Instruct-GGUF:Q4_K_M")
    coder = found["Seed-Coder-8B-Instruct"].detail
    assert (
        "fits on the GPU" in coder and "seedchat pull unsloth/Seed-Coder-8B-Instruct-GGUF:" in coder
    )
    assert "seedchat convert ByteDance-Seed/Seed-OSS-36B-Base --quant Q4_K_M" in (
        found["Seed-OSS-36B-Base"].detail
    )
