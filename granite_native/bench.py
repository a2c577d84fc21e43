"""`granite-native bench`: one model on one clip, timed stage by stage, beside rooflines
measured in the same process (formulas in roofline.py).

Protocol: load the model (timed), one untimed warm-up request, then `repeat` timed requests;
every figure is the median over those. Decoding is forced to exactly `tokens` new ids
(EOS does not stop it), so runs and engines compare at equal work. Peak RSS is read before
the probes allocate their buffer; it includes the pages of the mapped model file touched.
Peak RSS and the load average are None where the OS does not report them (Windows).

Decode against read bandwidth: a shared machine's bandwidth drifts by 2x within minutes (here
27-58 GB/s), so a probe run apart from the decode it is compared with says little. After
the timed requests, `repeat` more decodes of the same prompt each run between two read
probes, and the ratio is the median over those pairs of decode GB/s to the mean of its two
probes.
"""
import os
import statistics
import sys
import time

from . import _native
from . import audio as audio_io
from . import precision as precisions
from . import prompt as prompts
from . import roofline
from ._dispatch import cpu_info
from .generate import greedy
from .model import Model
from .transcript import transcript_text

STAGES = ("mel", "encoder", "projector", "prefill", "decode")


def _peak_rss_mib():
    try:
        import resource
    except ImportError:
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1 << 20) if sys.platform == "darwin" else kb / 1024  # macOS reports bytes


