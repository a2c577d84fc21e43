"""The AVX-VNNI kernels (csrc files ending in _avxvnni.c), which the AVX2 level takes on CPUs
with the VEX-encoded vpdpbusd: no emulator here runs that encoding, so the kernels are checked
in two halves. Their arithmetic runs built with the same instructions in EVEX encoding against
the scalar twins, bit for bit, on CPUs with AVX-512 VNNI (tests/native/avxvnni_vs_scalar.c);
and the files as setup.py builds them must hold VEX instructions only, so that a CPU without
AVX-512 can run them. Each test is skipped where its tools or CPU are missing."""
import os
import platform
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from granite_native import _native
from test_kernels_cross import WARNINGS, setup_literal

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
KERNELS = sorted(CSRC.glob("*_avxvnni.c"))
# the scalar twins and quantizers the harness compares against
SCALAR = [CSRC / f for f in ("gemm_q_scalar.c", "quantize_act_scalar.c", "quantize_q8_k_r16.c")]
CC = shutil.which("gcc") or shutil.which("cc")
OBJDUMP = shutil.which("objdump")
EVEX = ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512vl", "-mavx512vnni", "-DGN_AVXVNNI_EVEX"]

x86 = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or not CC,
                         reason="needs an x86 host and a C compiler")


def compile_c(src, flags, out):
    r = subprocess.run([CC, *WARNINGS, *flags, f"-I{CSRC}", "-c", str(src), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, f"{src.name}:\n{r.stderr}"
    return out


@x86
def test_avxvnni_kernels_match_their_scalar_twins(tmp_path):
    f = _native.cpu_features()
    if not (f["avx512vl"] and f["avx512vnni"]):
        pytest.skip("the EVEX build of the kernels needs AVX-512 VL and VNNI")
    jobs = [(src, EVEX) for src in KERNELS] + [(src, []) for src in SCALAR]
    jobs.append((ROOT / "tests/native/avxvnni_vs_scalar.c", []))
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        objects = list(pool.map(lambda j: compile_c(j[0], j[1], tmp_path / (j[0].stem + ".o")), jobs))
    exe = tmp_path / "avxvnni_vs_scalar"
    link = subprocess.run([CC, *map(str, objects), "-o", str(exe), "-lm"], capture_output=True, text=True)
    assert link.returncode == 0, link.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    for what in ("Q4_K_R16", "Q8_K_R16", "probe"):
        assert f"{what} checked" in run.stdout
    assert run.stdout.strip().endswith("OK")


@x86
@pytest.mark.skipif(not OBJDUMP, reason="needs objdump")
@pytest.mark.parametrize("src", KERNELS, ids=lambda p: p.stem)
def test_avxvnni_files_hold_vex_instructions_only(tmp_path, src):
    """Built as setup.py builds them, the kernels use vpdpbusd in its VEX encoding and nothing
    that needs AVX-512: no zmm registers, no ymm16-31, no mask registers, no EVEX prefix."""
    probe = tmp_path / "probe.c"
    probe.write_text(f"#include <immintrin.h>\n{setup_literal('NEWER_ISAS')['avxvnni'][0]}\n")
    flags = setup_literal("GCC_FLAGS")["avxvnni"]
    if subprocess.run([CC, *flags, "-c", str(probe), "-o", os.devnull]).returncode:
        pytest.skip("the compiler does not know AVX-VNNI")
    obj = compile_c(src, flags, tmp_path / "k.o")
    asm = subprocess.run([OBJDUMP, "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    dots = [line for line in asm.splitlines() if "vpdpbusd" in line]
    assert dots and all("{vex}" in line for line in dots)
    assert not re.search(r"%zmm|%ymm(1[6-9]|2\d|3[01])\b|%xmm(1[6-9]|2\d|3[01])\b|%k[0-7]|\{evex\}", asm)
