"""`granite-native bench` on the tiny model: the report's structure and internal consistency,
its prompt and forced decode against transformers' dump, its work counts against the gguf
package's view of the file, and the probes against numpy. No timing thresholds: speed depends
on the machine."""
import json
from pathlib import Path

import gguf
import numpy as np
import pytest
from child_process import run_python

from granite_native import _native, parity

DATA = Path(__file__).parent / "data"
MODEL = DATA / "crispasr" / "tiny-f16.gguf"
WAV = DATA / "audio" / "speech11s.wav"
TOKENS, REPEAT = 32, 2
STAGES = ("mel", "encoder", "projector", "prefill", "decode")


@pytest.fixture(scope="module")
def report():
    done = run_python(["-m", "granite_native.cli", "bench", "-m", MODEL, WAV, "--threads", "2",
                       "--tokens", TOKENS, "--repeat", REPEAT, "--json"], timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "reference" / "tiny-f16-speech11s.npz") as z:
        return {k: z[k] for k in z.files}


def test_report_is_complete_and_consistent(report):
    assert report["threads"] == 2 and report["repeat"] == REPEAT
    assert report["decode_tokens"] == TOKENS and len(report["ids"]) == TOKENS
    assert report["audio_seconds"] == pytest.approx(11.0, abs=0.01)
    assert len(report["runs"]) == REPEAT
    for run in report["runs"]:
        assert all(run[s] > 0 for s in STAGES)
        assert run["total"] == pytest.approx(sum(run[s] for s in STAGES))
    for s in STAGES + ("total",):
        values = sorted(run[s] for run in report["runs"])
        median = report["stages_s"][s] if s != "total" else report["total_s"]
        assert values[0] <= median <= values[-1]
    assert report["decode_ms_per_token"] == pytest.approx(
        report["stages_s"]["decode"] / TOKENS * 1e3)
    assert report["rtf"] == pytest.approx(report["total_s"] / report["audio_seconds"])
    assert report["x_realtime"] == pytest.approx(1 / report["rtf"])
    assert report["load_s"] > 0 and report["peak_rss_mib"] > 0
    assert report["load_average"]["before"] >= 0 and report["load_average"]["after"] >= 0
    probes, roof = report["probes"], report["roofline"]
    assert probes["read_gbps"] > 0 and probes["fma_gflops"] > 0
    assert report["matmul_paths"].keys() == {"encoder", "projector", "decoder"}
    assert report["kv_cache"] == ("float32" if report["precision"] == "exact" else "float16")
    assert all(v > 0 for v in probes["numpy_gemm_gflops"].values())
    pairs = roof["decode_bandwidth_pairs"]  # (decode GB/s, its probes' GB/s) per paired run
    assert len(pairs) == REPEAT and all(d > 0 and b > 0 for d, b in pairs)
    assert roof["decode_of_bandwidth"] == pytest.approx(float(np.median([d / b for d, b in pairs])))
    assert probes["read_gbps"] == pytest.approx(float(np.median([b for _, b in pairs])))
    assert roof["encoder_of_fma"] == pytest.approx(roof["encoder_gflops"] / probes["fma_gflops"])
    assert roof["prefill_of_numpy"] == pytest.approx(
        roof["prefill_gflops"] / probes["numpy_gemm_gflops"]["prefill"])


def test_prompt_and_forced_decode_match_transformers(report, reference):
    assert report["mel_frames"] == reference["mel"].shape[0]
    assert report["prompt_tokens"] == len(reference["prompt_ids"])
    audio_id = 383  # the tiny vocabulary's audio placeholder
    assert report["audio_tokens"] == int((reference["prompt_ids"] == audio_id).sum())
    # greedy ids decoded past EOS, compared up to the reference's first near-tie
    ties = np.flatnonzero(reference["greedy_margins"] < parity.NEAR_TIE)
    judged = int(ties[0]) if ties.size else TOKENS
    assert judged > 0
    assert report["ids"][:judged] == reference["greedy_ids"][:judged].tolist()


def test_decode_bytes_are_the_files_matrix_bytes(report):
    """The tiny model's Q4_0/F16 matrices are streamed as stored (no repacked layout)."""
    reader = gguf.GGUFReader(MODEL)
    names = {"output.weight"} | {f"blk.{i}.{n}.weight" for i in range(2) for n in (
        "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
    want = sum(int(t.n_bytes) for t in reader.tensors if t.name in names)
    assert len([t for t in reader.tensors if t.name in names]) == len(names)
    assert report["work"]["decode_weight_bytes"] == want


@pytest.mark.parametrize("isa", [i for i in _native.ISA_NAMES if _native.isa_supported(i)])
def test_probes_against_numpy(isa):
    before = _native.isa_current()
    _native.set_isa(isa)
    try:
        pool = _native.ThreadPool(2)
        buf = np.random.default_rng(0).integers(0, 256, (3 << 20) + 192, dtype=np.uint8)
        want = int(buf.view(np.uint64).sum(dtype=np.uint64))  # wraps mod 2**64 like the probe
        assert _native.probe_read(pool, buf) == want
        with pytest.raises(ValueError):
            _native.probe_read(pool, buf[:100])
        one, two = _native.probe_fma(pool, 1000), _native.probe_fma(pool, 2000)
        assert one > 0 and two == 2 * one
        # VNNI is part of the avx512 and amx levels, maddubs of avx2: 12 chains of byte
        # products x 2 ops
        products = {"amx": 64, "avx512": 64, "avx2": 32}
        if isa in products:
            one, two = _native.probe_int8(pool, 1000), _native.probe_int8(pool, 2000)
            assert one > 0 and one % (1000 * 12 * products[isa] * 2) == 0 and two == 2 * one
        else:
            with pytest.raises(ValueError, match="probe_int8"):
                _native.probe_int8(pool, 1000)
        pool.close()
    finally:
        _native.set_isa(before)


def test_bad_token_count_is_an_error():
    done = run_python(["-m", "granite_native.cli", "bench", "-m", MODEL, WAV, "--tokens", "0"])
    assert done.returncode == 2 and "--tokens" in done.stderr
