"""The NEON kernels against their scalar twins, cross-compiled for AArch64 and run under qemu
(tests/native/neon_vs_scalar.c). Skipped where the cross compiler or qemu is not installed."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
CC = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
# Everything an AArch64 build of the library compiles (no x86 kernel files).
SOURCES = [CSRC / f"{name}.c" for name in (
    "dispatch", "cpu_features", "threadpool", "matmul", "dequant_scalar", "gemm_f32_scalar",
    "dequant_neon", "gemm_f32_neon")]

pytestmark = pytest.mark.skipif(not (CC and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")


def test_every_c_file_compiles_for_aarch64_without_warnings():
    arm_files = [p for p in CSRC.glob("*.c") if not p.stem.endswith(("_avx2", "_avx512"))]
    assert set(SOURCES) <= set(arm_files)
    for src in arm_files:
        r = subprocess.run([CC, "-std=c11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra",
                            "-Wno-unused-parameter", "-fsyntax-only", f"-I{CSRC}", str(src)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, f"{src.name}:\n{r.stderr}"


def test_neon_kernels_match_scalar_under_qemu(tmp_path):
    exe = tmp_path / "neon_vs_scalar"
    build = subprocess.run(
        [CC, "-std=c11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter",
         "-static", "-pthread", f"-I{CSRC}", str(ROOT / "tests/native/neon_vs_scalar.c"),
         *map(str, SOURCES), "-o", str(exe), "-lm"],
        capture_output=True, text=True)
    assert build.returncode == 0 and not build.stderr, build.stderr
    run = subprocess.run([QEMU, str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("OK")
    for name in ("F16", "BF16", "Q4_0", "Q8_0", "Q4_K", "Q6_K"):
        assert f"dequant {name} checked" in run.stdout
