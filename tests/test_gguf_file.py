"""granite_native.gguf_file against the gguf package's own reader: every key's type and value
and every tensor's name, type, shape, offset and bytes, for CrispASR's files, a file from our
converter and a file holding every value type; and the native string-array loop on damaged
arrays. (Damaged headers in general are tested through Model in test_model_load.py.)"""
from pathlib import Path

import gguf
import numpy as np
import pytest

from granite_native import ModelError, _native
from granite_native.convert import convert
from granite_native.gguf_file import GGUFFile, open_gguf

DATA = Path(__file__).parent / "data"
V = gguf.GGUFValueType


def assert_same_as_gguf(path):
    ours, ref = open_gguf(path), gguf.GGUFReader(path)
    assert isinstance(ours, GGUFFile)
    assert ours.version == ref.fields["GGUF.version"].contents()
    assert ours.alignment == ref.alignment
    ref_fields = [f for f in ref.fields.values() if not f.name.startswith("GGUF.")]
    assert list(ours.fields) == [f.name for f in ref_fields]
    for f in ref_fields:
        mine = ours.fields[f.name]
        assert mine.name == f.name and mine.type == f.types[0], f.name
        want = f.contents()
        if f.types[0] != V.ARRAY:
            assert mine.item_type is None
            assert type(mine.value) is type(want) and mine.value == want, f.name
        elif f.types[-1] == V.STRING:
            assert mine.item_type == V.STRING and mine.value == want, f.name
        else:
            assert mine.item_type == f.types[-1], f.name
            assert mine.value.dtype == f.parts[f.data[0]].dtype
            assert not mine.value.flags.writeable
            assert mine.value.tolist() == want, f.name
    assert len(ours.tensors) == len(ref.tensors)
    for mine, t in zip(ours.tensors, ref.tensors):
        assert (mine.name, mine.type, mine.ne, mine.offset, mine.n_bytes) == \
            (t.name, int(t.tensor_type), tuple(int(d) for d in t.shape), int(t.data_offset),
             int(t.n_bytes))
        assert ours.data[mine.offset:mine.offset + mine.n_bytes].tobytes() == t.data.tobytes()
    assert ours.data.dtype == np.uint8 and not ours.data.flags.writeable
    assert ours.data.size == path.stat().st_size
    return ours


@pytest.mark.parametrize("variant", ["f16", "q4_k", "q4_k-f16enc", "q4_k-mini"])
def test_crispasr_files_read_as_gguf_reads_them(variant):
    ours = assert_same_as_gguf(DATA / "crispasr" / f"tiny-{variant}.gguf")
    assert len(ours.fields["tokenizer.ggml.tokens"].value) > 300


def test_converted_file_reads_as_gguf_reads_it(tmp_path):
    path = tmp_path / "tiny.gguf"
    convert(DATA / "tiny-hf", path, "f16")
    assert_same_as_gguf(path)


def test_every_value_type_reads_as_gguf_reads_it(tmp_path):
    path = tmp_path / "values.gguf"
    w = gguf.GGUFWriter(path, "granite_speech")
    scalars = {V.UINT8: 200, V.INT8: -100, V.UINT16: 60000, V.INT16: -30000,
               V.UINT32: 4_000_000_000, V.INT32: -2_000_000_000, V.FLOAT32: 0.1,
               V.BOOL: True, V.UINT64: (1 << 64) - 1, V.INT64: -(1 << 62), V.FLOAT64: 1e300}
    for vtype, value in scalars.items():
        w.add_key_value(f"scalar.{vtype.name}", value, vtype)
        w.add_key_value(f"array.{vtype.name}", [value, value, value], V.ARRAY, vtype)
    w.add_key_value("array.strings", ["", "日本語", "Ġx", "a b"], V.ARRAY, V.STRING)
    w.add_key_value("text", "ünïcode", V.STRING)
    w.add_custom_alignment(64)
    w.add_tensor("a", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    w.add_tensor("b", np.ones(7, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ours = assert_same_as_gguf(path)
    assert ours.alignment == 64 and ours.tensors[0].ne == (4, 3, 2)
    assert ours.fields["scalar.UINT64"].value == (1 << 64) - 1


def test_model_and_tokenizer_share_one_open_file():
    from granite_native import Model
    with Model(DATA / "crispasr" / "tiny-q4_k.gguf", threads=1) as m:
        tokens = m.gguf.fields["tokenizer.ggml.tokens"].value
        assert m.tokenizer.vocab_size == len(tokens)
        assert all(np.shares_memory(w.data, m.gguf.data) for w in m.weights.values())


def string_array(strings):
    return b"".join(len(s).to_bytes(8, "little") + s for s in strings)


def test_native_string_loop_stops_at_a_bad_element():
    good = [b"", b"a", "Ġé日".encode(), b"x" * 300]
    buf = np.frombuffer(b"pad" + string_array(good), np.uint8)
    assert _native.gguf_strings(buf, 3, 4) == ([s.decode() for s in good], buf.size)
    assert _native.gguf_strings(buf, 3, 2) == (["", "a"], 3 + 8 + 9)
    for bad in (string_array(good[:2]) + b"\x05\x00\x00",                 # short length
                string_array(good[:2]) + (1 << 63).to_bytes(8, "little"),  # huge length
                string_array(good[:2]) + (4).to_bytes(8, "little") + b"abc",
                string_array(good[:2] + [b"\xff\xfe"])):                   # not UTF-8
        out, pos = _native.gguf_strings(np.frombuffer(bad, np.uint8), 0, 3)
        assert out == ["", "a"] and pos == 17
    with pytest.raises(ValueError):
        _native.gguf_strings(buf, buf.size + 1, 1)


def test_token_not_utf8_is_named(tmp_path):
    src = DATA / "crispasr" / "tiny-f16.gguf"
    ref = gguf.GGUFReader(src)
    field = ref.fields["tokenizer.ggml.tokens"]
    token = field.parts[field.data[5]]
    start = token.ctypes.data - ref.data.ctypes.data
    raw = bytearray(src.read_bytes())
    assert raw[start:start + token.size] == token.tobytes()
    raw[start] = 0xFF
    path = tmp_path / "bad-token.gguf"
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="element 5 of tokenizer.ggml.tokens .* not valid UTF-8"):
        open_gguf(path)
