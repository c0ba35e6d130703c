import json
import os

import pytest

from seedchat.errors import SettingsError
from seedchat.paths import get_paths
from seedchat.settings import FIELDS, load_settings
from tests.cli_run import run_python


def write(settings: dict) -> None:
    path = get_paths().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings), encoding="utf-8")


def test_defaults_when_no_file():
    s = load_settings()
    assert s.problems == []
    assert s.temperature == 1.1 and s.top_p == 0.95
    assert s.host == "127.0.0.1"  # nothing listens beyond this machine by default
    assert s.n_gpu_layers == "auto"


def test_good_values_are_kept():
    write({"thinking_budget": 1024, "enforce": "soft", "temperature": 0.7, "n_gpu_layers": 12})
    s = load_settings()
    assert s.problems == []
    assert (s.thinking_budget, s.enforce, s.temperature, s.n_gpu_layers) == (1024, "soft", 0.7, 12)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("top_p", 7, "from 0.0 to 1.0"),
        ("thinking_budget", -5, "from -1 to 131072"),
        ("enforce", "sometimes", '"hard" | "soft"'),
        ("port", 70000, "from 1 to 65535"),
        ("n_gpu_layers", "many", '"auto"'),
        ("flash_attn", "yes", "true/false"),
        ("max_tokens", True, "an integer"),
    ],
)
def test_bad_value_falls_back_to_default_and_names_key_and_range(key, value, allowed):
    write({key: value, "temperature": 0.5})
    s = load_settings()
    assert s.get(key) == FIELDS[key].default
    assert s.temperature == 0.5  # the good value next to it survives
    assert len(s.problems) == 1
    message = str(s.problems[0])
    assert f"'{key}'" in message and allowed in message and "default" in message


def test_corrupt_file_gives_defaults_and_a_problem():
    path = get_paths().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    s = load_settings()
    assert s.values == {k: f.default for k, f in FIELDS.items()}
    assert "cannot be read" in str(s.problems[0])


def test_unknown_key_is_reported_not_fatal():
    write({"temprature": 0.3})
    s = load_settings()
    assert s.temperature == 1.1
    assert "Unknown setting 'temprature'" in str(s.problems[0])


def test_set_validates_and_save_roundtrips_unicode():
    s = load_settings()
    s.set("system_prompt", "你好, be brief")
    s.set("n_gpu_layers", "auto")
    with pytest.raises(SettingsError, match="'temperature'"):
        s.set("temperature", -1)
    path = s.save()
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed away
    again = load_settings()
    assert again.system_prompt == "你好, be brief" and again.problems == []


def test_seedchat_home_holds_all_directories(seedchat_home):
    paths = get_paths()
    for p in (paths.data, paths.config, paths.cache):
        assert p.is_relative_to(seedchat_home)


def test_the_settings_page_documents_every_setting():
    from conftest import REPO

    readme = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    for key in FIELDS:
        assert f"| `{key}` |" in readme, f"docs/settings.md's settings table lacks {key}"


def test_the_settings_table_is_made_from_the_fields():
    from conftest import REPO

    from seedchat.settings import settings_table

    readme = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings-table")
    table = readme[readme.index("\n", start) + 1 : readme.index("<!-- /settings-table -->")]
    assert table.strip() == settings_table(), (
        "docs/settings.md's settings table differs from seedchat.settings.FIELDS: paste the output of "
        "`python -m seedchat.settings` between the settings-table markers"
    )


def test_threads_zero_is_one_per_physical_core_this_process_may_use():
    import os

    import psutil

    from seedchat.settings import MAX_AUTO_THREADS, LoadOptions, physical_cores

    cores = physical_cores()
    assert 1 <= cores <= (psutil.cpu_count(logical=False) or os.cpu_count())
    assert cores <= len(os.sched_getaffinity(0))
    assert LoadOptions().thread_count == min(MAX_AUTO_THREADS, cores)
    assert LoadOptions(threads=3).thread_count == 3


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity masks here")
def test_threads_0_takes_one_thread_per_core_the_process_may_use():
    """A process kept to one core (taskset, a container's cpuset, a test worker) loads its
    model with one llama.cpp thread, not one per core of the machine."""
    proc = run_python(
        "import os",
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})",
        "from seedchat.settings import LoadOptions",
        "print(LoadOptions().thread_count, LoadOptions(threads=3).thread_count)",
    )
    assert proc.stdout.split() == ["1", "3"], proc.stderr
