"""The kernels built by other compilers and for the other architecture: every C file under clang
for x86, every C file for AArch64, and the NEON kernels against their scalar twins run under qemu
(tests/native/neon_vs_scalar.c: dequantization, float16 rounding, activation quantizers, float
and int8 GEMMs, the F16 GEMV, attention's value mix).
Each test is skipped where its tools are not installed."""
import ast
import os
import platform
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
CC = shutil.which("aarch64-linux-gnu-gcc")
CLANG = shutil.which("clang")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")

WARNINGS = ["-std=c11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"]
# a full compile: missing target features only show when intrinsics are inlined
COMPILE_ONLY = ["-c", "-o", os.devnull]


def setup_literal(name):
    """A literal of setup.py (GCC_FLAGS: ISA suffix -> flags; ISA_ARCH: suffix -> "x86" or
    "arm"; NEWER_ISAS), read without running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == name)
    return ast.literal_eval(node.value)


def suffixes(arch):
    """The file-name endings of one architecture's kernel files."""
    return tuple("_" + isa for isa, a in setup_literal("ISA_ARCH").items() if a == arch)


# Everything an AArch64 build of the library compiles (no x86 kernel files).
ARM_SOURCES = sorted(p for p in CSRC.glob("*.c") if not p.stem.endswith(suffixes("x86")))


needs_cross = pytest.mark.skipif(not (CC and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")


@pytest.mark.skipif(not CLANG, reason="needs clang")
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 host")
def test_every_c_file_compiles_with_clang_without_warnings():
    isa_flags = setup_literal("GCC_FLAGS")
    for src in CSRC.glob("*.c"):
        if src.stem.endswith(suffixes("arm")):
            continue
        flags = next((f for isa, f in isa_flags.items() if src.stem.endswith("_" + isa)), [])
        r = subprocess.run([CLANG, *WARNINGS, *flags, *COMPILE_ONLY, f"-I{CSRC}", str(src)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, f"{src.name}:\n{r.stderr}"


@pytest.fixture(scope="module")
def arm_objects(tmp_path_factory):
    """Every AArch64 C file and the harness compiled to objects, each with its own ISA flags as
    setup.py builds them, in parallel: {source: (object path, compiler stderr)}."""
    isa_flags = setup_literal("GCC_FLAGS")
    out = tmp_path_factory.mktemp("arm")

    def compile_one(src):
        flags = next((f for isa, f in isa_flags.items() if src.stem.endswith("_" + isa)), [])
        obj = out / (src.stem + ".o")
        r = subprocess.run([CC, *WARNINGS, *flags, "-c", f"-I{CSRC}", str(src), "-o", str(obj)],
                           capture_output=True, text=True)
        return obj, r.stderr if r.returncode == 0 else f"exit {r.returncode}\n{r.stderr}"

    sources = [*ARM_SOURCES, ROOT / "tests/native/neon_vs_scalar.c"]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return dict(zip(sources, pool.map(compile_one, sources)))


@needs_cross
def test_every_c_file_compiles_for_aarch64_without_warnings(arm_objects):
    for src, (_, stderr) in arm_objects.items():
        assert not stderr, f"{src.name}:\n{stderr}"


@needs_cross
def test_neon_kernels_match_scalar_under_qemu(tmp_path, arm_objects):
    assert all(not stderr for _, stderr in arm_objects.values())
    objects = [str(obj) for obj, _ in arm_objects.values()]
    exe = tmp_path / "neon_vs_scalar"
    build = subprocess.run([CC, "-static", "-pthread", *objects, "-o", str(exe), "-lm"],
                           capture_output=True, text=True)
    assert build.returncode == 0 and not build.stderr, build.stderr
    # qemu's default CPU has the dot-product extension; a Cortex-A53 has not, and must get the
    # baseline NEON int8 kernels instead of an illegal instruction
    for cpu, kernels in (([], "(neon, dotprod)"), (["-cpu", "cortex-a53"], "(neon)")):
        run = subprocess.run([QEMU, *cpu, str(exe)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.strip().endswith("OK")
        assert "probes checked" in run.stdout
        for name in ("F16", "BF16", "Q4_0", "Q8_0", "Q4_K", "Q6_K"):
            assert f"dequant {name} checked" in run.stdout
        assert "quantize checked" in run.stdout
        assert "gemv_f16 checked" in run.stdout
        assert "mix checked" in run.stdout
        assert "to_f16 checked" in run.stdout
        for name in ("Q4_0", "Q8_0", "Q4_K", "Q6_K"):
            assert f"gemm_q {name} checked {kernels}" in run.stdout
        for op in ("silu", "sigmoid", "gelu_erf", "swiglu", "glu", "softmax", "norms", "conv_dw"):
            assert f"{op} checked" in run.stdout
