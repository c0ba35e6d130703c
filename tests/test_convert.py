"""The converter on tiny real checkpoints, checked against transformers and llama.cpp."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from tiny_checkpoints import MIXED_CORPUS, TEMPLATE, hf_logits, hf_tokenizer, make_checkpoint

from seedchat.converters import ConversionCancelled, ConvertProgress, convert_checkpoint
from seedchat.converters import convert as convert_module
from seedchat.errors import ConversionError
from seedchat.models import read_gguf_info

TOKENS = [0, 5, 17, 33, 100, 250, 7, 9, 400, 2]


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    return {
        "seed_oss": make_checkpoint(root / "seed_oss", "seed_oss"),
        "llama": make_checkpoint(root / "llama", "llama", seed=1),
        "sharded": make_checkpoint(root / "sharded", "seed_oss", "bfloat16", "400KB", seed=2),
    }


def llama_logits(path: Path, tokens: list[int]) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=128, logits_all=True, verbose=False, n_threads=2)
    llm.eval(tokens)
    out = np.array(llm.scores[: len(tokens)])
    llm.close()
    return out


def generate(path: Path, n: int = 8) -> list[int]:
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=128, verbose=False, n_threads=2)
    out = []
    for tok in llm.generate([0, 5, 17], temp=0.0):
        out.append(tok)
        if len(out) == n:
            break
    llm.close()
    return out


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize("kind", ["seed_oss", "llama"])
def test_f32_logits_match_transformers(ckpts, tmp_path, kind):
    out = convert_checkpoint(ckpts[kind], tmp_path / "m.gguf", quant="F32")
    ref = hf_logits(ckpts[kind], TOKENS)
    got = llama_logits(out, TOKENS)
    assert got.shape == ref.shape
    assert np.abs(ref).max() > 0.05  # the comparison means something
    assert np.abs(got - ref).max() <= 1e-3


def test_sharded_bf16_checkpoint(ckpts, tmp_path):
    src = ckpts["sharded"]
    assert (src / "model.safetensors.index.json").is_file()
    assert len(list(src.glob("*.safetensors"))) > 1
    out = convert_checkpoint(src, tmp_path / "m.gguf", quant="F32")
    assert np.abs(llama_logits(out, TOKENS) - hf_logits(src, TOKENS)).max() <= 1e-3
    bf16 = convert_checkpoint(src, tmp_path / "b.gguf", quant="BF16")
    assert read_gguf_info(bf16).quantization == "BF16"
    # the weights are kept exactly; llama.cpp's bf16 matmuls round activations a little
    assert np.abs(llama_logits(bf16, TOKENS) - llama_logits(out, TOKENS)).max() <= 5e-3


@pytest.mark.parametrize("kind", ["seed_oss", "llama"])
@pytest.mark.parametrize("quant", ["F16", "Q8_0", "Q4_K_M"])
def test_quantized_files_load_and_generate(ckpts, tmp_path, kind, quant):
    out = convert_checkpoint(ckpts[kind], tmp_path / f"{quant}.gguf", quant=quant)
    info = read_gguf_info(out)
    assert info.quantization == quant and info.architecture == kind
    tokens = generate(out)
    assert len(tokens) == 8 and all(0 <= t < 640 for t in tokens)
    # the quantized model still computes nearly the same thing
    ref = hf_logits(ckpts[kind], TOKENS)
    tolerance = {"F16": 5e-3, "Q8_0": 2e-2, "Q4_K_M": 1.5e-1}[quant]
    assert np.abs(llama_logits(out, TOKENS) - ref).max() <= tolerance
    assert leftovers(tmp_path) == [f"{quant}.gguf"]  # no temporary file is left


def test_tokenization_matches_transformers(ckpts, tmp_path):
    from llama_cpp import Llama

    out = convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="F16")
    llm = Llama(str(out), n_ctx=64, verbose=False, vocab_only=True)
    hf = hf_tokenizer(ckpts["seed_oss"])
    extra = ["".join(MIXED_CORPUS), "a  b   c\n\n\n d", "   ", "\n", "x" * 50, "1" * 17, "🚀" * 3]
    for text in [*MIXED_CORPUS, *extra]:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == hf.encode(
            text, add_special_tokens=False
        ), text
    # Seed's added tokens detokenize as text
    ids = llm.tokenize(b"<seed:think>x</seed:think>", add_bos=False, special=True)
    assert len(ids) == 3
    assert llm.detokenize(ids, special=True) == b"<seed:think>x</seed:think>"


def test_metadata(ckpts, tmp_path):
    out = convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="Q8_0")
    meta = read_gguf_info(out).metadata
    assert meta["tokenizer.ggml.pre"] == "seed-coder"
    assert meta["tokenizer.ggml.model"] == "gpt2"
    assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]) == (0, 2)
    assert meta["tokenizer.ggml.padding_token_id"] == 1
    assert meta["tokenizer.chat_template"] == TEMPLATE  # from chat_template.jinja
    assert meta["seed_oss.attention.key_length"] == 32  # head_dim read from config
    assert meta["seed_oss.rope.freq_base"] == pytest.approx(1e7)
    assert meta["general.sampling.temp"] == pytest.approx(1.1)
    assert meta["general.sampling.top_p"] == pytest.approx(0.95)


def test_unicode_paths_with_spaces(ckpts, tmp_path):
    src = tmp_path / "my checkpoint 模型"
    shutil.copytree(ckpts["seed_oss"], src)
    out = convert_checkpoint(src, tmp_path / "输出 folder" / "模型 Q8.gguf", quant="Q8_0")
    assert out.is_file() and read_gguf_info(out).ok


def test_default_output_goes_to_models_dir(ckpts):
    out = convert_checkpoint(ckpts["llama"], quant="Q8_0")
    assert out.name == "llama-Q8_0.gguf" and out.parent.name == "models"


def test_progress_and_cancel(ckpts, tmp_path):
    seen: list[ConvertProgress] = []
    convert_checkpoint(ckpts["seed_oss"], tmp_path / "a.gguf", quant="F16", progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[-1] == "done" and stages.count("convert") == seen[-2].total
    assert seen[-2].bytes_done == seen[-2].bytes_total > 0

    cancel = threading.Event()

    def stop_after_first(p: ConvertProgress) -> None:
        if p.stage == "convert":
            cancel.set()

    with pytest.raises(ConversionCancelled):
        convert_checkpoint(
            ckpts["seed_oss"],
            tmp_path / "b.gguf",
            quant="Q4_K_M",
            progress=stop_after_first,
            cancel=cancel,
        )
    assert leftovers(tmp_path) == ["a.gguf"]


def broken_copy(ckpts, tmp_path: Path, name: str = "src") -> Path:
    dst = tmp_path / name
    shutil.copytree(ckpts["sharded"], dst)
    return dst


def shard(src: Path) -> Path:
    return sorted(src.glob("*.safetensors"))[-1]


BAD_INPUTS = {
    "truncated shard": (lambda s: shard(s).write_bytes(shard(s).read_bytes()[:-1000]), "truncated"),
    "corrupt header": (
        lambda s: shard(s).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json!}"),
        "corrupt",
    ),
    "missing shard": (lambda s: shard(s).unlink(), "missing"),
    "missing config": (lambda s: (s / "config.json").unlink(), "config.json"),
    "missing tokenizer": (lambda s: (s / "tokenizer.json").unlink(), "tokenizer.json"),
    "wrong architecture": (
        lambda s: (s / "config.json").write_text(
            json.dumps({"architectures": ["GPT2LMHeadModel"]})
        ),
        "SeedOssForCausalLM",
    ),
    "foreign tokenizer": (
        lambda s: (s / "tokenizer.json").write_text(
            (s / "tokenizer.json").read_text().replace(r"\\p{N}{1}", r"\\p{N}{1,3}")
        ),
        "splits text with a rule",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_clear_error_and_no_output(ckpts, tmp_path, case):
    src = broken_copy(ckpts, tmp_path)
    damage, expected = BAD_INPUTS[case]
    damage(src)
    out_dir = tmp_path / "out"
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(src, out_dir / "m.gguf", quant="Q4_K_M")
    assert expected in str(err.value)
    assert leftovers(out_dir) == []


def test_refuses_to_overwrite_without_force(ckpts, tmp_path):
    target = tmp_path / "m.gguf"
    target.write_bytes(b"precious")
    with pytest.raises(ConversionError, match="already exists"):
        convert_checkpoint(ckpts["seed_oss"], target, quant="F16")
    assert target.read_bytes() == b"precious"
    convert_checkpoint(ckpts["seed_oss"], target, quant="F16", force=True)
    assert read_gguf_info(target).ok


def test_refuses_up_front_when_the_disk_is_too_small(ckpts, tmp_path, monkeypatch):
    # A full disk cannot be made here safely: the free-space figure is the stand-in.
    monkeypatch.setattr(convert_module, "free_bytes", lambda _p: 1_000_000)
    with pytest.raises(ConversionError, match="Not enough disk space"):
        convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="F32")
    assert leftovers(tmp_path) == []


def test_llama_cpp_logs_go_to_python_logging(ckpts, tmp_path, caplog):
    out = convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="IQ4_XS")
    with caplog.at_level(logging.DEBUG, logger="seedchat.llama_cpp"):  # the two-pass route
        convert_checkpoint(ckpts["seed_oss"], out, quant="IQ4_XS", force=True)
    assert any("quant size" in r.getMessage() for r in caplog.records)


def test_cli_convert(ckpts, tmp_path, cli_env):
    out = tmp_path / "cli.gguf"
    cmd = [
        sys.executable,
        "-m",
        "seedchat",
        "convert",
        str(ckpts["llama"]),
        "-o",
        str(out),
        "--quant",
        "q8_0",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and read_gguf_info(out).quantization == "Q8_0"
    again = subprocess.run(cmd, capture_output=True, text=True, env=cli_env, timeout=300)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_hub_id_offline_gives_a_clear_error(cli_env):
    proc = subprocess.run(
        [sys.executable, "-m", "seedchat", "convert", "ByteDance-Seed/Seed-OSS-36B-Instruct"],
        capture_output=True,
        text=True,
        env={**cli_env, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert proc.returncode == 1
    assert "offline" in proc.stderr and "Traceback" not in proc.stderr
