"""Byte-level BPE tokenizer built from a GGUF's tokenizer metadata (spec 1.3).

Vocabulary strings are in GPT-2's byte-to-unicode form. Text is split around special tokens
(every vocabulary entry shaped `<|...|>`, matched atomically, longest first), each remaining
segment is pre-tokenized by a regex, and each piece is BPE-merged with Hugging Face semantics:
repeatedly merge the adjacent pair of lowest merge rank, leftmost first.

A GGUF records no token types, so added tokens of other shapes (e.g. `<think>`) are ordinary
text here, while Hugging Face would match them atomically too. Patterns run on the `regex`
package, whose Unicode tables can be newer than those of Hugging Face's Oniguruma: characters
assigned in recent Unicode versions may be classed differently (letter vs. unassigned).
"""
import codecs
import heapq
from itertools import compress, repeat

import regex
from gguf import GGUFValueType

from .errors import ModelError
from .gguf_file import GGUFFile, open_gguf

# GPT-2's pre-tokenizer; the default when a file records none (spec A.12).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# llama.cpp records pre-tokenizers by name; "gpt2" is the only name that applies to this model.
_PRE_NAMES = {"gpt2": GPT2_PATTERN}
_NAME_LIKE = regex.compile(r"[a-z0-9][a-z0-9_.-]*")

_CACHE_LIMIT = 1 << 16


def _gpt2_byte_chars():
    """The char standing for each byte: printable Latin-1 bytes stand for themselves, the others
    are moved to U+0100 onwards in byte order, so no token string holds a space or control."""
    kept = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    chars = [""] * 256
    moved = 0
    for b in range(256):
        if b in kept:
            chars[b] = chr(b)
        else:
            chars[b] = chr(0x100 + moved)
            moved += 1
    return chars


BYTE_CHARS = _gpt2_byte_chars()
# str.translate table from byte chars to the bytes as Latin-1 chars; every other char below
# U+0100 becomes U+0100, so a token outside the alphabet fails to encode as Latin-1.
_TO_BYTES = {c: 0x100 for c in range(0x100)} | {ord(c): b for b, c in enumerate(BYTE_CHARS)}


def is_special(token):
    return len(token) > 4 and token.startswith("<|") and token.endswith("|>")


def _compile_pre(pre):
    if pre is None:
        return regex.compile(GPT2_PATTERN)
    if not isinstance(pre, str) or not pre:
        raise ValueError(f"pre-tokenizer must be a regex or a name, not {pre!r}")
    if pre in _PRE_NAMES:
        return regex.compile(_PRE_NAMES[pre])
    if _NAME_LIKE.fullmatch(pre):
        raise ValueError(f"unknown pre-tokenizer name {pre!r}; known: {', '.join(_PRE_NAMES)} "
                         "(or record the regex itself)")
    try:
        return regex.compile(pre)
    except regex.error as e:
        raise ValueError(f"pre-tokenizer regex {pre!r} does not compile: {e}") from None


