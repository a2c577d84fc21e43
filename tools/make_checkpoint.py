"""Write a random-weight granite-speech checkpoint that transformers loads as
GraniteSpeechForConditionalGeneration.

    python tools/make_checkpoint.py --config tiny OUT_DIR     # dims of tests/data/tiny-hf, float32
    python tools/make_checkpoint.py --config small OUT_DIR    # dims of tools/small-hf, float32
    python tools/make_checkpoint.py --config full OUT_DIR     # 4.1-2b dims (2.3 G params), bf16

Weights follow ref_init.py (seeded, deterministic). Tensors use the Hub layout (encoder.*,
projector.*, language_model.model.*, language_model.lm_head.weight). The full checkpoint is made
one tensor at a time into ~2 GB safetensors shards, so memory stays near one shard."""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
from ref_init import init_tensor  # noqa: E402

# configs whose tokenizer files are copied as they are (the full one builds a stand-in)
HF_DIRS = {"tiny": TOOLS.parent / "tests" / "data" / "tiny-hf", "small": TOOLS / "small-hf"}
CONFIGS = {**{k: d / "config.json" for k, d in HF_DIRS.items()},
           "full": TOOLS / "config-4.1-2b.json"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                        "processor_config.json")
SHARD_BYTES = 2 * 1024 ** 3


def hub_name(name):
    """transformers' in-memory parameter path -> the name the Hub checkpoints use."""
    if name == "lm_head.weight":
        return "language_model.lm_head.weight"
    if name.startswith("model.language_model."):
        return "language_model.model." + name[len("model.language_model."):]
    if name.startswith("model."):
        return name[len("model."):]
    raise KeyError(name)


def parameter_shapes(cfg):
    """(name, shape) of every stored tensor, from a model built on the meta device (no memory)."""
    import torch
    from transformers import GraniteSpeechForConditionalGeneration

    with torch.device("meta"):
        model = GraniteSpeechForConditionalGeneration(cfg)
    return [(n, tuple(t.shape)) for n, t in model.state_dict().items()]


def write_weights(cfg, out_dir, dtype, seed, sharded):
    from safetensors.torch import save_file

    shapes = parameter_shapes(cfg)
    shard, shard_bytes, shards, weight_map, total = {}, 0, [], {}, 0

    def flush():
        nonlocal shard, shard_bytes
        if shard:
            index = len(shards) + 1
            fname = f"model-{index:05d}.safetensors" if sharded else "model.safetensors"
            save_file(shard, str(out_dir / fname), metadata={"format": "pt"})
            shards.append((fname, list(shard)))
            shard, shard_bytes = {}, 0

    for name, shape in shapes:
        values = init_tensor(name, shape, cfg, seed)
        if values.is_floating_point():
            values = values.to(dtype)
        nbytes = values.numel() * values.element_size()
        if sharded and shard and shard_bytes + nbytes > SHARD_BYTES:
            flush()
        shard[hub_name(name)] = values.contiguous()
        shard_bytes += nbytes
        total += nbytes
    flush()
    if sharded:
        n = len(shards)
        for i, (fname, names) in enumerate(shards, start=1):
            final = f"model-{i:05d}-of-{n:05d}.safetensors"
            (out_dir / fname).rename(out_dir / final)
            weight_map.update({k: final for k in names})
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return sum(1 for _ in shapes)


def write_tokenizer(which, out_dir, text_cfg):
    if which in HF_DIRS:
        for fname in TOKENIZER_FILES:
            shutil.copyfile(HF_DIRS[which] / fname, out_dir / fname)
        return
    import standin_tokenizer

    standin_tokenizer.build().save(str(out_dir / "tokenizer.json"))
    special = standin_tokenizer.SPECIAL
    tok_cfg = {
        "backend": "tokenizers", "tokenizer_class": "TokenizersBackend",
        "bos_token": special[text_cfg["bos_token_id"]], "eos_token": special[text_cfg["eos_token_id"]],
        "pad_token": special[text_cfg["pad_token_id"]], "unk_token": "<|unk|>",
        "clean_up_tokenization_spaces": False, "model_max_length": 131072,
        "padding_side": "left", "processor_class": "GraniteSpeechProcessor",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
    shutil.copyfile(HF_DIRS["tiny"] / "processor_config.json", out_dir / "processor_config.json")


def make(which, out_dir, seed=0):
    import torch
    from transformers import GraniteSpeechConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = json.loads(CONFIGS[which].read_text())
    cfg = GraniteSpeechConfig(**raw)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[raw["dtype"]]
    (out_dir / "config.json").write_text(json.dumps(raw, indent=2) + "\n")
    tc = raw["text_config"]
    gen = {"bos_token_id": tc["bos_token_id"], "eos_token_id": tc["eos_token_id"],
           "pad_token_id": tc["pad_token_id"], "do_sample": False, "num_beams": 1}
    (out_dir / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    write_tokenizer(which, out_dir, tc)
    return write_weights(cfg, out_dir, dtype, seed, sharded=(which == "full"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("out_dir")
    args = ap.parse_args(argv)
    t0 = time.time()
    n = make(args.config, args.out_dir, args.seed)
    print(f"wrote {n} tensors to {args.out_dir} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
