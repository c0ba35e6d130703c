import pytest

from seedchat.errors import PathsError
from seedchat.paths import atomic_write_text, check_writable, free_bytes, get_paths, save_text
from seedchat.presets import PresetError


def test_ensure_creates_directories_under_unicode_home(tmp_path, monkeypatch):
    home = tmp_path / "my home 数据"
    monkeypatch.setenv("SEEDCHAT_HOME", str(home))
    paths = get_paths().ensure()
    assert paths.models.is_dir() and paths.config.is_dir() and paths.cache.is_dir()
    assert check_writable(paths.data) is None
    assert free_bytes(paths.data) > 0


def test_ensure_fails_clearly_when_home_cannot_be_created(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SEEDCHAT_HOME", str(blocker / "home"))
    with pytest.raises(PathsError) as err:
        get_paths().ensure()
    assert "Cannot create" in err.value.message and "SEEDCHAT_HOME" in err.value.hint
    assert check_writable(blocker / "home") is not None


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_write_that_fails_says_what_with_its_hint_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "presets.json"
    target.mkdir()  # a folder where the file should go: the rename fails
    (target / "kept").write_text("x")
    with pytest.raises(PresetError) as err:
        save_text(target, "{}", "Cannot write the presets file", "Check the folder.", PresetError)
    assert err.value.message.startswith(f"Cannot write the presets file {target}: ")
    assert err.value.hint == "Check the folder."
    assert [p.name for p in tmp_path.iterdir()] == ["presets.json"]  # no temporary file left
    assert (target / "kept").read_text() == "x"
    save_text(tmp_path / "ok.json", "{}", "Cannot write", "")
    assert (tmp_path / "ok.json").read_text() == "{}"
