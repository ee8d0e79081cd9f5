"""Build pyrunc: the Cython core, the libseccomp binding, the static init helper and the generated
fast paths (CLI dispatch table, schema validator).

Everything generated here has one source of truth checked in: pyrunc/cli.py for the dispatch table,
pyrunc/config/schema/ for the validator; tests check the generated files are current.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "pyrunc")
CSRC = os.path.join(PKG, "csrc")
INIT_SOURCES = ["init.c", "common.c", "hooks.c"]
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-D_GNU_SOURCE"]


def run_generators() -> None:
    """Write the generated modules that the hot paths import instead of click and jsonschema."""
    env = dict(os.environ, PYTHONPATH=HERE)
    generators = [
        ("pyrunc.config.gen_fastcheck", os.path.join(PKG, "config", "_fastcheck.py")),
        ("pyrunc.gen_cli_table", os.path.join(PKG, "_cli_table.py")),
    ]
    for module, out in generators:
        source = os.path.join(HERE, *module.split(".")) + ".py"
        if os.path.exists(source):
            subprocess.check_call([sys.executable, "-m", module, out], env=env)


def build_init_helper() -> None:
    """Static init helper: waits on exec.fifo, applies creds/caps/seccomp, execs the user process.
    Static (musl when available) so it runs from a sealed memfd inside any rootfs."""
    sources = [os.path.join(CSRC, name) for name in INIT_SOURCES]
    if not all(os.path.exists(path) for path in sources):
        return
    out = os.path.join(PKG, "pyrunc-init")
    compiler = shutil.which("musl-gcc") or "gcc"
    cmd = [compiler, "-static", "-Os", *CFLAGS, "-DPYRUNC_INIT", "-o", out, *sources]
    subprocess.check_call(cmd)
    subprocess.check_call(["strip", out])


class BuildPy(build_py):
    def run(self) -> None:
        run_generators()
        build_init_helper()
        super().run()


class BuildExt(build_ext):
    def run(self) -> None:
        run_generators()
        build_init_helper()
        super().run()


def extensions() -> list:
    from Cython.Build import cythonize

    exts = []
    if os.path.exists(os.path.join(PKG, "_core.pyx")):
        core_c = [os.path.join("pyrunc", "csrc", name) for name in ("child.c", "common.c", "hooks.c")]
        exts.append(
            Extension(
                "pyrunc._core",
                sources=["pyrunc/_core.pyx"] + [p for p in core_c if os.path.exists(p)],
                include_dirs=["pyrunc/csrc"],
                extra_compile_args=CFLAGS,
            )
        )
    if os.path.exists(os.path.join(PKG, "_seccomp.pyx")):
        exts.append(
            Extension(
                "pyrunc._seccomp",
                sources=["pyrunc/_seccomp.pyx"],
                libraries=["seccomp"],
                extra_compile_args=CFLAGS,
            )
        )
    return cythonize(exts, language_level=3, compiler_directives={"boundscheck": False})


setup(ext_modules=extensions(), cmdclass={"build_py": BuildPy, "build_ext": BuildExt})
