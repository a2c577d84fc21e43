"""Reads a Hugging Face byte-level BPE tokenizer into the three GGUF tokenizer values:
the token strings by id, the merges in rank order, and the pre-tokenizer."""
import json
import os

from .errors import ModelError

# The name llama.cpp gives GPT-2's own pre-tokenizer regex.
GPT2_PRE = "gpt2"


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ModelError(path, f"cannot read: {e.strerror or e}") from e
    except ValueError as e:
        raise ModelError(path, f"not valid JSON: {e}") from e


def read_tokenizer(model_dir, n_vocab):
    """(tokens, merges, pre) as CrispASR's converter derives tokens and merges: vocab.json and
    merges.txt when present, else tokenizer.json; ids in tokenizer_config.json's
    added_tokens_decoder take their literal text; ids nobody names are empty strings.
    pre is None when only vocab.json/merges.txt exist, since they do not say."""
    vocab_path = os.path.join(model_dir, "vocab.json")
    tj_path = os.path.join(model_dir, "tokenizer.json")
    tj = read_json(tj_path) if os.path.exists(tj_path) else None
    if tj is not None and not isinstance(tj, dict):
        raise ModelError(tj_path, "not a JSON object")
    if os.path.exists(vocab_path):
        source, vocab = vocab_path, read_json(vocab_path)
        merges = _merges_txt(os.path.join(model_dir, "merges.txt"))
    elif tj is not None:
        source, (vocab, merges) = tj_path, _bpe_from_tokenizer_json(tj, tj_path)
    else:
        raise ModelError(model_dir, "no tokenizer: neither vocab.json nor tokenizer.json")
    if not isinstance(vocab, dict):
        raise ModelError(source, "vocab is not a JSON object")

    tokens = [""] * n_vocab
    for text, tid in vocab.items():
        if not isinstance(tid, int):
            raise ModelError(source, f"token {text!r} has non-integer id {tid!r}")
        if 0 <= tid < n_vocab:
            tokens[tid] = text
    config_path = os.path.join(model_dir, "tokenizer_config.json")
    if os.path.exists(config_path):
        decoder = read_json(config_path)
        decoder = decoder.get("added_tokens_decoder", {}) if isinstance(decoder, dict) else None
        if not isinstance(decoder, dict):
            raise ModelError(config_path, "added_tokens_decoder is not a JSON object")
        for tid, info in decoder.items():
            try:
                tid, text = int(tid), info["content"]
            except (ValueError, TypeError, KeyError):
                raise ModelError(config_path, f"bad added_tokens_decoder entry {tid!r}") from None
            if 0 <= tid < n_vocab:
                tokens[tid] = text
    pre = _pre_tokenizer(tj.get("pre_tokenizer"), tj_path) if tj is not None else None
    return tokens, merges, pre


def _merges_txt(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise ModelError(path, f"vocab.json needs merges.txt beside it: {e.strerror or e}") from e
    # Only the first line can be the "#version" header: later lines starting with '#' are real
    # merges of '#' tokens.
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    return [line for line in lines if line]


def _bpe_from_tokenizer_json(tj, path):
    model = tj.get("model")
    kind = model.get("type") if isinstance(model, dict) else None
    if kind != "BPE":
        raise ModelError(path, f"tokenizer model is {kind!r}, not BPE")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise ModelError(path, "model.vocab is not a JSON object")
    vocab = dict(vocab)
    merges = []
    for m in model.get("merges") or []:
        if isinstance(m, list) and len(m) == 2 and all(isinstance(s, str) for s in m):
            merges.append(" ".join(m))
        elif isinstance(m, str):
            merges.append(m)
        else:
            raise ModelError(path, f"bad merge entry {m!r}")
    # added_tokens may sit above model.vocab's range (the special tokens do).
    for tok in tj.get("added_tokens") or []:
        if tok.get("id") is not None and tok.get("content") is not None:
            vocab[tok["content"]] = tok["id"]
    return vocab, merges


def _pre_tokenizer(pre, path):
    """The Split regex of a byte-level pre-tokenizer, or "gpt2" for ByteLevel's built-in regex.
    Anything else cannot be described by one regex, so it is refused rather than guessed."""
    is_sequence = isinstance(pre, dict) and pre.get("type") == "Sequence"
    steps = pre.get("pretokenizers") if is_sequence else [pre]
    steps = steps if isinstance(steps, list) and all(isinstance(s, dict) for s in steps) else []
    kinds = [s.get("type") for s in steps]
    # A prefix space changes the pieces themselves, which no regex can express.
    if kinds and kinds[-1] == "ByteLevel" and not steps[-1].get("add_prefix_space"):
        byte_regex = steps[-1].get("use_regex", True)
        if kinds == ["ByteLevel"] and byte_regex:
            return GPT2_PRE
        if kinds == ["Split", "ByteLevel"] and not byte_regex:
            split = steps[0]
            pattern = split.get("pattern")
            regex = pattern.get("Regex") if isinstance(pattern, dict) else None
            if (isinstance(regex, str) and split.get("behavior") == "Isolated"
                    and not split.get("invert")):
                return regex
    raise ModelError(path, "unsupported pre_tokenizer (expected ByteLevel, or an isolating Split "
                           "regex followed by ByteLevel without its regex, and no prefix space): "
                           + json.dumps(pre))
