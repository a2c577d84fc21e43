"""The kernels built by other compilers and for the other architecture: every C file under clang
for x86, every C file for AArch64, and the NEON kernels against their scalar twins run under qemu
(tests/native/neon_vs_scalar.c). Each test is skipped where its tools are not installed."""
import ast
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
CC = shutil.which("aarch64-linux-gnu-gcc")
CLANG = shutil.which("clang")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
# Everything an AArch64 build of the library compiles (no x86 kernel files).
SOURCES = [CSRC / f"{name}.c" for name in (
    "dispatch", "cpu_features", "threadpool", "matmul", "matmul_q8", "dequant_scalar",
    "gemm_f32_scalar", "quantize_act_scalar", "gemm_q_scalar",
    "dequant_neon", "gemm_f32_neon", "probe_scalar", "probe_neon")]

WARNINGS = ["-std=c11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"]
# a full compile: missing target features only show when intrinsics are inlined
COMPILE_ONLY = ["-c", "-o", os.devnull]


def setup_isa_flags():
    """GCC_FLAGS of setup.py (ISA suffix -> flags), read without running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "GCC_FLAGS")
    return ast.literal_eval(node.value)


needs_cross = pytest.mark.skipif(not (CC and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")


@pytest.mark.skipif(not CLANG, reason="needs clang")
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 host")
def test_every_c_file_compiles_with_clang_without_warnings():
    isa_flags = setup_isa_flags()
    for src in CSRC.glob("*.c"):
        if src.stem.endswith(("_neon", "_dotprod")):
            continue
        flags = next((f for isa, f in isa_flags.items() if src.stem.endswith("_" + isa)), [])
        r = subprocess.run([CLANG, *WARNINGS, *flags, *COMPILE_ONLY, f"-I{CSRC}", str(src)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, f"{src.name}:\n{r.stderr}"


@needs_cross
def test_every_c_file_compiles_for_aarch64_without_warnings():
    isa_flags = setup_isa_flags()
    arm_files = [p for p in CSRC.glob("*.c") if not p.stem.endswith(("_avx2", "_avx512"))]
    assert set(SOURCES) <= set(arm_files)
    for src in arm_files:
        flags = next((f for isa, f in isa_flags.items() if src.stem.endswith("_" + isa)), [])
        r = subprocess.run([CC, *WARNINGS, *flags, *COMPILE_ONLY, f"-I{CSRC}", str(src)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, f"{src.name}:\n{r.stderr}"


@needs_cross
def test_neon_kernels_match_scalar_under_qemu(tmp_path):
    exe = tmp_path / "neon_vs_scalar"
    build = subprocess.run(
        [CC, *WARNINGS, "-static", "-pthread", f"-I{CSRC}", str(ROOT / "tests/native/neon_vs_scalar.c"),
         *map(str, SOURCES), "-o", str(exe), "-lm"],
        capture_output=True, text=True)
    assert build.returncode == 0 and not build.stderr, build.stderr
    run = subprocess.run([QEMU, str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("OK")
    assert "probes checked" in run.stdout
    for name in ("F16", "BF16", "Q4_0", "Q8_0", "Q4_K", "Q6_K"):
        assert f"dequant {name} checked" in run.stdout
