"""Importance matrices: both of llama.cpp's formats, read as llama-quantize reads them."""

from __future__ import annotations

import struct

import gguf
import numpy as np
import pytest

from seedchat.converters.imatrix import read_imatrix, write_imatrix_dat, write_imatrix_gguf
from seedchat.errors import ConversionError


def test_gguf_values_are_sums_over_counts_per_expert(tmp_path):
    sums = {
        "blk.0.ffn_down.weight": np.arange(1, 9, dtype=np.float32) * 3,
        "blk.0.ffn_up_exps.weight": np.arange(1, 7, dtype=np.float32).reshape(3, 2),
    }
    counts = {"blk.0.ffn_down.weight": [3.0], "blk.0.ffn_up_exps.weight": [2.0, 0.0, 4.0]}
    path = write_imatrix_gguf(tmp_path / "m.gguf", sums, counts, datasets=["wiki.txt"])
    matrix = read_imatrix(path)
    assert not matrix.legacy and matrix.datasets == ["wiki.txt"] and matrix.chunk_count == 1
    np.testing.assert_array_equal(matrix.values["blk.0.ffn_down.weight"], np.arange(1, 9))
    # an expert that saw no tokens gets 1 (llama-quantize's rule), the others sums / count
    want = np.array([0.5, 1.0, 1.0, 1.0, 1.25, 1.5], np.float32)
    np.testing.assert_array_equal(matrix.values["blk.0.ffn_up_exps.weight"], want)
    # the file is laid out as llama-imatrix writes it
    reader = gguf.GGUFReader(path)
    names = [t.name for t in reader.tensors]
    assert names[:2] == ["blk.0.ffn_down.weight.in_sum2", "blk.0.ffn_down.weight.counts"]
    assert reader.get_field("general.type").contents() == "imatrix"
    assert "general.architecture" not in reader.fields


def test_legacy_dat_values_are_divided_by_ncall(tmp_path):
    means = {"blk.1.attn_q.weight": np.array([0.5, 2.0, 7.25], np.float32)}
    path = write_imatrix_dat(tmp_path / "m.dat", means, ncall=8, chunk_count=8, dataset="x.txt")
    raw = path.read_bytes()
    assert struct.unpack_from("<i", raw)[0] == 1
    stored = np.frombuffer(raw, "<f4", 3, 4 + 4 + 19 + 8)
    np.testing.assert_array_equal(stored, [4.0, 16.0, 58.0])  # mean * ncall, as written
    matrix = read_imatrix(path)
    assert matrix.legacy and matrix.datasets == ["x.txt"] and matrix.chunk_count == 8
    np.testing.assert_array_equal(
        matrix.values["blk.1.attn_q.weight"], means["blk.1.attn_q.weight"]
    )


def test_legacy_dat_without_its_trailer(tmp_path):
    path = tmp_path / "m.dat"  # one entry, ncall 0, no chunk count or dataset after it
    path.write_bytes(struct.pack("<ii8sii4f", 1, 8, b"a.weight", 0, 4, 1.0, 2.0, 3.0, 4.0))
    matrix = read_imatrix(path)
    np.testing.assert_array_equal(matrix.values["a.weight"], [1, 2, 3, 4])  # ncall 0: as stored
    assert matrix.chunk_count == 0 and matrix.datasets == []


def raw_gguf(path, tensors: dict[str, np.ndarray], metadata: bool = True):
    w = gguf.GGUFWriter(path, "imatrix")
    if metadata:
        w.add_array("imatrix.datasets", ["d"])
        w.add_uint32("imatrix.chunk_count", 1)
        w.add_uint32("imatrix.chunk_size", 512)
    for name, data in tensors.items():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


ONES = np.ones((1, 4), np.float32)
BAD = {
    "missing file": (lambda p: p / "nope.gguf", "Cannot read"),
    "truncated dat": (
        lambda p: (p / "t.dat").write_bytes(b"\x01\0\0\0\x05") and p / "t.dat",
        "ends too early",
    ),
    "no metadata": (
        lambda p: raw_gguf(p / "m.gguf", {"x.in_sum2": ONES, "x.counts": ONES[:, :1]}, False),
        "imatrix.* metadata",
    ),
    "sums without counts": (lambda p: raw_gguf(p / "m.gguf", {"x.in_sum2": ONES}), "do not match"),
    "F16 sums": (
        lambda p: raw_gguf(
            p / "m.gguf", {"x.in_sum2": ONES.astype(np.float16), "x.counts": ONES[:, :1]}
        ),
        "must be F32",
    ),
    "no tensors": (lambda p: raw_gguf(p / "m.gguf", {}), "no data"),
    "NaN": (lambda p: write_imatrix_dat(p / "n.dat", {"a": np.array([1.0, np.nan])}), "NaN"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_unusable_files_give_clear_errors(tmp_path, case):
    make, expected = BAD[case]
    path = make(tmp_path)
    with pytest.raises(ConversionError, match=expected) as err:
        read_imatrix(path)
    assert err.value.hint
