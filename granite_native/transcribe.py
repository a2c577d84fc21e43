"""One transcription request end to end: audio -> mel -> encoder -> projector -> prompt ->
prefill -> greedy decode -> text, with per-stage timings."""
import math
import time
from dataclasses import dataclass, field


from . import audio as audio_io
from . import prompt as prompts
from .generate import greedy
from .transcript import transcript_text

# The KV cache limit CrispASR uses for this model; the GGUF does not record a context length.
MAX_CONTEXT = 4096
# Generous for speech in any supported language (~3-8 tokens/s), plus room for short clips.
TOKENS_PER_SECOND = 12
MIN_NEW_TOKENS = 32


@dataclass
class Transcription:
    text: str
    tokens: list                  # generated ids, EOS excluded
    prompt_tokens: int
    audio_tokens: int
    timings: dict                 # seconds per stage, "setup" building the model's stages on
                                  # its first request; decode_per_token in seconds
    stop: str                     # "eos" or "max_new_tokens"
    warnings: list = field(default_factory=list)


def default_max_new_tokens(seconds):
    return MIN_NEW_TOKENS + math.ceil(TOKENS_PER_SECOND * seconds)


def run(model, audio, task="transcribe", punctuate=False, language=None, keywords=None,
        instruction=None, template=None, max_new_tokens=None, sample_rate=audio_io.SAMPLE_RATE):
    timings = {}

    def timed(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        timings[name] = time.perf_counter() - t0
        return out

    text = prompts.instruction_for(task, punctuate, language, keywords, instruction)
    samples = audio_io.load(audio, sample_rate)
    # The first request builds the stages: timed apart, so that each stage's time below is
    # its work alone, on the first request as on later ones.
    timed("setup", model.build)
    seconds = samples.size / audio_io.SAMPLE_RATE
    n_audio = model.audio_tokens(samples.size)
    ids = model.prompt_ids(n_audio, text, template)
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(seconds)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    need = len(ids) + max_new_tokens
    if need > MAX_CONTEXT:
        raise ValueError(
            f"{seconds:.1f} s of audio needs {len(ids)} prompt tokens + {max_new_tokens} new "
            f"tokens = {need}, over the {MAX_CONTEXT}-token KV cache limit (about "
            f"{(MAX_CONTEXT - MIN_NEW_TOKENS) / (10 + TOKENS_PER_SECOND):.0f} s of audio per "
            f"request until long-form support lands)")

    mel = timed("mel", model.mel, samples)
    enc = timed("encoder", model.encode, mel)
    emb = timed("projector", model.project, enc)
    cache = model.decoder.new_cache(need)
    logits = timed("prefill", model.prefill, ids, emb, cache)
    t0 = time.perf_counter()
    gen = greedy(model.pool, model.decoder, cache, logits, model.hparams.llm_eos_token_id,
                 max_new_tokens)
    timings["decode"] = time.perf_counter() - t0
    timings["decode_per_token"] = timings["decode"] / max(1, len(gen.ids))
    warnings = []
    if gen.stop == "max_new_tokens":
        warnings.append(f"output truncated at max_new_tokens={max_new_tokens}")
    return Transcription(transcript_text(model.tokenizer, gen.ids, model.hparams.llm_eos_token_id),
                         gen.ids, len(ids), n_audio, timings, gen.stop, warnings)
