"""One-pass quantization against llama.cpp's own quantizer, byte for byte.

For each checkpoint (made by code) and each file type, seedchat's one-pass file is compared
with what ``llama_model_quantize`` makes, on this machine, from the BF16 GGUF of the same
checkpoint: every tensor's type, shape, order and bytes, and the metadata.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import gguf
import numpy as np
import pytest
from tiny_checkpoints import make_checkpoint

from seedchat.converters import (
    ConversionCancelled,
    ConvertProgress,
    convert_checkpoint,
    disk_needed,
    one_pass,
    quant_types,
    two_pass,
)
from seedchat.converters import convert as convert_module
from seedchat.converters.imatrix import read_imatrix, write_imatrix_dat, write_imatrix_gguf
from seedchat.errors import ConversionError
from seedchat.models import read_gguf_info

FTYPES = [
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q4_K_M",
    "Q4_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q2_K",
    "Q4_0",
]
#: metadata keys allowed to differ between seedchat's file and llama.cpp's (none do)
METADATA_MAY_DIFFER: set[str] = set()

# Seed-OSS: head_dim 48 (hidden/heads would be 64); attn_output rows of 192 and ffn_down
# rows of 272 are not multiples of 256 (and 272 not of 32): every fallback fires.
# 16 layers, so n_layers/16, n_layers/8 and use_more_bits all pick different layers.
SEED_OSS = dict(
    hidden_size=256,
    intermediate_size=272,
    num_hidden_layers=16,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=48,
)
# Seed-Coder-style llama: rows of 320 (token_embd and output fall back), grouped-query 4.
LLAMA = dict(
    hidden_size=320,
    intermediate_size=512,
    num_hidden_layers=8,
    num_attention_heads=8,
    num_key_value_heads=2,
)


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qckpts")
    return {
        "seed_oss": make_checkpoint(root / "seed_oss", "seed_oss", "bfloat16", **SEED_OSS),
        "llama": make_checkpoint(root / "llama", "llama", "bfloat16", seed=1, **LLAMA),
        # sharded, with tied embeddings: token_embd then follows output's rule
        "sharded": make_checkpoint(
            root / "sharded", "seed_oss", "bfloat16", "300KB", seed=2, tie_word_embeddings=True
        ),
    }


@pytest.fixture(scope="session")
def bf16(ckpts, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bf16")
    return {k: convert_checkpoint(v, root / f"{k}.gguf", quant="BF16") for k, v in ckpts.items()}


@pytest.fixture(scope="session")
def imatrix_file(bf16, tmp_path_factory) -> Path:
    """A GGUF imatrix for the Seed-OSS checkpoint, with every entry llama-imatrix would make."""
    rng = np.random.default_rng(7)
    sums, counts = {}, {}
    for t in gguf.GGUFReader(bf16["seed_oss"]).tensors:
        if len(t.shape) == 2 and t.name != "token_embd.weight":
            n = int(rng.integers(50, 500))
            sums[t.name] = rng.gamma(2.0, 1.0, int(t.shape[0])).astype(np.float32) * n
            counts[t.name] = [n]
    return write_imatrix_gguf(tmp_path_factory.mktemp("im") / "imatrix.gguf", sums, counts)


def reference(src: Path, out: Path, quant: str, imatrix: Path | None = None) -> Path:
    """llama.cpp's quantizer on ``src``, as llama-quantize runs it."""
    values = read_imatrix(imatrix).values if imatrix else None
    ftype = int(quant_types.FILE_TYPES[quant].file_type)
    assert two_pass.llama_quantize(src, out, ftype, imatrix=values) == 0
    return out


def metadata(reader: gguf.GGUFReader) -> dict:
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def assert_same(ours: Path, ref: Path) -> None:
    a, b = gguf.GGUFReader(ours), gguf.GGUFReader(ref)
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for ta, tb in zip(a.tensors, b.tensors, strict=True):
        assert (ta.tensor_type, list(ta.shape)) == (tb.tensor_type, list(tb.shape)), ta.name
        assert ta.data.tobytes() == tb.data.tobytes(), f"{ta.name} ({ta.tensor_type.name})"
    ma, mb = metadata(a), metadata(b)
    differ = {k for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k)}
    assert differ <= METADATA_MAY_DIFFER, differ


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize("kind", ["seed_oss", "llama", "sharded"])
@pytest.mark.parametrize("quant", FTYPES)
def test_one_pass_is_byte_identical_to_llama_quantize(ckpts, bf16, tmp_path, kind, quant):
    ours = convert_checkpoint(ckpts[kind], tmp_path / "ours.gguf", quant=quant)
    assert_same(ours, reference(bf16[kind], tmp_path / "ref.gguf", quant))
    assert leftovers(tmp_path) == ["ours.gguf", "ref.gguf"]


