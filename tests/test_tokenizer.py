"""The runtime tokenizer against Hugging Face `tokenizers`, and against the real cl100k ids of
the granite prompt (spec 1.3, A.9, A.12)."""
import json
import random
import string
from pathlib import Path

import gguf
import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import pre_tokenizers

from granite_native.errors import ModelError
from granite_native.gguf_file import open_gguf
from granite_native.tokenizer import BYTE_CHARS, Tokenizer
from granite_native.transcript import transcript_text

DATA = Path(__file__).parent / "data"
TINY_GGUF = DATA / "crispasr" / "tiny-f16.gguf"
TINY_JSON = DATA / "tiny-hf" / "tokenizer.json"
CL100K = DATA / "cl100k_subset.json"

INSTRUCTIONS = [
    "can you transcribe the speech into a written format?",
    "transcribe the speech with proper punctuation and capitalization.",
    "translate the speech to English.",
    "translate the speech to English with proper punctuation and capitalization.",
    "can you translate the speech to French?",
    "can you transcribe the speech into Japanese?",
    "can you transcribe the speech into a written format? Keywords: Kubernetes,granite,IBM",
    "Timestamps: transcribe with word end times.",
]
SYSTEM = "You are a helpful assistant. Please ensure responses are professional, accurate, and safe."
SPECIALS = ["<|audio|>", "<|end_of_text|>", "<|start_of_role|>", "<|end_of_role|>", "<|pad|>",
            "<|fim_prefix|>", "<|unk|>"]
NEAR_SPECIALS = ["<|audio", "audio|>", "<|", "|>", "<|audio|", "<audio|>", "<<|audio|>>",
                 "<||>", "<| audio |>", "<|AUDIO|>", "<|audio|><|audio|>"]
WORDS = [
    # French, German, Spanish, Portuguese
    "l'été", "Ça", "déjà", "où", "garçon", "œuvre", "naïve", "Noël", "À", "bientôt", "hôpital",
    "Straße", "Größe", "über", "Mädchen", "ÄÖÜ", "schön", "Fußgängerübergänge",
    "¿Qué", "año", "niño", "mañana", "¡Olá!", "está", "pingüino", "ÑANDÚ",
    "ação", "não", "coração", "você", "avó", "português", "pão",
    # Japanese, Chinese, Korean
    "日本語", "こんにちは", "カタカナ", "東京都", "ありがとうございます", "漢字かな交じり文", "ｶﾀｶﾅ",
    "。", "、", "「引用」", "中文", "你好，世界", "한국어", "안녕하세요",
    # other scripts, marks, digits
    "Привет", "мир", "Ελληνικά", "العربية", "שלום", "हिन्दी", "नमस्ते", "ไทย", "e\u0301",
    "٣٤٥", "१२३", "½", "²", "Ⅻ", "①",
    # emoji
    "😀", "🎉🎉", "👍🏽", "👩‍💻", "🇫🇷", "❤️", "🤖",
]
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \n\n ",
              "\u00a0", "\u3000", "\u2009", "\u2028", "\x0b", "\x0c", "\x85", "\x1c", "\u200b",
              "\ufeff"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL",
                "'D", "'x", "''s", "'"]
PUNCT = list("!\"#$%&()*+,-./:;=?@[\\]^_`{|}~") + ["...", "?!", "--", "://", "'''", "$1,000.50"]


def legacy_prompt(instruction, n_audio):
    return "USER: " + "<|audio|>" * n_audio + instruction + "\n ASSISTANT:"


def plus_prompt(instruction, n_audio):
    return ("<|start_of_role|>system<|end_of_role|>" + SYSTEM + "<|end_of_text|>\n"
            "<|start_of_role|>user<|end_of_role|>" + "<|audio|>" * n_audio + instruction
            + "<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>")


