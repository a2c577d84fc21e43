"""A byte-level BPE stand-in with the Granite 4 tokenizer's id layout, for random checkpoints.

The real 100353-id vocabulary is not redistributable here; what the runtime must get right is the
layout (100256 regular ids, then the special tokens at their Granite 4 ids) and exact BPE over
byte-level text with GPT-2's pre-tokenizer pattern (spec A.9, A.12). Regular ids 0..255 are the
byte alphabet, then merges learnt from a short built-in text, then merges of seeded random pairs
of existing tokens until 100256 regular ids exist. Deterministic for a given seed."""
import json
import random

N_REGULAR = 100256
VOCAB_SIZE = 100353
SPECIAL = {
    100256: "<|pad|>", 100257: "<|end_of_text|>", 100258: "<|fim_prefix|>",
    100259: "<|fim_middle|>", 100260: "<|fim_suffix|>", 100261: "<|fim_pad|>",
    100262: "<|filename|>", 100263: "<|reponame|>", 100264: "<|start_of_role|>",
    100265: "<|end_of_role|>", 100266: "<|unused_1|>", 100267: "<|start_of_plugin|>",
    100268: "<|end_of_plugin|>", 100269: "<|unk|>", 100352: "<|audio|>",
}
_CORPUS = """USER: can you transcribe the speech into a written format?
 ASSISTANT: and so, my fellow americans, ask not what your country can do for you, ask what you
can do for your country. my fellow citizens of the world, ask not what america will do for you,
but what together we can do for the freedom of man.
transcribe the speech with proper punctuation and capitalization.
translate the speech to English. translate the speech to English with proper punctuation.
You are a helpful assistant. Please ensure responses are professional, accurate, and safe.
"""


def _special_name(i):
    return SPECIAL.get(i, f"<|reserved_{i - N_REGULAR}|>")


def build(seed=0):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    learner = Tokenizer(models.BPE())
    learner.pre_tokenizer = byte_level
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    learner.train_from_iterator(
        [_CORPUS] * 4,
        trainers.BpeTrainer(vocab_size=N_REGULAR, initial_alphabet=alphabet, show_progress=False))
    model = json.loads(learner.to_str())["model"]
    vocab = {tok: i for tok, i in sorted(model["vocab"].items(), key=lambda kv: kv[1])}
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]

    rng = random.Random(seed)
    tokens = sorted(vocab, key=vocab.get)
    while len(tokens) < N_REGULAR:
        left = tokens[rng.randrange(len(tokens))]
        pool = alphabet if rng.random() < 0.5 else tokens
        right = pool[rng.randrange(len(pool))]
        if left + right in vocab or len(left + right) > 16:
            continue
        vocab[left + right] = len(tokens)
        tokens.append(left + right)
        merges.append((left, right))

    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tk.pre_tokenizer = byte_level
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(_special_name(i), special=True, normalized=False)
                           for i in range(N_REGULAR, VOCAB_SIZE)])
    assert tk.get_vocab_size() == VOCAB_SIZE
    return tk
