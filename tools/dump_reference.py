"""Per-stage float32 reference dump of a granite_speech GGUF, computed by transformers.

    python tools/dump_reference.py MODEL.gguf AUDIO.wav OUT.npz [--tokenizer tokenizer.json]

The model is transformers' GraniteSpeechForConditionalGeneration configured from the GGUF's
granite_speech.* keys and loaded with the GGUF's tensors dequantized by the `gguf` package, so a
quantized file is compared against its own weights. The mel comes from an independent float64
implementation (ref_mel.py). Nothing is folded. The npz layout is the project's parity contract;
tools/README.md lists the keys."""
import argparse
import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ref_audio import read_wav  # noqa: E402
from ref_gguf import GraniteGGUF  # noqa: E402
from ref_mel import log_mel_stacked  # noqa: E402

DEFAULT_INSTRUCTION = "can you transcribe the speech into a written format?"
AUDIO_PLACEHOLDER = "<|audio|>"
TEMPLATES = {
    # 4.1-2b base and 4.0-1b (spec 6.1): no BOS, no system turn.
    "base": "USER: <|audio|>{instruction}\n ASSISTANT:",
    # The plus variant's control-token form with the default system turn (spec 7).
    "control": ("<|start_of_role|>system<|end_of_role|>You are a helpful assistant. Please ensure "
                "responses are professional, accurate, and safe.<|end_of_text|>\n"
                "<|start_of_role|>user<|end_of_role|><|audio|>{instruction}<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>"),
}


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def build_model(gg):
    """transformers model with every parameter overwritten by the GGUF's stored values."""
    import torch
    from transformers import GraniteSpeechForConditionalGeneration
    from transformers.initialization import no_init_weights

    # random init would only be overwritten (the coverage check below makes sure it is)
    with no_init_weights():
        model = GraniteSpeechForConditionalGeneration(gg.hf_config()).float().eval()
    state = model.state_dict()
    loaded = set()
    with torch.no_grad():
        for name, values in gg.weights():
            if name not in state:
                raise ValueError(f"{gg.path}: {name} is not a parameter of transformers' model")
            want = tuple(state[name].shape)
            # GGUF drops trailing unit dims (proj.query is (3, 48) in some files, (1, 3, 48) in HF)
            if want != values.shape and [n for n in want if n != 1] == [n for n in values.shape if n != 1]:
                values = values.reshape(want)
            if want != values.shape:
                raise ValueError(f"{gg.path}: {name} has shape {values.shape}, "
                                 f"transformers expects {want}")
            state[name].copy_(torch.from_numpy(np.array(values)))
            loaded.add(name)
    # BatchNorm's update counter is not a model tensor (unused in eval mode)
    missing = sorted(n for n in set(state) - loaded if not n.endswith("num_batches_tracked"))
    if missing:
        raise ValueError(f"{gg.path}: no tensor for {missing[:5]}{'...' if len(missing) > 5 else ''}")
    return model


def prompt_ids(tokenizer, template, instruction, audio_id, n_audio):
    text = TEMPLATES[template].format(instruction=instruction)
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    if ids.count(audio_id) != 1:
        raise ValueError(f"the tokenizer does not map {AUDIO_PLACEHOLDER} to the audio id {audio_id}")
    at = ids.index(audio_id)
    return np.array(ids[:at] + [audio_id] * n_audio + ids[at + 1:], dtype=np.int32)