def make_strings():
    rng = random.Random(20261125)
    out = [legacy_prompt(i, n) for i in INSTRUCTIONS for n in (0, 1, 3)]
    out += [plus_prompt(i, n) for i in INSTRUCTIONS for n in (1, 2)]
    out += ["", " ", "\n", "USER: ", " ASSISTANT:", "\n ASSISTANT:", "a", "ab", "hello world"]

    def ascii_text():
        alphabet = string.ascii_letters + string.digits + string.punctuation + " \t\n\r"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))

    def runs():
        parts = []
        for _ in range(rng.randint(1, 8)):
            kind = rng.randrange(5)
            n = rng.randint(1, 12)
            parts.append([" " * n, "\n" * n, rng.choice(string.digits) * n
                          + "".join(rng.choice(string.digits) for _ in range(n)),
                          "".join(rng.choice(string.ascii_lowercase) for _ in range(n)),
                          rng.choice(WHITESPACE) * rng.randint(1, 3)][kind])
        return "".join(parts)

    def contractions():
        words = ["I", "you", "we", "they", "it", "don", "can", "that", "JOHN", "she"]
        return " ".join(rng.choice(words) + rng.choice(CONTRACTIONS)
                        for _ in range(rng.randint(1, 6)))

    def fragment():
        pool = rng.choice([WORDS, WHITESPACE, CONTRACTIONS, PUNCT, SPECIALS, NEAR_SPECIALS,
                           ["can", " you", "speech", "ASSISTANT", "USER", "written", " the"]])
        return rng.choice(pool)

    def mixed():
        return "".join(fragment() if rng.random() < 0.7 else rng.choice([" ", ""])
                       + ascii_text()[:rng.randint(1, 8)] for _ in range(rng.randint(1, 12)))

    def sentence():
        sep = rng.choice([" ", " ", ", ", "\n", "  ", "\t"])
        return sep.join(rng.choice(WORDS) for _ in range(rng.randint(1, 10)))

    for gen in (ascii_text, runs, contractions, mixed, sentence):
        out += [gen() for _ in range(600)]
    return out


def write_tokenizer_gguf(path, tokens, merges, pre=None):
    w = gguf.GGUFWriter(path, "granite_speech")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    return path


def gguf_strings(reader, key):
    field = reader.fields[key]
    return [field.parts[i].tobytes().decode("utf-8") for i in field.data]


@pytest.fixture(scope="module")
def tiny_vocab():
    reader = gguf.GGUFReader(TINY_GGUF)
    return gguf_strings(reader, "tokenizer.ggml.tokens"), gguf_strings(reader, "tokenizer.ggml.merges")


@pytest.fixture(scope="module")
def hf():
    return HFTokenizer.from_file(str(TINY_JSON))


@pytest.fixture(scope="module")
def split_regex():
    pre = json.loads(TINY_JSON.read_text())["pre_tokenizer"]["pretokenizers"][0]
    assert pre["type"] == "Split" and pre["behavior"] == "Isolated" and not pre["invert"]
    return pre["pattern"]["Regex"]


@pytest.fixture(scope="module")
def tok(tmp_path_factory, tiny_vocab, split_regex):
    path = tmp_path_factory.mktemp("tok") / "tokenizer-only.gguf"
    return Tokenizer.from_gguf(write_tokenizer_gguf(path, *tiny_vocab, pre=split_regex))


@pytest.fixture(scope="module")
def strings():
    return make_strings()


def mismatches(ours, hf_tok, texts):
    expected = [e.ids for e in hf_tok.encode_batch(texts, add_special_tokens=False)]
    return [(s, ours.encode(s), e) for s, e in zip(texts, expected) if ours.encode(s) != e]


def test_encode_matches_hf_with_recorded_split_regex(tok, hf, strings):
    assert len(strings) > 3000
    bad = mismatches(tok, hf, strings)
    assert not bad, f"{len(bad)} strings differ, first: {bad[:3]}"


def test_decode_round_trips_and_matches_hf(tok, hf, strings):
    bad = [s for s in strings if tok.decode(tok.encode(s)) != s]
    assert not bad, f"{len(bad)} strings do not round-trip, first: {bad[:3]!r}"
    ids = [tok.encode(s) for s in strings[:500]]
    assert [tok.decode(i) for i in ids] == hf.decode_batch(ids, skip_special_tokens=False)


def test_gpt2_pattern_matches_hf_byte_level(tmp_path, tiny_vocab, strings):
    hf_gpt2 = HFTokenizer.from_file(str(TINY_JSON))
    hf_gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    for pre in (None, "gpt2"):
        ours = Tokenizer.from_gguf(write_tokenizer_gguf(tmp_path / f"{pre}.gguf", *tiny_vocab,
                                                        pre=pre))
        bad = mismatches(ours, hf_gpt2, strings)
        assert not bad, f"pre={pre}: {len(bad)} strings differ, first: {bad[:3]}"
    direct = Tokenizer(*tiny_vocab)
    assert not mismatches(direct, hf_gpt2, strings[:300])


