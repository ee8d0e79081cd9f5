"""setup.py, the build: a missing generator or C source stops it with the file's name (never a
package built without its part); the generators themselves are not installed.

Each case builds one copy of the checkout's tracked files (no root needed, the checkout untouched)
with one source removed, put back afterwards. The first case pays for Cython translating the two
.pyx files (setup.py does it before any build step); the later ones find them translated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's files as git sees them (tracked, or new and not ignored; not the
    sample bundles: not needed to build)."""
    destination = tmp_path_factory.mktemp("tree")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        if name.startswith("oci-bundles/") or not (REPO / name).is_file():
            continue  # a file deleted in the working tree but not yet in the index
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return destination


@pytest.mark.parametrize(
    "missing",
    [
        "tools/gen/regex_dfa.py",  # a part of a generator
        "tools/gen/cli_table.py",  # a generator
        "pyrunc/csrc/rootpath.c",  # C of the _core extension and the init helper
        "pyrunc/csrc/init.c",  # C of the init helper alone
        "pyrunc/csrc/command.c",  # the `pyrunc` command a wheel installs
    ],
)
def test_a_missing_source_stops_the_build_naming_it(tree: Path, tmp_path: Path, missing: str) -> None:
    kept = tmp_path / "kept"
    shutil.move(tree / missing, kept)
    try:
        result = subprocess.run(
            [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "out")],
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.move(kept, tree / missing)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"setup.py: missing source files: {missing}" in result.stderr, result.stderr
    assert not (tmp_path / "out" / "pyrunc").exists(), "nothing may be built without its part"
    assert not (tree / "pyrunc" / "pyrunc-init").exists()


def test_the_generators_are_not_in_the_installed_package() -> None:
    """They live in tools/gen/ (build time only); their outputs are generated into pyrunc/."""
    with open(REPO / "pyproject.toml", "rb") as f:
        packages = tomllib.load(f)["tool"]["setuptools"]["packages"]
    assert all(p == "pyrunc" or p.startswith("pyrunc.") for p in packages), packages
    in_package = [str(p.relative_to(REPO)) for p in (REPO / "pyrunc").rglob("gen_*.py")]
    assert in_package == [], f"generators inside the installed package: {in_package}"
    for module in ("fastcheck", "regex_dfa", "cli_table"):
        assert (REPO / "tools" / "gen" / f"{module}.py").is_file()
    assert os.path.exists(REPO / "pyrunc" / "config" / "_fastcheck.py"), "the build writes the outputs"
