"""The whole pipeline against transformers: golden per-stage dumps made from the GGUF files'
own weights (tools/make_fixtures.py), and an independent dump made by the fixture authors
from the Hugging Face checkpoint."""
import json
from pathlib import Path

import numpy as np
import pytest
from child_process import run_python

import granite_native as gn
from granite_native import audio, parity
from granite_native.model import STAGES

DATA = Path(__file__).parent / "data"
VARIANTS = ["f16", "q4_k", "q4_k-f16enc", "q4_k-mini"]
WAV = DATA / "audio" / "speech11s.wav"


def model_path(variant):
    return DATA / "crispasr" / f"tiny-{variant}.gguf"


def load_ref(name):
    with np.load(DATA / "reference" / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module", params=[(v, p) for v in VARIANTS for p in ("exact", "fast")],
                ids=lambda vp: "-".join(vp))
def variant_model(request):
    variant, precision = request.param
    with gn.Model(model_path(variant), threads=2, precision=precision) as m:
        yield variant, m


@pytest.mark.parametrize("clip", ["speech3s"])
def test_stage_parity_against_gguf_weight_reference(variant_model, clip):
    variant, model = variant_model
    stages, greedy, paths = parity.run(model, load_ref(f"tiny-{variant}-{clip}"))
    for s in stages:
        assert s.ok, f"{variant} {s.stage}: cos_min {s.cos_min} < {s.bound}"
    assert greedy.ok, f"{variant}: {greedy.agree} of {greedy.judged} greedy ids agree"
    if model.precision == "exact":
        assert greedy.judged >= 16  # the check really compares a run of tokens
        assert all(p == ["f32"] for p in paths.values()), paths
        assert all(s.bound >= parity.BOUNDS[s.stage] for s in stages)
    elif variant != "f16":
        # the q4_k files' LLM matrices are Q4_K: int8 activations, and bounds relaxed for it
        assert "int8" in paths["decoder"], paths
        assert [s.bound for s in stages if s.stage == "logits"] == [parity.INEXACT_BOUND]


def test_long_clip_parity():
    with gn.Model(model_path("f16"), threads=2, precision="exact") as model:
        stages, greedy, _ = parity.run(model, load_ref("tiny-f16-speech11s"))
    assert all(s.ok for s in stages), stages
    assert greedy.ok and greedy.agree == greedy.n


def test_against_independent_hf_checkpoint_dump():
    """Stages from audio through greedy decoding, against transformers run on the HF
    checkpoint itself (its encoder and projector weights are the GGUF's F32 ones)."""
    ref = load_ref("hf-tiny-speech11s")
    with gn.Model(model_path("f16"), threads=2, precision="exact") as model:
        mel = model.mel(audio.load(WAV))
        enc = model.encode(mel)
        emb = model.project(enc)
        ids = model.prompt_ids(emb.shape[0], template="plus")
        assert ids == [int(i) for i in ref["input_ids"]]
        logits = model.logits(ids, emb)
        r = model.transcribe(WAV, template="plus", max_new_tokens=len(ref["greedy_ids"]))
    assert parity.compare("mel", mel, ref["mel"]).ok
    assert parity.compare("encoder_out", enc, ref["encoder_out"]).ok
    assert parity.compare("projector_out", emb, ref["projector_out"]).ok
    # the LLM matrices are F16-rounded in the GGUF, the reference used float32
    assert parity.compare("logits", logits[None], ref["llm_logits_last"][None]).cos_min > 0.9999
    assert r.tokens == [int(i) for i in ref["greedy_ids"]]


def test_transcribe_result_and_timings():
    with gn.Model(model_path("q4_k"), threads=1) as model:
        r = model.transcribe(WAV, max_new_tokens=5)
        ref = model.transcribe(audio.load(WAV), max_new_tokens=5)  # array input
    assert r.tokens == ref.tokens and len(r.tokens) == 5
    assert r.stop == "max_new_tokens" and "truncated" in r.warnings[0]
    assert r.audio_tokens == 111 and r.prompt_tokens > r.audio_tokens
    assert set(r.timings) >= {"setup", "mel", "encoder", "projector", "prefill", "decode"}
    assert isinstance(r.text, str)


