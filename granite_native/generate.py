"""Greedy decoding over the decoder's KV cache (spec 6.5): argmax with the lowest id winning
ties, stop at EOS or after max_new_tokens."""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Generation:
    ids: list = field(default_factory=list)  # new tokens, EOS excluded
    stop: str = ""                           # "eos" or "max_new_tokens" (output truncated)


def greedy(pool, decoder, cache, logits, eos_id, max_new_tokens, on_token=None, stop_at_eos=True):
    """Continue from the prompt's last logits [V]; the cache needs max_new_tokens free rows.
    on_token(id), if given, sees each new id as it is chosen. stop_at_eos=False decodes
    exactly max_new_tokens ids, EOS included, as parity references do. FloatingPointError
    where the logits hold a NaN or +infinity, rather than ids chosen from them."""
    gen = Generation()
    # one logits buffer for every step: a fresh [V] array per token costs page faults
    buf = np.empty((1, logits.shape[-1]), np.float32)
    for _ in range(max_new_tokens):
        tok = _choose(logits, len(gen.ids))
        if tok == eos_id and stop_at_eos:
            gen.stop = "eos"
            return gen
        gen.ids.append(tok)
        if on_token is not None:
            on_token(tok)
        logits = decoder.forward(pool, decoder.embed([tok]), cache, out=buf)[0]
    # One step past the cap tells a finished transcript from a truncated one.
    gen.stop = "eos" if _choose(logits, len(gen.ids)) == eos_id else "max_new_tokens"
    return gen


def _choose(logits, step):
    """The argmax id. numpy's argmax finds a NaN or +infinity first, so checking the chosen
    logit alone catches any: a NaN weight or an overflowed activation would otherwise decode
    into ids that look like a transcript."""
    tok = int(np.argmax(logits))
    if not np.isfinite(logits[tok]):
        raise FloatingPointError(f"the decoder's logits for new token {step} hold {logits[tok]}: "
                                 "a NaN or infinity in the model's weights or activations")
    return tok