def test_the_two_patterns_really_differ(tok, tiny_vocab, hf, strings):
    # Guards the tests above: they only show the recorded key is honoured if the two patterns
    # give different ids for some of the strings.
    hf_gpt2 = HFTokenizer.from_file(str(TINY_JSON))
    hf_gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    assert len(mismatches(tok, hf_gpt2, strings)) > 50
    assert Tokenizer(*tiny_vocab).encode("x.\n y") != tok.encode("x.\n y")


def test_decode_of_arbitrary_ids_matches_hf(tok, hf):
    # Random ids split multi-byte characters, so this covers invalid UTF-8 too.
    rng = random.Random(7)
    seqs = [[rng.randrange(tok.vocab_size) for _ in range(rng.randint(1, 12))] for _ in range(2000)]
    assert [tok.decode(s) for s in seqs] == hf.decode_batch(seqs, skip_special_tokens=False)
    assert any("\ufffd" in tok.decode(s) for s in seqs)


def test_skip_special(tok, hf):
    audio, eot = tok.token_to_id("<|audio|>"), tok.token_to_id("<|end_of_text|>")
    assert {audio, eot} <= tok.special_ids
    assert tok.special_ids == {i for i in range(tok.vocab_size)
                               if tok.id_to_token(i).startswith("<|")
                               and tok.id_to_token(i).endswith("|>")}
    ids = tok.encode(" hello") + [audio, eot] + tok.encode(" wörld<|pad|>")
    assert tok.decode(ids, skip_special=True) == hf.decode(ids, skip_special_tokens=True)
    assert tok.decode(ids) == " hello<|audio|><|end_of_text|> wörld<|pad|>"


def test_decode_stream_holds_back_partial_characters(tok, strings):
    text = "é日😀"
    ids = tok.encode(text)
    assert len(ids) > 3  # the tiny vocabulary spells these byte by byte
    stream = tok.decode_stream()
    pieces = [stream.push(i) for i in ids]
    assert "".join(pieces) + stream.finish() == text
    assert all("\ufffd" not in p for p in pieces)
    assert pieces[0] == ""
    for s in strings[:400]:
        stream = tok.decode_stream(skip_special=True)
        ids = tok.encode(s)
        out = "".join(stream.push(i) for i in ids) + stream.finish()
        assert out == tok.decode(ids, skip_special=True)
    stream = tok.decode_stream()
    assert stream.push(tok.encode("é")[0]) == ""
    assert stream.finish() == "\ufffd"


def test_transcript_text(tok, hf):
    eos = tok.token_to_id("<|end_of_text|>")
    ids = tok.encode(" \n  and so, my fellow <|audio|>americans ") + [eos]
    expected = hf.decode([i for i in ids if i != eos], skip_special_tokens=True).lstrip(" \n")
    assert expected == "and so, my fellow americans "
    assert transcript_text(tok, ids, eos) == expected
    assert transcript_text(tok, [eos], eos) == ""


@pytest.fixture(scope="module")
def cl100k():
    return json.loads(CL100K.read_text(encoding="utf-8"))


def cl100k_vocab(fixture):
    tokens = [""] * fixture["vocab_size"]
    for i, t in fixture["tokens"].items():
        tokens[int(i)] = t
    return tokens, fixture["merges"]


def test_real_granite_prompt_ids(tmp_path, cl100k):
    path = write_tokenizer_gguf(tmp_path / "cl100k.gguf", *cl100k_vocab(cl100k))
    # A model loader hands over its open file rather than have it read twice.
    tok = Tokenizer.from_gguf(open_gguf(path))
    assert tok.vocab_size == 100353
    # Spec 1.3: the ids CrispASR hard-codes for the real 4.1-2b model.
    assert tok.encode("USER: ") == [6584, 25, 220]
    suffix = [4919, 499, 1380, 3191, 279, 8982, 1139, 264, 5439, 3645, 30, 198, 36660, 3931, 2891, 25]
    assert tok.encode("can you transcribe the speech into a written format?\n ASSISTANT:") == suffix
    assert tok.encode(legacy_prompt(INSTRUCTIONS[0], 3)) == [6584, 25, 220] + [100352] * 3 + suffix
    assert tok.decode([6584, 25, 220, 100352] + suffix) == legacy_prompt(INSTRUCTIONS[0], 1)
    for text, ids in cl100k["expected"]["gpt2"].items():
        assert tok.encode(text) == ids, text
        assert tok.decode(ids) == text


