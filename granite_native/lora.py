"""Folds a PEFT LoRA adapter shipped beside a checkpoint into its base weights:
W + (alpha / r) * B @ A, so the runtime needs no adapter support. Granite-speech enables its
adapter whenever audio is present, which is always the case for transcription."""
import math
import os

import numpy as np

from .errors import ModelError
from .hf_tokenizer import read_json
from .safetensors_file import SafetensorsFile

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
_PEFT_PREFIX = "base_model.model."
_SUFFIXES = {".lora_A.weight": "A", ".lora_B.weight": "B"}


def read_adapter(model_dir, base_shapes):
    """{base tensor name: (A, B, scale)} for the adapter in model_dir, or {} when there is none.
    base_shapes maps checkpoint tensor names to shapes; every adapter pair must match one."""
    config_path = os.path.join(model_dir, CONFIG_NAME)
    weights_path = os.path.join(model_dir, WEIGHTS_NAME)
    has_config, has_weights = os.path.exists(config_path), os.path.exists(weights_path)
    if not (has_config or has_weights):
        return {}
    if not (has_config and has_weights):
        present, absent = (config_path, WEIGHTS_NAME) if has_config else (weights_path, CONFIG_NAME)
        raise ModelError(present, f"LoRA adapter is incomplete: {absent} is missing")
    scale = _scale(read_json(config_path), config_path)

    adapter = SafetensorsFile(weights_path)
    pairs = {}
    for name in adapter.names():
        base = name[len(_PEFT_PREFIX):] if name.startswith(_PEFT_PREFIX) else name
        for suffix, part in _SUFFIXES.items():
            if base.endswith(suffix):
                base = base[:-len(suffix)] + ".weight"
                pairs.setdefault(base, {})[part] = np.asarray(adapter.tensor(name), np.float32)
                break
        else:
            raise ModelError(weights_path, f"unsupported adapter tensor {name!r} "
                                           "(only lora_A/lora_B weights can be folded)")
    folded = {}
    for base, ab in pairs.items():
        if len(ab) != 2:
            raise ModelError(weights_path, f"{base}: LoRA pair lacks lora_{'B' if 'A' in ab else 'A'}")
        if base not in base_shapes:
            raise ModelError(weights_path,
                             f"LoRA targets {base!r}, which is not a converted checkpoint tensor")
        a, b = ab["A"], ab["B"]
        if (a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]
                or (b.shape[0], a.shape[1]) != tuple(base_shapes[base])):
            raise ModelError(weights_path, f"{base}: LoRA shapes B {b.shape} @ A {a.shape} "
                                           f"do not give {tuple(base_shapes[base])}")
        folded[base] = (a, b, scale)
    return folded


def _scale(config, path):
    if not isinstance(config, dict):
        raise ModelError(path, "not a JSON object")
    if config.get("use_dora"):
        raise ModelError(path, "DoRA adapters cannot be folded as a plain low-rank update")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ModelError(path, "per-module rank_pattern/alpha_pattern is not supported")
    r, alpha = config.get("r"), config.get("lora_alpha")
    if not (isinstance(r, int) and r > 0 and isinstance(alpha, (int, float))):
        raise ModelError(path, f"needs a positive integer r and a numeric lora_alpha, got r={r!r}, "
                               f"lora_alpha={alpha!r}")
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def fold(weight, a, b, scale):
    """weight + scale * (b @ a) in float32, the order CrispASR's converter uses."""
    delta = (b @ a) * np.float32(scale)
    return np.asarray(weight, np.float32) + delta