def _load_average():
    """The 1-minute load average: other work on the machine skews every figure."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def one_request(model, samples, ids, tokens):
    """Seconds per stage of one forced-length request, the generated ids, the mel frame count
    and the audio embeddings."""
    t = {}
    t0 = time.perf_counter()
    mel = model.mel(samples)
    t1 = time.perf_counter()
    enc = model.encode(mel)
    t2 = time.perf_counter()
    emb = model.project(enc)
    t3 = time.perf_counter()
    cache = model.decoder.new_cache(len(ids) + tokens)
    logits = model.prefill(ids, emb, cache)
    t4 = time.perf_counter()
    gen = greedy(model.pool, model.decoder, cache, logits, model.hparams.llm_eos_token_id,
                 tokens, stop_at_eos=False)
    t5 = time.perf_counter()
    t.update(mel=t1 - t0, encoder=t2 - t1, projector=t3 - t2, prefill=t4 - t3, decode=t5 - t4)
    return t, gen.ids, mel.shape[0], emb


def run(model_path, audio_path, threads=None, tokens=32, repeat=3, precision="fast",
        decode_threads=None):
    if tokens < 1:
        raise ValueError(f"--tokens must be at least 1, got {tokens}")
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {repeat}")
    load_before = _load_average()
    samples = audio_io.load(audio_path)
    seconds = samples.size / audio_io.SAMPLE_RATE
    t0 = time.perf_counter()
    model = Model(model_path, threads=threads, precision=precision,
                  decode_threads=decode_threads)
    try:
        model.build()  # stages are otherwise built on first use; building them is loading
        load_s = time.perf_counter() - t0
        ids = model.prompt_ids(model.audio_tokens(samples.size), prompts.instruction_for())
        one_request(model, samples, ids, tokens)  # warm-up: page in weights, grow scratch
        runs = []
        for _ in range(repeat):
            times, gen_ids, frames, emb = one_request(model, samples, ids, tokens)
            times["total"] = sum(times[s] for s in STAGES)
            runs.append(times)
        peak_rss = _peak_rss_mib()
        pairs = paired_decode_bandwidth(model, emb, ids, tokens, repeat)
        report = _report(model, model_path, audio_path, seconds, ids, tokens, frames, gen_ids,
                         runs, load_s, peak_rss, pairs)
        report["load_average"] = {"before": load_before, "after": _load_average()}
        return report
    finally:
        model.close()


def paired_decode_bandwidth(model, emb, ids, tokens, repeat):
    """[(decode GB/s, mean GB/s of the read probes just before and after it)] for `repeat`
    forced decodes continuing one prefilled prompt (ids with audio embeddings emb)."""
    hp, pool = model.hparams, model.pool
    step_bytes = (roofline.decode_weight_bytes(model.decoder.matrices())
                  + roofline.decode_kv_bytes(hp, len(ids), tokens,
                                              model.decoder.kv_dtype.itemsize))
    prompt = model.decoder.new_cache(len(ids) + tokens)
    logits = model.prefill(ids, emb, prompt)
    buf = roofline.probe_buffer()
    before = roofline.read_bandwidth(pool, passes=3, buf=buf)[0]
    pairs = []
    for _ in range(repeat):
        cache = prompt.copy()
        t0 = time.perf_counter()
        greedy(pool, model.decoder, cache, logits, hp.llm_eos_token_id, tokens,
               stop_at_eos=False)
        decode_gbps = step_bytes * tokens / (time.perf_counter() - t0) / 1e9
        after = roofline.read_bandwidth(pool, passes=3, buf=buf)[0]
        pairs.append((decode_gbps, (before + after) / 2))
        before = after
    return pairs


def _report(model, model_path, audio_path, seconds, ids, tokens, frames, gen_ids, runs,
            load_s, peak_rss, pairs):
    hp, wt, pool = model.hparams, model.weights, model.pool
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    n_prompt = len(ids)
    enc_flops = roofline.encoder_flops(wt, hp, frames)
    pre_flops = roofline.prefill_flops(wt, hp, n_prompt)
    w_bytes = roofline.decode_weight_bytes(model.decoder.matrices())
    kv_bytes = roofline.decode_kv_bytes(hp, n_prompt, tokens, model.decoder.kv_dtype.itemsize)
    per_token = med["decode"] / tokens

    read_gbps = statistics.median(probe for _, probe in pairs)
    probe_bytes = roofline.probe_buffer_bytes()
    fma_gflops = roofline.fma_peak(pool)
    peaks = {"f32": fma_gflops, "bf16": roofline.fma_peak(pool, probe=_native.probe_bf16),
             "int8": roofline.fma_peak(pool, probe=_native.probe_int8)}
    paths = model.matmul_paths()

    def peak_of(stage):
        """The probe of the fastest arithmetic the stage's matrices use (its ceiling)."""
        rates = [peaks[p] for p in paths[stage] if peaks[p]]
        return max(rates) if rates else fma_gflops
    shapes = {"encoder": [frames, hp.enc_d_model, hp.enc_ff_dim],
              "prefill": [n_prompt, hp.llm_d_model, hp.llm_ff_dim]}
    np_rates = dict(zip(shapes, roofline.numpy_gemm_rates(list(shapes.values()),
                                                          pool.threads)))
    enc_gflops = enc_flops / med["encoder"] / 1e9
    pre_gflops = pre_flops / med["prefill"] / 1e9
    dec_gbps = (w_bytes + kv_bytes) / per_token / 1e9
    cpu = cpu_info()
    return {
        "model": model_path, "audio": audio_path, "audio_seconds": seconds,
        "threads": pool.threads, "decode_threads": model.decode_threads or pool.threads,
        "isa": cpu["selected"], "isa_extensions": cpu["extensions"],
        "repeat": len(runs),
        "precision": model.precision, "matmul_paths": paths,
        "kv_cache": model.decoder.kv_dtype.name,
        "load_s": load_s, "mel_frames": frames, "prompt_tokens": n_prompt,
        "audio_tokens": sum(1 for i in ids if i == hp.audio_token_index),
        "decode_tokens": tokens,
        "stages_s": {k: med[k] for k in STAGES},
        "total_s": med["total"],
        "decode_ms_per_token": per_token * 1e3,
        "rtf": med["total"] / seconds,
        "x_realtime": seconds / med["total"],
        "peak_rss_mib": peak_rss,
        "runs": runs,
        "ids": gen_ids,
        "text": transcript_text(model.tokenizer, gen_ids, hp.llm_eos_token_id),
        "work": {"encoder_flops": enc_flops, "prefill_flops": pre_flops,
                 "decode_weight_bytes": w_bytes, "decode_kv_bytes": kv_bytes},
        "probes": {"read_gbps": read_gbps, "read_buffer_bytes": probe_bytes,
                   "fma_gflops": fma_gflops, "bf16_gflops": peaks["bf16"],
                   "int8_gops": peaks["int8"],
                   "numpy_gemm_shapes": shapes,
                   "numpy_gemm_gflops": np_rates},
        "roofline": {
            "decode_gbps": dec_gbps,
            "decode_of_bandwidth": statistics.median(dec / probe for dec, probe in pairs),
            "decode_bandwidth_pairs": pairs,
            "encoder_gflops": enc_gflops, "encoder_of_fma": enc_gflops / fma_gflops,
            "encoder_of_path_peak": enc_gflops / peak_of("encoder"),
            "prefill_of_path_peak": pre_gflops / peak_of("decoder"),
            "encoder_of_numpy": enc_gflops / np_rates["encoder"],
            "prefill_gflops": pre_gflops, "prefill_of_fma": pre_gflops / fma_gflops,
            "prefill_of_numpy": pre_gflops / np_rates["prefill"],
        },
    }