class Tokenizer:
    """`tokens[i]` is the string of id i (empty for unused ids); `merges` are "left right"
    strings in rank order; `pre` is a pre-tokenizer regex, the name "gpt2", or None (GPT-2)."""

    def __init__(self, tokens, merges, pre=None):
        # A real vocabulary has 100k tokens and 100k merges: the tables are built with
        # C-level map/zip/dict passes, and the per-item loops run only to name a problem.
        self._tokens = list(tokens)
        self._pre = _compile_pre(pre)
        if not set(map(type, self._tokens)) <= {str}:
            for i, t in enumerate(self._tokens):
                if not isinstance(t, str):
                    raise ValueError(f"token {i} is {type(t).__name__}, not a string")
        n = len(self._tokens)
        # Inserted last to first, so the first id of a repeated string wins.
        self._ids = dict(zip(reversed(self._tokens), range(n - 1, -1, -1)))
        self._ids.pop("", None)

        missing = [b for b in range(256) if BYTE_CHARS[b] not in self._ids]
        if missing:
            raise ValueError(f"vocabulary has no token for byte(s) "
                             f"{', '.join(f'0x{b:02x}' for b in missing[:8])}"
                             f"{' ...' if len(missing) > 8 else ''}; byte-level BPE needs all 256")
        self._ranks = self._merge_ranks(list(merges))

        candidates = compress(range(n), map(str.startswith, self._tokens, repeat("<|")))
        self._special_ids = frozenset(i for i in candidates if is_special(self._tokens[i]))
        specials = sorted({self._tokens[i] for i in self._special_ids}, key=len, reverse=True)
        self._special_re = (regex.compile("|".join(regex.escape(s) for s in specials))
                            if specials else None)
        self._cache = {}

    def _merge_ranks(self, merges):
        """{"left right": rank}, the lowest rank of a repeated merge. BPE looks pairs up by
        their merge string, so no per-merge id table has to be built."""
        ids = self._ids
        try:
            one_space = set(map(str.count, merges, repeat(" "))) <= {1}
        except TypeError:  # not a string
            one_space = False
        # ids has no "", so an empty part fails the vocabulary test.
        if (one_space and ids.keys() >= set(" ".join(merges).split(" "))
                and ids.keys() >= set(map(str.replace, merges, repeat(" "), repeat("")))):
            return dict(zip(reversed(merges), range(len(merges) - 1, -1, -1)))
        raise ValueError(_merge_problem(merges, ids))

    @classmethod
    def from_gguf(cls, source):
        """`source` is a granite_speech GGUF path, or the GGUFFile open on one (a model loader
        passes its own rather than have the file read twice). Only the tokenizer keys are
        read, so a GGUF holding nothing else works too."""
        gguf_file = source if isinstance(source, GGUFFile) else open_gguf(source)
        path = gguf_file.path
        tokens = _string_array(gguf_file, "tokenizer.ggml.tokens")
        merges = _string_array(gguf_file, "tokenizer.ggml.merges")
        pre = None
        field = gguf_file.fields.get("tokenizer.ggml.pre")
        if field is not None:
            if field.type != GGUFValueType.STRING:
                raise ModelError(path, "tokenizer.ggml.pre is not a string")
            pre = field.value
        try:
            return cls(tokens, merges, pre)
        except ValueError as e:
            raise ModelError(path, f"bad tokenizer metadata: {e}") from None

    @property
    def vocab_size(self):
        return len(self._tokens)

    @property
    def special_ids(self):
        return self._special_ids

    def id_to_token(self, token_id):
        self._check_id(token_id)
        return self._tokens[token_id]

    def token_to_id(self, token):
        try:
            return self._ids[token]
        except KeyError:
            raise ValueError(f"{token!r} is not in the vocabulary") from None

    def encode(self, text):
        ids = []
        for segment, special in self._split_special(text):
            if special:
                ids.append(self._ids[segment])
                continue
            for piece in self._pieces(segment):
                ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids, skip_special=False):
        """Invalid or incomplete UTF-8 becomes U+FFFD, as Hugging Face's decoder does."""
        return self.decode_bytes(ids, skip_special).decode("utf-8", errors="replace")

    def decode_bytes(self, ids, skip_special=False):
        out = []
        for i in ids:
            self._check_id(i)
            if not (skip_special and i in self._special_ids):
                out.append(self._token_bytes(self._tokens[i]))
        return b"".join(out)

    def decode_stream(self, skip_special=False):
        return DecodeStream(self, skip_special)

    def _check_id(self, token_id):
        if not 0 <= token_id < len(self._tokens):
            raise ValueError(f"token id {token_id} is outside the vocabulary "
                             f"({len(self._tokens)} ids)")

    @staticmethod
    def _token_bytes(token):
        # Special tokens and added tokens outside the byte alphabet are literal text.
        if not is_special(token):
            try:
                return token.translate(_TO_BYTES).encode("latin-1")
            except UnicodeEncodeError:
                pass
        return token.encode("utf-8")

    def _split_special(self, text):
        if self._special_re is None:
            if text:
                yield text, False
            return
        pos = 0
        for m in self._special_re.finditer(text):
            if m.start() > pos:
                yield text[pos:m.start()], False
            yield m.group(), True
            pos = m.end()
        if pos < len(text):
            yield text[pos:], False

    def _pieces(self, segment):
        # Text the pattern does not match stays a piece of its own ("Isolated" splitting).
        pos = 0
        for m in self._pre.finditer(segment):
            if m.start() > pos:
                yield segment[pos:m.start()]
            if m.end() > m.start():
                yield m.group()
            pos = m.end()
        if pos < len(segment):
            yield segment[pos:]

    def _bpe(self, piece):
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        sym = [BYTE_CHARS[b] for b in piece.encode("utf-8")]
        if len(sym) > 1:
            sym = self._merge(sym)
        ids = [self._ids[s] for s in sym]
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[piece] = ids
        return ids

    def _merge(self, sym):
        """Merges the token strings `sym` in rank order; every merged string is in
        the vocabulary (checked when the merges were read)."""
        n = len(sym)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        ranks = self._ranks
        heap = []
        for i in range(n - 1):
            r = ranks.get(sym[i] + " " + sym[i + 1])
            if r is not None:
                heap.append((r, i, sym[i], sym[i + 1]))
        heapq.heapify(heap)
        while heap:
            _, i, left, right = heapq.heappop(heap)
            j = nxt[i]
            # Entries go stale when a neighbour was merged first; the current pair decides.
            if sym[i] != left or j < 0 or sym[j] != right:
                continue
            new = left + right
            sym[i] = new
            sym[j] = None
            k = nxt[j]
            nxt[i] = k
            if k >= 0:
                prv[k] = i
                r = ranks.get(new + " " + sym[k])
                if r is not None:
                    heapq.heappush(heap, (r, i, new, sym[k]))
            p = prv[i]
            if p >= 0:
                r = ranks.get(sym[p] + " " + new)
                if r is not None:
                    heapq.heappush(heap, (r, p, sym[p], new))
        return [s for s in sym if s is not None]


def _merge_problem(merges, ids):
    """What is wrong with the first bad merge, for a list the bulk pass refused."""
    for rank, m in enumerate(merges):
        parts = m.split(" ") if isinstance(m, str) else []
        if len(parts) != 2 or not parts[0] or not parts[1]:
            return f"merge {rank} {m!r} is not two tokens separated by one space"
        for t in (parts[0], parts[1], parts[0] + parts[1]):
            if t not in ids:
                return f"merge {rank} {m!r} needs token {t!r}, which is not in the vocabulary"


class DecodeStream:
    """Decodes ids one at a time for streaming output: bytes of a character split across
    tokens are held back until it is complete; `finish` flushes what remains."""

    def __init__(self, tokenizer, skip_special=False):
        self._tokenizer = tokenizer
        self._skip_special = skip_special
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id):
        return self._utf8.decode(self._tokenizer.decode_bytes([token_id], self._skip_special))

    def finish(self):
        return self._utf8.decode(b"", final=True)


def _string_array(gguf_file, key):
    field = gguf_file.fields.get(key)
    if field is None:
        raise ModelError(gguf_file.path, f"has no {key}; it carries no tokenizer")
    if field.type != GGUFValueType.ARRAY or field.item_type != GGUFValueType.STRING:
        raise ModelError(gguf_file.path, f"{key} is not an array of strings")
    return field.value