def test_stages_are_built_on_first_use_or_by_build():
    with gn.Model(model_path("q4_k"), threads=1) as model:
        assert not set(STAGES) & set(vars(model))
        model.build()
        assert set(STAGES) <= set(vars(model))


@pytest.mark.parametrize("kwargs,match", [
    (dict(audio=np.zeros(0, np.float32)), "no samples"),
    (dict(audio=np.zeros(100, np.float32)), "accepts 257"),
    (dict(audio=np.array([0.0, np.nan] * 1000, np.float32)), "NaN"),
    (dict(audio=np.zeros(16000 * 600, np.float32)), "KV cache limit"),
    (dict(task="summarize"), "unknown task"),
    (dict(instruction="  "), "empty"),
    (dict(language="xx"), "unknown language"),
    (dict(template="chatml"), "unknown template"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(audio=np.zeros((2, 16000), np.float32)), "1-D"),
    (dict(audio=np.zeros(16000, np.int16)), "float"),
    (dict(audio=np.zeros(8000, np.float32), sample_rate=8000), "16000"),
])
def test_bad_requests_raise_clear_errors(kwargs, match):
    args = dict(audio=WAV)
    args.update(kwargs)
    clip = args.pop("audio")
    with gn.Model(model_path("q4_k"), threads=1) as model:
        with pytest.raises(ValueError, match=match):
            model.transcribe(clip, **args)


def test_cli_transcribe_and_diff(tmp_path):
    cli = ["-m", "granite_native.cli"]
    out = run_python(cli + ["transcribe", WAV, "-m", model_path("q4_k"),
                            "--max-new-tokens", "4", "--json"], check=True)
    assert len(json.loads(out.stdout)[0]["tokens"]) == 4
    ref = DATA / "reference" / "tiny-q4_k-speech3s.npz"
    ok = run_python(cli + ["diff", ref, "-m", model_path("q4_k")])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = load_ref("tiny-q4_k-speech3s")
    broken["encoder_out"] = broken["encoder_out"][:, ::-1].copy()  # a transposed-looking bug
    np.savez(tmp_path / "broken.npz", **broken)
    bad = run_python(cli + ["diff", tmp_path / "broken.npz", "-m", model_path("q4_k"), "--json"])
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert [s["stage"] for s in report["stages"] if not s["ok"]] == ["encoder_out"]
    assert report["precision"] == "fast" and report["kv_cache"] == "float16"


def test_prompt_ids_are_checked():
    with gn.Model(model_path("q4_k"), threads=1) as model:
        emb = model.project(model.encode(model.mel(audio.load(DATA / "audio" / "speech3s.wav"))))
        ids = model.prompt_ids(emb.shape[0])
        with pytest.raises(ValueError, match="outside the vocabulary"):
            model.logits(ids + [model.hparams.llm_vocab_size], emb)
        with pytest.raises(ValueError, match="audio placeholders"):
            model.logits(ids, emb[:-3])


def test_decode_threads():
    """Decode steps on fewer threads give the same tokens (every kernel's result is
    independent of the thread split); a count beyond the pool is refused."""
    with gn.Model(model_path("q4_k"), threads=2) as model:
        want = model.transcribe(WAV, max_new_tokens=8).tokens
    with gn.Model(model_path("q4_k"), threads=2, decode_threads=1) as model:
        assert model.transcribe(WAV, max_new_tokens=8).tokens == want
        assert model.pool.active == 2  # restored after every decode step
    with pytest.raises(ValueError, match="decode_threads must be in 1..2"):
        gn.Model(model_path("q4_k"), threads=2, decode_threads=3)
