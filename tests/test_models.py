import json
import subprocess
import sys
from pathlib import Path

from tiny_gguf import write_gguf

from seedchat.models import list_models, read_gguf_info
from seedchat.paths import get_paths


def test_reads_metadata(tmp_path):
    info = read_gguf_info(write_gguf(tmp_path / "m.gguf", ctx=8192))
    assert info.ok
    assert (info.name, info.architecture, info.context_length) == ("tiny", "seed_oss", 8192)
    assert info.parameters == 32 * 16 + 16
    assert info.quantization == "F16"
    assert info.has_chat_template
    assert info.tensor_types == {"F16": 1, "F32": 1}


def test_type_counts_are_listed_most_first():
    from seedchat.models import format_type_counts

    counts = {"F32": 321, "Q6_K": 65, "Q4_K": 385}
    assert format_type_counts(counts) == "Q4_K ×385, F32 ×321, Q6_K ×65"
    assert format_type_counts({}) == ""


def test_list_models_finds_models_dir_extra_paths_and_flags_bad_files(tmp_path):
    models = get_paths().ensure().models
    write_gguf(models / "good.gguf", name="good")
    (models / "not-a-model.gguf").write_bytes(b"PK\x03\x04 this is a zip")
    good = write_gguf(tmp_path / "extra dir 模型" / "full.gguf", name="extra")
    truncated = tmp_path / "extra dir 模型" / "cut.gguf"
    truncated.write_bytes(good.read_bytes()[:-20])
    write_gguf(models / ".unfinished.gguf")  # a temporary file of a running conversion

    found = {m.path.name: m for m in list_models([str(tmp_path / "extra dir 模型")])}

    assert found["good.gguf"].ok and found["good.gguf"].source == "models dir"
    assert found["full.gguf"].ok and found["full.gguf"].source == "added"
    assert "not a GGUF" in found["not-a-model.gguf"].error
    assert "truncated" in found["cut.gguf"].error
    assert ".unfinished.gguf" not in found


def test_models_cli_json_and_table(tmp_path, cli_env):
    write_gguf(get_paths().ensure().models / "good.gguf", name="good one")
    (tmp_path / "bad.gguf").write_bytes(b"GGUF\x03\x00\x00\x00garbage")
    out = subprocess.run(
        [sys.executable, "-m", "seedchat", "models", "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        env=cli_env,
        check=True,
    ).stdout
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert rows["good.gguf"]["name"] == "good one" and rows["good.gguf"]["error"] is None
    assert rows["good.gguf"]["tensor_types"] == {"F16": 1, "F32": 1}
    assert rows["bad.gguf"]["error"]
    table = subprocess.run(
        [sys.executable, "-m", "seedchat", "models", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**cli_env, "COLUMNS": "200"},
        check=True,
    ).stdout
    assert "good one" in table and "unreadable" in table
    assert "F16 ×1, F32 ×1" in table


def test_demo_label_is_added_once():
    from seedchat.models import ModelInfo

    plain = ModelInfo(path=Path("x.gguf"), source="demo", name="tiny seed")
    named = ModelInfo(path=Path("x.gguf"), source="demo", name="seedchat demo (tiny Seed-OSS)")
    assert plain.display_name == "tiny seed (demo)"
    assert named.display_name == "seedchat demo (tiny Seed-OSS)"
    assert ModelInfo(path=Path("x.gguf"), source="added", name="m").display_name == "m"
