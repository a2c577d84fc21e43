"""tools/make_checkpoint.py: transformers loads what it writes, and its random weights have the
properties spec A.7/A.11 asks for (checked by running transformers on real speech)."""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from dump_reference import n_audio_tokens, prompt_ids, run_stages  # noqa: E402
from make_checkpoint import hub_name, make  # noqa: E402
from ref_audio import read_wav  # noqa: E402
from ref_mel import log_mel_stacked  # noqa: E402

pytestmark = pytest.mark.reference

SPEECH3 = ROOT / "tests" / "data" / "audio" / "speech3s.wav"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    make("tiny", out, seed=0)
    return out


@pytest.fixture(scope="module")
def model(tiny_dir):
    m, info = transformers.GraniteSpeechForConditionalGeneration.from_pretrained(
        tiny_dir, dtype=torch.float32, output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    return m.eval()


def _run(model, tiny_dir, audio):
    tk = tokenizers.Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))
    mel = log_mel_stacked(audio).astype(np.float32)
    c = model.config
    ids = prompt_ids(tk, "base", "can you transcribe the speech into a written format?",
                     c.audio_token_index, n_audio_tokens(mel.shape[0], c.window_size, c.downsample_rate))
    return run_stages(model, mel, ids, 16)


def test_loaded_values_are_the_written_ones(tiny_dir, model):
    from safetensors.torch import load_file

    stored = load_file(str(tiny_dir / "model.safetensors"))
    for name, value in model.state_dict().items():
        assert torch.equal(value, stored[hub_name(name)]), name


def test_seeded_and_deterministic(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    make("tiny", tmp_path / "same", seed=0)
    make("tiny", tmp_path / "other", seed=1)
    a = load_file(str(tiny_dir / "model.safetensors"))
    same = load_file(str(tmp_path / "same" / "model.safetensors"))
    other = load_file(str(tmp_path / "other" / "model.safetensors"))
    assert all(torch.equal(a[k], same[k]) for k in a)
    assert not torch.equal(a["language_model.lm_head.weight"], other["language_model.lm_head.weight"])


def test_nothing_is_left_at_identity(model):
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        v = value.float()
        assert not torch.all(v == 0), name
        assert not torch.all(v == 1), name


def test_random_model_behaves_like_a_model(model, tiny_dir):
    audio = read_wav(SPEECH3)
    r = _run(model, tiny_dir, audio)
    # greedy decoding neither collapses into one token nor sits on near-ties
    assert len(set(r["greedy_ids"].tolist())) >= 8
    assert np.median(r["greedy_margins"]) > 0.1
    # the mid-network CTC softmax is peaky, so dropping self-conditioning changes the output
    enc = model.model.encoder
    mid = torch.from_numpy(r[f"enc_layer_{len(enc.layers) // 2}"])
    with torch.no_grad():
        assert torch.softmax(enc.out(mid), -1).max(-1).values.mean() > 0.3
    # the audio reaches the answer: other speech gives other logits
    other = _run(model, tiny_dir, audio[::-1].copy())
    assert np.abs(other["logits"] - r["logits"]).max() > 0.1


def test_full_standin_tokenizer_has_granite4_layout():
    import standin_tokenizer

    tk = standin_tokenizer.build()
    assert tk.get_vocab_size() == 100353
    for token, wanted in (("<|pad|>", 100256), ("<|end_of_text|>", 100257), ("<|start_of_role|>", 100264),
                          ("<|end_of_role|>", 100265), ("<|audio|>", 100352)):
        assert tk.token_to_id(token) == wanted
    text = "USER: <|audio|>can you transcribe the speech into a written format?\n ASSISTANT:"
    enc = tk.encode(text, add_special_tokens=False)
    assert enc.ids.count(100352) == 1 and max(i for i in enc.ids if i != 100352) < 100256
    assert tk.decode(enc.ids, skip_special_tokens=False) == text
    # GPT-2's pattern keeps "?" and "\n" apart (spec A.9)
    assert enc.tokens[enc.tokens.index("?") + 1] == "Ċ"
    assert standin_tokenizer.build().to_str() == tk.to_str()
