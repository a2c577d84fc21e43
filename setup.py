"""Build of granite_native._native: one Cython extension over the C kernels in csrc/.

Each csrc file is compiled with the flags of the ISA its name ends in (``*_avx2.c``,
``*_avx512.c``, ``*_amx.c``, ``*_avxvnni.c``, ``*_neon.c``, ``*_dotprod.c``); every other file
gets none, so nothing that runs before run-time dispatch can contain an instruction the CPU may
lack.
"""
import os
import sysconfig
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

ROOT = Path(__file__).parent
CSRC = "csrc"

# a literal, so that tests can read it without running setup()
GCC_FLAGS = {
    "avx2": ["-mavx2", "-mfma", "-mf16c"],
    "avx512": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl",
               "-mavx512dq", "-mavx512vnni", "-mavx512bf16"],
    "amx": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
            "-mavx512vnni", "-mavx512bf16", "-mamx-tile", "-mamx-bf16"],
    "avxvnni": ["-mavx2", "-mfma", "-mf16c", "-mavxvnni"],
    "neon": [],
    "dotprod": ["-march=armv8.2-a+dotprod"],
}
MSVC_FLAGS = {"avx2": ["/arch:AVX2"], "avx512": ["/arch:AVX512"], "amx": ["/arch:AVX512"],
              "avxvnni": ["/arch:AVX2"], "neon": [], "dotprod": []}
ISA_ARCH = {"avx2": "x86", "avx512": "x86", "amx": "x86", "avxvnni": "x86", "neon": "arm",
            "dotprod": "arm"}
# Extensions that older compilers lack (AMX: GCC < 11; AVX-VNNI: GCC < 11, clang < 12): a
# snippet the compiler must build with the ISA's flags, and the flags its files get instead,
# without their kernels (their getters return NULL, and the kernels are not offered).
NEWER_ISAS = {
    "amx": ("void f(void) { _tile_release(); }", "avx512"),
    "avxvnni": ("__m256i f(__m256i a) { return _mm256_dpbusd_avx_epi32(a, a, a); }", "avx2"),
}


def target_arch():
    plat = os.environ.get("_PYTHON_HOST_PLATFORM") or sysconfig.get_platform()
    plat = plat.lower()
    if any(a in plat for a in ("arm64", "aarch64")):
        return "arm"
    if any(a in plat for a in ("x86_64", "amd64", "win32", "i686")):
        return "x86"
    return "other"


def isa_of(path):
    stem = Path(path).stem
    for isa in GCC_FLAGS:
        if stem.endswith("_" + isa):
            return isa
    return None


class BuildExt(build_ext):
    """Compiles csrc/ per ISA group and links the objects into the extension."""

    def build_extension(self, ext):
        msvc = self.compiler.compiler_type == "msvc"
        base = ["/O2", "/std:c11", "/fp:precise"] if msvc else [
            "-O3", "-std=c11", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
            "-Wno-unused-parameter", "-fvisibility=hidden"]
        arch = target_arch()
        groups = {}
        for src in sorted((ROOT / CSRC).glob("*.c")):
            isa = isa_of(src)
            if isa and ISA_ARCH[isa] != arch:
                continue  # the file's kernels cannot run on this target
            groups.setdefault(isa, []).append(os.path.relpath(src, ROOT))
        objects = []
        for isa, sources in groups.items():
            flags = base + ((MSVC_FLAGS if msvc else GCC_FLAGS)[isa] if isa else [])
            if isa in NEWER_ISAS and not msvc and not self.accepts(isa, flags):
                flags = base + GCC_FLAGS[NEWER_ISAS[isa][1]]
            objects += self.compiler.compile(
                sources, output_dir=self.build_temp, include_dirs=[CSRC],
                extra_postargs=flags, depends=[str(p) for p in (ROOT / CSRC).glob("*.h")])
        ext.extra_objects = objects
        # relink when any C file or header changes, not only the .pyx
        ext.depends = sorted(str(p) for p in (ROOT / CSRC).glob("*.[ch]")) + sorted(
            str(p) for p in (ROOT / "granite_native").glob("*.pxi"))
        ext.extra_compile_args = [] if msvc else ["-O2"]
        if not msvc and os.name != "nt":
            ext.extra_link_args = ["-pthread"]
        super().build_extension(ext)

    def accepts(self, isa, flags):
        probe = Path(self.build_temp) / f"{isa}_probe.c"
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text(f"#include <immintrin.h>\n{NEWER_ISAS[isa][0]}\n")
        try:
            self.compiler.compile([str(probe)], output_dir=self.build_temp, extra_postargs=flags)
            return True
        except CompileError:
            return False


setup(
    ext_modules=cythonize(
        [Extension("granite_native._native", ["granite_native/_native.pyx"], include_dirs=[CSRC])],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    ),
    cmdclass={"build_ext": BuildExt},
)