def _num(x, fmt):
    return "n/a" if x is None else format(x, fmt)


def format_report(r):
    s, p, f, w = r["stages_s"], r["probes"], r["roofline"], r["work"]
    lines = [
        f"model      {r['model']}",
        f"audio      {r['audio']} ({r['audio_seconds']:.2f} s)",
        (f"threads    {r['threads']}, {r['decode_threads']} for decode "
         f"({'+'.join([r['isa'], *r['isa_extensions']])}), median of {r['repeat']} after a "
         f"warm-up"),
        f"precision  {r['precision']}: {precisions.describe(r['matmul_paths'], r['kv_cache'])}",
        f"load       {r['load_s'] * 1e3:9.1f} ms",
        f"mel        {s['mel'] * 1e3:9.1f} ms",
        (f"encoder    {s['encoder'] * 1e3:9.1f} ms  {r['mel_frames']} frames, "
         f"{w['encoder_flops'] / 1e9:.1f} GFLOP, {f['encoder_gflops']:.1f} GFLOP/s"),
        f"projector  {s['projector'] * 1e3:9.1f} ms  {r['audio_tokens']} audio tokens",
        (f"prefill    {s['prefill'] * 1e3:9.1f} ms  {r['prompt_tokens']} tokens, "
         f"{w['prefill_flops'] / 1e9:.1f} GFLOP, {f['prefill_gflops']:.1f} GFLOP/s"),
        (f"decode     {s['decode'] * 1e3:9.1f} ms  {r['decode_tokens']} tokens, "
         f"{r['decode_ms_per_token']:.1f} ms/token, "
         f"{(w['decode_weight_bytes'] + w['decode_kv_bytes']) / 1e6:.1f} MB/token, "
         f"{f['decode_gbps']:.2f} GB/s"),
        (f"total      {r['total_s'] * 1e3:9.1f} ms  RTF {r['rtf']:.3f} "
         f"({r['x_realtime']:.2f}x real time)"),
        f"peak RSS   {_num(r['peak_rss_mib'], '9.1f')} MiB",
        (f"load avg   {_num(r['load_average']['before'], '.2f')} before, "
         f"{_num(r['load_average']['after'], '.2f')} after (1 minute)"),
        "rooflines (same run)",
        (f"  memory read  {p['read_gbps']:7.2f} GB/s   decode at {f['decode_of_bandwidth']:.1%} "
         f"(median over {len(f['decode_bandwidth_pairs'])} decodes, each against the probes "
         f"around it: " + ", ".join(f"{d:.1f}/{b:.1f}" for d, b in f["decode_bandwidth_pairs"])
         + " GB/s)"),
        (f"  FMA peak     {p['fma_gflops']:7.1f} GFLOP/s encoder at {f['encoder_of_fma']:.1%}, "
         f"prefill at {f['prefill_of_fma']:.1%}"),
        (f"  bf16 peak    {_num(p['bf16_gflops'], '7.1f')} GFLOP/s, int8 peak "
         f"{_num(p['int8_gops'], '7.1f')} GOP/s: encoder at {f['encoder_of_path_peak']:.1%}, "
         f"prefill at {f['prefill_of_path_peak']:.1%} of their paths' peak"),
        (f"  numpy f32    {p['numpy_gemm_gflops']['encoder']:7.1f} GFLOP/s at "
         f"{'x'.join(map(str, p['numpy_gemm_shapes']['encoder']))}: "
         f"encoder at {f['encoder_of_numpy']:.1%}"),
        (f"  numpy f32    {p['numpy_gemm_gflops']['prefill']:7.1f} GFLOP/s at "
         f"{'x'.join(map(str, p['numpy_gemm_shapes']['prefill']))}: "
         f"prefill at {f['prefill_of_numpy']:.1%}"),
    ]
    return "\n".join(lines)
