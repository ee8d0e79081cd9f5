"""A leak check around every checkpoint test (tests/leaks.py), and the CRIU probe."""

import functools
import subprocess

import pytest

from tests import leaks


@pytest.fixture(autouse=True)
def leak_check(tmp_path):
    yield from leaks.around_test(tmp_path)


@functools.cache
def criu_problem() -> str | None:
    """Why CRIU cannot checkpoint on this kernel, from `criu check` itself (not from a version
    number): Debian 12's criu 3.17 starts on the 6.1 kernel of tests/vm/run-v2's guest, but not
    on 6.18 ("Failed to fill self vdso symtable"). None when it can."""
    try:
        result = subprocess.run(["criu", "check"], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return "criu is not installed (tools/install --test installs Debian's criu)"
    except subprocess.TimeoutExpired:
        return "criu check did not finish within 120s"
    if result.returncode == 0:
        return None
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
    last = errors[0] if errors else (result.stderr.strip() or f"exit status {result.returncode}")
    return f"criu cannot run on this kernel ({last}): the checkpoint tests run in tests/vm/run-v2's guest"


@pytest.fixture
def criu() -> None:
    problem = criu_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture
def criu_broken() -> str:
    """For the tests of how a failing CRIU is reported: this kernel's own failure."""
    problem = criu_problem()
    if problem is None or "not installed" in problem:
        pytest.skip("criu works here (or is missing): no real CRIU failure to report")
    return problem
