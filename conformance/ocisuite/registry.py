"""The case registry: `@case("section/name", needs=(...))` on a function taking a Ctx."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable


class Case:
    def __init__(self, name: str, func: Callable, needs: tuple[str, ...], timeout: float, spec: str) -> None:
        self.name, self.func, self.needs, self.timeout, self.spec = name, func, needs, timeout, spec

    @property
    def section(self) -> str:
        return self.name.split("/", 1)[0]


CASES: list[Case] = []


def case(name: str, needs: tuple[str, ...] = (), timeout: float = 40.0, spec: str = "") -> Callable:
    """Register a case. `spec` is a short pointer to the clause it checks (shown in diagnostics)."""

    def register(func: Callable) -> Callable:
        if any(c.name == name for c in CASES):
            raise ValueError(f"duplicate case name {name}")
        CASES.append(Case(name, func, tuple(needs), timeout, spec or (func.__doc__ or "").strip()))
        return func

    return register


# The order sections run and are listed in: the spec's own order, then what a runtime must refuse,
# then runc's command-line extensions.
SECTION_ORDER = [
    "lifecycle", "state", "annotations", "hooks", "root", "mounts", "propagation", "paths", "process", "uts",
    "namespaces", "userns", "devices", "cgroups", "sysctl", "seccomp", "netdevices", "memorypolicy",
    "intelrdt", "negative", "compat",
]  # fmt: skip


def load_all() -> list[Case]:
    from . import cases  # noqa: F401  (importing registers every case)

    def rank(c: Case) -> int:
        return SECTION_ORDER.index(c.section) if c.section in SECTION_ORDER else len(SECTION_ORDER)

    return sorted(CASES, key=rank)


def select(cases: list[Case], patterns: list[str]) -> list[Case]:
    """Cases whose name matches any glob (or starts with a pattern ending in '/'); all when none."""
    if not patterns:
        return cases
    chosen = []
    for c in cases:
        for p in patterns:
            if fnmatch.fnmatchcase(c.name, p) or c.name.startswith(p) or fnmatch.fnmatchcase(c.name, p + "*"):
                chosen.append(c)
                break
    return chosen