@pytest.mark.parametrize("quant", [*FTYPES, "Q2_K_S"])
def test_one_pass_with_an_imatrix_is_byte_identical(ckpts, bf16, imatrix_file, tmp_path, quant):
    ours = convert_checkpoint(
        ckpts["seed_oss"], tmp_path / "ours.gguf", quant=quant, imatrix=imatrix_file
    )
    assert_same(ours, reference(bf16["seed_oss"], tmp_path / "ref.gguf", quant, imatrix_file))


def test_legacy_dat_imatrix_gives_the_same_file(ckpts, bf16, imatrix_file, tmp_path):
    means = read_imatrix(imatrix_file).values
    dat = write_imatrix_dat(tmp_path / "imatrix.dat", means, ncall=4)
    # Q4_0 with an imatrix moves the first ffn_down layers to Q4_1: the flag is used
    ours = convert_checkpoint(ckpts["seed_oss"], tmp_path / "o.gguf", quant="Q4_0", imatrix=dat)
    ref = reference(bf16["seed_oss"], tmp_path / "r.gguf", "Q4_0", dat)
    assert_same(ours, ref)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(ours).tensors}
    assert types["blk.0.ffn_down.weight"] == "F16"  # rows of 272: no 32-block type fits
    assert read_gguf_info(ours).tensor_types["Q4_0"] > 0


def test_f32_checkpoint_is_quantized_from_its_f32_rows(tmp_path):
    src = make_checkpoint(tmp_path / "f32", "seed_oss", "float32", **SEED_OSS)
    f32 = convert_checkpoint(src, tmp_path / "f32.gguf", quant="F32")
    ours = convert_checkpoint(src, tmp_path / "ours.gguf", quant="Q4_K_M")
    assert_same(ours, reference(f32, tmp_path / "ref.gguf", "Q4_K_M"))


def test_q4_k_m_types_follow_llama_cpp(ckpts, tmp_path):
    out = convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="Q4_K_M")
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"
    for i in range(16):
        more = quant_types.use_more_bits(i, 16)
        assert types[f"blk.{i}.attn_v.weight"] == ("Q6_K" if more else "Q4_K")
        assert types[f"blk.{i}.ffn_down.weight"] == "F16"  # 272 % 32 != 0
        assert types[f"blk.{i}.attn_output.weight"] == "Q5_0"  # Q4_K falls back for 192
        assert (
            types[f"blk.{i}.attn_q.bias"] == types[f"blk.{i}.post_attention_norm.weight"] == "F32"
        )
    meta = read_gguf_info(out).metadata
    assert meta["general.file_type"] == 15 and meta["general.quantization_version"] == 2


@pytest.mark.parametrize("kind", ["seed_oss", "llama"])
@pytest.mark.parametrize("quant", FTYPES)
def test_one_pass_files_load_and_generate(ckpts, tmp_path, kind, quant):
    from llama_cpp import Llama

    out = convert_checkpoint(ckpts[kind], tmp_path / "m.gguf", quant=quant)
    llm = Llama(str(out), n_ctx=64, verbose=False, n_threads=1)  # no spinning threads on a busy box
    tokens = []
    for tok in llm.generate([0, 5, 17], temp=0.0):
        tokens.append(tok)
        if len(tokens) == 6:
            break
    llm.close()
    assert len(tokens) == 6 and all(0 <= t < 640 for t in tokens)


def test_a_type_that_needs_an_imatrix_refuses_without_one(ckpts, bf16, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(ckpts["seed_oss"], out / "m.gguf", quant="Q2_K_S")
    assert "importance matrix" in str(err.value) and "--imatrix" in err.value.hint
    assert leftovers(out) == []
    # llama.cpp refuses too
    assert two_pass.llama_quantize(bf16["seed_oss"], tmp_path / "r.gguf", 21) != 0


def test_an_imatrix_for_another_model_is_refused(ckpts, tmp_path):
    bad = write_imatrix_gguf(
        tmp_path / "bad.gguf", {"blk.0.attn_q.weight": np.ones(17)}, {"blk.0.attn_q.weight": [3]}
    )
    with pytest.raises(ConversionError, match="another model"):
        convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="Q4_K_M", imatrix=bad)
    with pytest.raises(ConversionError, match="does not use an importance matrix"):
        convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="F16", imatrix=bad)
    assert leftovers(tmp_path) == ["bad.gguf"]