def run_stages(model, mel, ids, n_new):
    """Encoder (with per-block taps), projector, spliced prefill and greedy KV-cache decode."""
    import torch

    cfg = model.config
    scaling = float(cfg.text_config.logits_scaling)
    encoder = model.model.encoder
    taps = {}

    def tap(key):
        def hook(_module, _inputs, output):
            # clone: transformers adds the mid-CTC residual to block N/2's output in place
            taps[key] = output[0].detach().clone().numpy()
        return hook

    hooks = [encoder.input_linear.register_forward_hook(tap("enc_input_linear"))]
    hooks += [layer.register_forward_hook(tap(f"enc_layer_{i}"))
              for i, layer in enumerate(encoder.layers, start=1)]
    try:
        with torch.inference_mode():
            enc = encoder(torch.from_numpy(mel)[None]).last_hidden_state
            proj = model.model.projector(enc)
            n_audio = proj.shape[1]
            audio = torch.from_numpy(ids.astype(np.int64)) == cfg.audio_token_index
            if int(audio.sum()) != n_audio:
                raise ValueError(f"prompt has {int(audio.sum())} audio slots, projector gave {n_audio}")
            embed = model.model.language_model.embed_tokens
            embeds = embed(torch.from_numpy(np.where(audio.numpy(), 0, ids).astype(np.int64)))
            embeds[audio] = proj[0]
            out = model(inputs_embeds=embeds[None], use_cache=True, logits_to_keep=1)
            first_logits = out.logits[0, -1].numpy() / scaling
            greedy, margins, logits = [], [], first_logits
            for step in range(n_new):
                top2 = np.sort(logits)[-2:]
                token = int(np.argmax(logits))
                greedy.append(token)
                margins.append(top2[1] - top2[0])
                if step + 1 < n_new:
                    # transformers' own decode path: a generated <|audio|> embeds as id 0 (A.6)
                    out = model(input_ids=torch.tensor([[token]]), cache=out.cache, use_cache=True)
                    logits = out.logits[0, -1].numpy() / scaling
    finally:
        for h in hooks:
            h.remove()
    result = {k: v.astype(np.float32) for k, v in taps.items()}
    result.update(
        encoder_out=enc[0].numpy().astype(np.float32),
        projector_out=proj[0].numpy().astype(np.float32),
        logits=first_logits.astype(np.float32),
        greedy_ids=np.array(greedy, dtype=np.int32),
        greedy_margins=np.array(margins, dtype=np.float32),
    )
    return result


def n_audio_tokens(n_frames, window, downsample):
    return -(-n_frames // window) * (window // downsample)


def dump(model_path, audio_path, tokenizer_path=None, template="base",
         instruction=DEFAULT_INSTRUCTION, n_new=32, threads=None):
    """Return the reference dict for one GGUF and one clip."""
    import tokenizers
    import torch
    import transformers

    if threads:
        torch.set_num_threads(threads)
    gg = GraniteGGUF(model_path)
    if tokenizer_path:
        tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    else:
        tokenizer = gg.tokenizer()
    audio = read_wav(audio_path)
    mel = log_mel_stacked(audio).astype(np.float32)
    cfg_window, cfg_down = gg.hp("window_size"), gg.hp("downsample_rate")
    ids = prompt_ids(tokenizer, template, instruction, gg.hp("audio_token_index"),
                     n_audio_tokens(mel.shape[0], cfg_window, cfg_down))
    model = build_model(gg)
    stages = run_stages(model, mel, ids, n_new)
    meta = {
        "model": str(model_path),
        "model_sha256": sha256_of(model_path),
        "audio": str(audio_path),
        "template": template,
        "instruction": instruction,
        "tokenizer": Path(tokenizer_path).name if tokenizer_path else "gguf (GPT-2 pattern)",
        "new_tokens": n_new,
        "dtype": "float32",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "gguf": importlib.metadata.version("gguf"), "numpy": np.__version__,
                     "tokenizers": tokenizers.__version__},
    }
    return dict(audio=audio, mel=mel, prompt_ids=ids, **stages, meta_json=np.array(json.dumps(meta)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="granite_speech GGUF file")
    ap.add_argument("audio", help="16 kHz mono WAV (16-bit PCM or float)")
    ap.add_argument("out", help="output .npz")
    ap.add_argument("--tokenizer", help="tokenizer.json to use instead of the GGUF's vocabulary")
    ap.add_argument("--template", choices=sorted(TEMPLATES), default="base")
    ap.add_argument("--instruction", default=DEFAULT_INSTRUCTION)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.new_tokens < 1:
        ap.error("--new-tokens must be at least 1")
    result = dump(args.model, args.audio, args.tokenizer, args.template, args.instruction,
                  args.new_tokens, args.threads)
    np.savez_compressed(args.out, **result)


if __name__ == "__main__":
    main()