def test_split_pattern_merges_question_mark_and_newline(cl100k):
    tok = Tokenizer(*cl100k_vocab(cl100k), pre=cl100k["patterns"]["split"])
    # Spec A.9: a cl100k-style pattern keeps "?\n" together, as token 5380.
    suffix = [4919, 499, 1380, 3191, 279, 8982, 1139, 264, 5439, 3645, 5380, 36660, 3931, 2891, 25]
    assert tok.encode("can you transcribe the speech into a written format?\n ASSISTANT:") == suffix
    for text, ids in cl100k["expected"]["split"].items():
        assert tok.encode(text) == ids, text


def test_missing_tokenizer_keys(tmp_path):
    path = tmp_path / "empty.gguf"
    w = gguf.GGUFWriter(path, "granite_speech")
    w.add_uint32("granite_speech.llm.vocab_size", 5)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    with pytest.raises(ModelError, match="tokenizer.ggml.tokens"):
        Tokenizer.from_gguf(path)


def test_wrongly_typed_tokens(tmp_path):
    path = tmp_path / "ints.gguf"
    w = gguf.GGUFWriter(path, "granite_speech")
    w.add_array("tokenizer.ggml.tokens", [1, 2, 3])
    w.add_token_merges([])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    with pytest.raises(ModelError, match="not an array of strings"):
        Tokenizer.from_gguf(path)


def test_not_a_gguf(tmp_path):
    path = tmp_path / "junk.gguf"
    path.write_bytes(b"definitely not a gguf file")
    with pytest.raises(ModelError, match="not a GGUF file"):
        Tokenizer.from_gguf(path)


def test_bad_merges_and_vocab(tmp_path, tiny_vocab):
    tokens, merges = tiny_vocab
    with pytest.raises(ValueError, match="'Ġ zzz'.*'zzz'"):
        Tokenizer(tokens, merges + ["Ġ zzz"])
    with pytest.raises(ValueError, match="not two tokens"):
        Tokenizer(tokens, ["Ġ t h"])
    with pytest.raises(ValueError, match="byte"):
        Tokenizer(tokens[1:], [])
    with pytest.raises(ModelError, match="'Ġ zzz'"):
        Tokenizer.from_gguf(write_tokenizer_gguf(tmp_path / "m.gguf", tokens, merges + ["Ġ zzz"]))


def test_bad_pre_tokenizer(tiny_vocab):
    with pytest.raises(ValueError, match="unknown pre-tokenizer name 'llama-bpe'"):
        Tokenizer(*tiny_vocab, pre="llama-bpe")
    with pytest.raises(ValueError, match="does not compile"):
        Tokenizer(*tiny_vocab, pre=r"\p{L}+(")


def test_bad_ids(tok):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([0, tok.vocab_size])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.id_to_token(-1)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.token_to_id("<|nope|>")


def test_long_input_is_fast(tok):
    import time

    text = "a" * 20000 + " " * 20000 + "é" * 5000
    t = time.perf_counter()
    assert tok.decode(tok.encode(text)) == text
    assert time.perf_counter() - t < 5


def test_repeated_tokens_and_merges_keep_their_first_occurrence():
    # The tokenizer's rule (no real vocabulary repeats either): the first id of a repeated string
    # and the first rank of a repeated merge win. Hugging Face's BPE would keep the last rank.
    tokens = BYTE_CHARS + ["ab", "bc", "ab"]
    ab, bc = 256, 257
    tok = Tokenizer(tokens, ["b c", "a b", "b c"])
    assert tok.token_to_id("ab") == ab
    assert tok.encode("abc") == [tok.token_to_id("a"), bc]  # "b c" ranks 0, not 2
    assert Tokenizer(tokens, ["a b", "b c"]).encode("abc") == [ab, tok.token_to_id("c")]
    assert tok.decode([258]) == "ab"