def test_progress_names_each_tensor_and_its_type(ckpts, tmp_path):
    seen: list[ConvertProgress] = []
    out = convert_checkpoint(
        ckpts["llama"], tmp_path / "m.gguf", quant="Q4_K_M", progress=seen.append
    )
    convert = [p for p in seen if p.stage == "convert"]
    assert [p.stage for p in seen] == ["convert"] * len(convert) + ["done"]
    last = convert[-1]
    assert last.done == last.total == 75 and last.bytes_done == last.bytes_total > 0
    reported = {p.tensor: p.target_type for p in convert}
    assert reported == {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}


def test_cancel_mid_tensor_leaves_no_file(ckpts, tmp_path, monkeypatch):
    monkeypatch.setattr(one_pass, "BLOCK_ELEMENTS", 4096)  # many blocks per tensor
    cancel = threading.Event()
    seen: list[ConvertProgress] = []

    def stop_inside_token_embd(p: ConvertProgress) -> None:
        seen.append(p)
        if p.tensor == "token_embd.weight":  # the third tensor: 640 rows, 40 blocks
            cancel.set()

    with pytest.raises(ConversionCancelled):
        convert_checkpoint(
            ckpts["seed_oss"],
            tmp_path / "m.gguf",
            quant="Q4_K_M",
            progress=stop_inside_token_embd,
            cancel=cancel,
        )
    assert (seen[-1].tensor, seen[-1].done) == ("token_embd.weight", 2)  # stopped mid-tensor
    assert seen[-1].bytes_done < sum(p.bytes_total for p in seen[-1:])
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE stands in for a full disk")
def test_a_full_disk_mid_way_leaves_no_file(ckpts, tmp_path, cli_env):
    size = (
        convert_checkpoint(ckpts["seed_oss"], tmp_path / "full.gguf", quant="Q8_0").stat().st_size
    )
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size // 2}, {size // 2}))\n"
        "from seedchat.converters import convert_checkpoint\n"
        f"convert_checkpoint({str(ckpts['seed_oss'])!r}, {str(out / 'm.gguf')!r}, quant='Q8_0')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, timeout=300
    )
    assert proc.returncode != 0
    assert "ConversionError" in proc.stderr and "File too large" in proc.stderr, proc.stderr[-2000:]
    assert leftovers(out) == []


def test_disk_check_asks_for_the_final_file_only(ckpts, tmp_path, monkeypatch):
    need = disk_needed(ckpts["seed_oss"], "Q4_K_M")
    monkeypatch.setattr(convert_module, "free_bytes", lambda _p: need - 1)
    with pytest.raises(ConversionError, match="Not enough disk space"):
        convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="Q4_K_M")
    assert leftovers(tmp_path) == []
    monkeypatch.setattr(convert_module, "free_bytes", lambda _p: need)
    out = convert_checkpoint(ckpts["seed_oss"], tmp_path / "m.gguf", quant="Q4_K_M")
    reader = gguf.GGUFReader(out)
    data = out.stat().st_size - min(t.data_offset for t in reader.tensors)
    # the tensor data is predicted exactly; the rest is a fixed reserve for metadata and margin
    assert need - convert_module.METADATA_RESERVE - convert_module.DISK_MARGIN == data
    fixed = convert_module.METADATA_RESERVE + convert_module.DISK_MARGIN
    sixteen = disk_needed(ckpts["seed_oss"], "BF16") - fixed
    assert data < sixteen / 2  # no 16-bit file on the way


def test_two_pass_types_still_work_and_say_so(ckpts, tmp_path, caplog):
    seen: list[ConvertProgress] = []
    with caplog.at_level("INFO", logger="seedchat.converters.convert"):
        out = convert_checkpoint(
            ckpts["seed_oss"], tmp_path / "m.gguf", quant="IQ4_XS", progress=seen.append
        )
    assert read_gguf_info(out).quantization == "IQ4_XS"
    assert any("two passes" in p.message for p in seen if p.stage == "quantize")
    assert any("two passes" in r.getMessage() for r in caplog.records)
    assert leftovers(tmp_path) == ["m.gguf"]


def test_cli_imatrix_flag(ckpts, imatrix_file, tmp_path, cli_env):
    out = tmp_path / "m.gguf"
    cmd = [sys.executable, "-m", "seedchat", "convert", str(ckpts["seed_oss"]), "-o", str(out)]
    refused = subprocess.run(
        [*cmd, "--quant", "q2_k_s"], capture_output=True, text=True, env=cli_env, timeout=300
    )
    assert refused.returncode == 1 and "--imatrix" in refused.stderr
    assert "Traceback" not in refused.stderr and not out.exists()
    done = subprocess.run(
        [*cmd, "--quant", "q2_k_s", "--imatrix", str(imatrix_file)],
        capture_output=True,
        text=True,
        env={**cli_env, "COLUMNS": "200"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert read_gguf_info(out).quantization == "Q2_K_S"
