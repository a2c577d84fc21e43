"""A loaded granite_speech model: hyperparameters, validated weights, a thread pool, and the
pipeline stages as methods (mel, encode, project, prompt_ids, logits, transcribe)."""
import os
from functools import cached_property

import numpy as np

from . import _native
from . import prompt as prompts
from . import transcribe as transcribe_mod
from .cpus import usable_cpus
from .encoder import Encoder
from .errors import ModelError
from .gguf_file import open_gguf
from .hparams import read_hparams
from .llm import Decoder
from .mel import log_mel
from . import precision as precisions
from .projector import Projector
from .tokenizer import Tokenizer
from .weights import load_weights


# built on first use, each a cached_property below
STAGES = ("encoder", "projector", "decoder", "tokenizer")


class Model:
    """Opens and validates a granite_speech GGUF. Tensor data stays in the file's memory map.

    threads: kernel threads, by default every CPU this process may use.
    decode_threads: threads of each decode step (1..threads), by default `threads`. Decoding
    is bound by memory bandwidth, which a few cores may already saturate.
    precision: "fast" (default: bfloat16 audio stages where the CPU has bf16 dot products,
    int8 activations against block-quantized weights), "exact" (float32 throughout) or
    "fastest" ("fast" with the audio stages' float weights quantized to 8 bits on AVX2 and
    AVX-512 VNNI, below the fast paths' parity bound on some models); see precision.py.
    Raises granite_native.ModelError when the file is not a usable model.
    """

    def __init__(self, path, threads=None, precision="fast", decode_threads=None):
        self.flags = precisions.stage_flags(precision)
        self.quantized = precisions.quantized_stages(precision)
        self.precision = precision
        self.path = os.fspath(path)
        self.gguf = open_gguf(self.path)
        self.file_size = os.path.getsize(self.path)
        self.hparams = read_hparams(self.path, self.gguf)
        self.weights = load_weights(self.path, self.gguf, self.hparams)
        self.pool = _native.ThreadPool(usable_cpus() if threads is None else threads)
        n = self.pool.threads
        if decode_threads is not None and not 1 <= decode_threads <= n:
            self.pool.close()
            raise ValueError(f"decode_threads must be in 1..{n} (the model's threads), "
                             f"got {decode_threads}")
        self.decode_threads = decode_threads

    def close(self):
        """Stops the threads. The mapping goes away once no tensor view is left."""
        self.pool.close()
        self.weights = None
        self.gguf = None
        for stage in STAGES:
            self.__dict__.pop(stage, None)

    def build(self):
        """Assembles every stage now rather than on first use: the bulk of loading, where the
        weights are laid out for this CPU."""
        for stage in STAGES:
            getattr(self, stage)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Stages are assembled on first use: `info` and parity tools need only some of them.
    @cached_property
    def encoder(self):
        if self.hparams.is_plus:
            # its projector reads concatenated encoder layers: not implemented yet
            raise ModelError(self.path, "the plus variant (granite_speech.proj.cat_layers) "
                                        "cannot be run yet; only `info` supports it")
        return Encoder(self.weights, self.hparams, self.flags["encoder"], self.pool,
                       "encoder" in self.quantized)

    @cached_property
    def projector(self):
        return Projector(self.weights, self.hparams, self.flags["projector"], self.pool,
                         "projector" in self.quantized)

    @cached_property
    def decoder(self):
        return Decoder(self.weights, self.hparams, self.flags["decoder"], self.decode_threads,
                       self.pool, precisions.kv_dtype(self.precision))

    @cached_property
    def tokenizer(self):
        return Tokenizer.from_gguf(self.gguf)

    def matmul_paths(self):
        """{stage: sorted arithmetic paths its matrix products take on this CPU}."""
        return {stage: precisions.paths(getattr(self, stage).matrices(), self.flags[stage])
                for stage in precisions.STAGES}

    def mel(self, samples):
        """float32 16 kHz samples [S] -> stacked log-mel [T, 160]."""
        return log_mel(samples, self.pool)

    def encode(self, mel, taps=None):
        """[T, 160] -> encoder features [T, d_enc]."""
        return self.encoder(self.pool, np.ascontiguousarray(mel, dtype=np.float32), taps)

    def project(self, enc):
        """[T, d_enc] -> audio embeddings [ceil(T / window) * queries, d_llm]."""
        return self.projector(self.pool, np.ascontiguousarray(enc, dtype=np.float32))

    def audio_tokens(self, n_samples):
        """Projector rows for n_samples of audio (the HF processor's count)."""
        hp = self.hparams
        frames = _native.mel_rows(n_samples)
        if frames < 0:
            raise ValueError(f"audio has {n_samples} samples; the front-end accepts "
                             f"{_native.MEL_MIN_SAMPLES}..{_native.MEL_MAX_SAMPLES}")
        return -(-frames // hp.window_size) * hp.proj_n_queries

    def prompt_ids(self, n_audio, instruction=None, template=None):
        """Prompt ids with the audio placeholder expanded to n_audio ids. template is
        "base" or "plus"; by default the model's variant picks it."""
        if instruction is None:
            instruction = prompts.instruction_for()
        if template not in (None, "base", "plus"):
            raise ValueError(f"unknown template {template!r}; expected 'base' or 'plus'")
        plus = self.hparams.is_plus if template is None else template == "plus"
        p = prompts.build(instruction, plus=plus)
        return prompts.expand_audio(self.tokenizer.encode(p.text), self.hparams.audio_token_index,
                                    n_audio)

    def embed_prompt(self, ids, audio_embeds):
        """Embedding rows of the prompt with the audio rows replaced by the projector output."""
        ids = np.asarray(ids)
        x = self.decoder.embed(ids)
        where = ids == self.hparams.audio_token_index
        if where.sum() != audio_embeds.shape[0]:
            raise ValueError(f"prompt has {where.sum()} audio placeholders for "
                             f"{audio_embeds.shape[0]} audio embeddings")
        x[where] = audio_embeds
        return x

    def prefill(self, ids, audio_embeds, cache):
        """Runs the prompt through the decoder into `cache`; last-position logits [V]."""
        return self.decoder.forward(self.pool, self.embed_prompt(ids, audio_embeds), cache)[0]

    def logits(self, ids, audio_embeds):
        """Last-position logits [V] (divided by logits_scaling) for a prompt."""
        return self.prefill(ids, audio_embeds, self.decoder.new_cache(len(ids)))

    def transcribe(self, audio, task="transcribe", punctuate=False, language=None,
                   keywords=None, instruction=None, template=None, max_new_tokens=None,
                   sample_rate=16000):
        """Audio (WAV path or float32 array at sample_rate) -> Transcription.

        task: "transcribe" or "translate" (to English); punctuate: ask for punctuation and
        capitalization; language: source language code for plain transcription; keywords:
        words to bias towards; instruction: a custom instruction replacing the task's.
        """
        return transcribe_mod.run(self, audio, task, punctuate, language, keywords,
                                  instruction, template, max_new_tokens, sample_rate)
