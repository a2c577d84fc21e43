"""Generated ids to transcript text (spec 6.6 steps 1-3)."""


def transcript_text(tokenizer, ids, eos_id):
    """Drops EOS and special tokens, byte-level decodes, and trims leading spaces and
    newlines, which the model emits before the first word."""
    text = tokenizer.decode([i for i in ids if i != eos_id], skip_special=True)
    return text.lstrip(" \n")
