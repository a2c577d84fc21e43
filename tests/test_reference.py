"""The reference tooling (tools/) against its golden files and against an independent dump.

Golden files in tests/data/reference/ are regenerated live from the GGUF files with transformers
and must agree to float32 noise; hf-tiny-speech11s.npz was made by other people straight from the
HF checkpoint (torchaudio mel, transformers' own splice and generate), so agreement with it checks
the GGUF->transformers loading, the mel and the prompt independently of this project."""
import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from dump_reference import dump, main, sha256_of  # noqa: E402
from ref_audio import read_wav  # noqa: E402
from ref_mel import log_mel_stacked  # noqa: E402

pytestmark = pytest.mark.reference

DATA = ROOT / "tests" / "data"
REF = DATA / "reference"
SPEECH3 = DATA / "audio" / "speech3s.wav"
SPEECH11 = DATA / "audio" / "speech11s.wav"
VARIANTS = ["tiny-f16", "tiny-q4_k", "tiny-q4_k-f16enc", "tiny-q4_k-mini"]
NEAR_TIE = 1e-4  # top-2 margins below this may flip under float32 reordering (spec A.11)


def _greedy_prefix_len(margins):
    """Steps of a greedy sequence that float noise cannot change: those before the first near tie."""
    ties = np.flatnonzero(margins < NEAR_TIE)
    return int(ties[0]) if ties.size else len(margins)


def _assert_dump_equal(live, golden):
    assert sorted(live) == sorted(golden.files)
    for key in ("prompt_ids",):
        np.testing.assert_array_equal(live[key], golden[key])
    n = _greedy_prefix_len(golden["greedy_margins"])
    np.testing.assert_array_equal(live["greedy_ids"][:n], golden["greedy_ids"][:n])
    for key in golden.files:
        if key in ("prompt_ids", "greedy_ids", "meta_json"):
            continue
        np.testing.assert_allclose(live[key], golden[key], rtol=1e-5, atol=2e-5, err_msg=key)
    meta_live, meta_golden = json.loads(str(live["meta_json"])), json.loads(str(golden["meta_json"]))
    assert meta_live["model_sha256"] == meta_golden["model_sha256"]


@pytest.fixture(scope="module")
def hf_fixture():
    with np.load(REF / "hf-tiny-speech11s.npz") as d:
        return {k: d[k] for k in d.files}


@pytest.mark.parametrize("variant", VARIANTS)
def test_golden_short_clip_regenerates(variant):
    gguf_path = DATA / "crispasr" / f"{variant}.gguf"
    with np.load(REF / f"{variant}-speech3s.npz") as golden:
        meta = json.loads(str(golden["meta_json"]))
        assert meta["model_sha256"] == sha256_of(gguf_path), "golden file is stale: rerun make_fixtures.py"
        _assert_dump_equal(dump(gguf_path, SPEECH3, n_new=len(golden["greedy_ids"])), golden)


def test_golden_long_clip_regenerates():
    with np.load(REF / "tiny-f16-speech11s.npz") as golden:
        live = dump(DATA / "crispasr" / "tiny-f16.gguf", SPEECH11, n_new=len(golden["greedy_ids"]))
        _assert_dump_equal(live, golden)


def test_command_line_writes_the_contract(tmp_path):
    out = tmp_path / "ref.npz"
    main([str(DATA / "crispasr" / "tiny-q4_k.gguf"), str(SPEECH3), str(out), "--new-tokens", "4",
          "--tokenizer", str(DATA / "tiny-hf" / "tokenizer.json")])
    with np.load(out) as got, np.load(REF / "tiny-q4_k-speech3s.npz") as golden:
        assert sorted(got.files) == sorted(golden.files)
        np.testing.assert_array_equal(got["prompt_ids"], golden["prompt_ids"])
        np.testing.assert_array_equal(got["greedy_ids"], golden["greedy_ids"][:4])
        np.testing.assert_allclose(got["logits"], golden["logits"], rtol=1e-5, atol=2e-5)
        assert json.loads(str(got["meta_json"]))["tokenizer"] == "tokenizer.json"


def test_short_clip_is_the_start_of_the_long_one():
    long_audio, short_audio = read_wav(SPEECH11), read_wav(SPEECH3)
    assert short_audio.size == 3 * 16000
    np.testing.assert_array_equal(short_audio, long_audio[:short_audio.size])


def test_mel_matches_transformers_torchaudio_mel(hf_fixture):
    # the fixture's mel is torchaudio's float32 MelSpectrogram via transformers' feature extractor
    mel = log_mel_stacked(read_wav(SPEECH11))
    assert mel.shape == hf_fixture["mel"].shape == (550, 160)
    np.testing.assert_allclose(mel, hf_fixture["mel"], rtol=0, atol=5e-5)
    with np.load(REF / "tiny-f16-speech11s.npz") as golden:
        np.testing.assert_allclose(golden["mel"], hf_fixture["mel"], rtol=0, atol=5e-5)


def test_dump_matches_independent_hf_checkpoint_dump(hf_fixture):
    # tiny-f16.gguf keeps the encoder and projector in F32, so those stages match the HF
    # checkpoint to float32 noise; its LLM matrices are F16-rounded, so logits move slightly.
    live = dump(DATA / "crispasr" / "tiny-f16.gguf", SPEECH11, template="control", n_new=16)
    np.testing.assert_array_equal(live["prompt_ids"], hf_fixture["input_ids"])
    for key in ("enc_input_linear", "encoder_out", "projector_out"):
        np.testing.assert_allclose(live[key], hf_fixture[key], rtol=0, atol=5e-5, err_msg=key)
    logits, ref_logits = live["logits"], hf_fixture["llm_logits_last"]
    np.testing.assert_allclose(logits, ref_logits, rtol=0, atol=2e-3)
    assert np.corrcoef(logits, ref_logits)[0, 1] > 0.9999
    # the independent dump used transformers' generate; the near-tie rule still applies
    ref_ids = hf_fixture["greedy_ids"]
    n = _greedy_prefix_len(live["greedy_margins"])
    assert n >= 12
    np.testing.assert_array_equal(live["greedy_ids"][:n], ref_ids[:n])


def write_silence(path, channels, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(rate // 10 * channels, dtype="<i2").tobytes())
    return path


def test_dump_rejects_wrong_audio_format(tmp_path):
    with pytest.raises(ValueError, match="mono"):
        read_wav(write_silence(tmp_path / "stereo.wav", 2, 16000))
    with pytest.raises(ValueError, match="16000"):
        read_wav(write_silence(tmp_path / "8k.wav", 1, 8000))


def test_float_wav_reads_like_pcm(tmp_path):
    pcm = read_wav(SPEECH3)
    path = tmp_path / "float.wav"
    data = pcm.astype("<f4").tobytes()
    fmt = np.array([3, 1], "<u2").tobytes() + np.array([16000, 64000], "<u4").tobytes() \
        + np.array([4, 32], "<u2").tobytes()
    body = b"WAVE" + b"fmt " + np.uint32(len(fmt)).tobytes() + fmt \
        + b"data" + np.uint32(len(data)).tobytes() + data
    path.write_bytes(b"RIFF" + np.uint32(len(body)).tobytes() + body)
    np.testing.assert_array_equal(read_wav(path), pcm)
