"""The runtimes under test: where their binaries are, their versions, a probe that they work here."""

import os
import shutil
from typing import NamedTuple

from . import procs
from .workspace import REPO, TRUE_ARGS, Workspace

KNOWN = ("pyrunc", "runc", "crun")
DEFAULT_PATHS = {
    "pyrunc": os.path.join(REPO, ".venv", "bin", "pyrunc"),
    "runc": "runc",
    "crun": "crun",
}


class Runtime(NamedTuple):
    name: str
    path: str  # absolute
    root: str  # absolute --root, one per runtime

    def argv(self, *args: str) -> list[str]:
        return [self.path, "--root", self.root, *args]


class Unusable(Exception):
    """This runtime cannot be measured here; the message says why."""


def parse_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        raise ValueError(f"--runtimes: unknown runtime {unknown[0]!r} (choose from {', '.join(KNOWN)})")
    if not names:
        raise ValueError("--runtimes: no runtime given")
    return list(dict.fromkeys(names))


def resolve(name: str, given: str) -> str:
    """Absolute path of an executable named or located by `given`."""
    found = shutil.which(given) if os.sep not in given else (given if os.access(given, os.X_OK) else None)
    if found is None:
        flag = f"--{name} PATH"
        raise Unusable(f"{given} not found or not executable (pass {flag})")
    return os.path.abspath(found)


def version(path: str) -> str:
    done = procs.run([path, "--version"], timeout=60)
    if done.returncode != 0:
        raise Unusable(f"`{path} --version` exited {done.returncode}: {last_line(done.stderr)}")
    return done.stdout.strip()


def probe(runtime: Runtime, workspace: Workspace) -> None:
    """One foreground `run` of the /bin/true bundle must succeed before anything is timed."""
    bundle = workspace.bundle("true", TRUE_ARGS)
    container = workspace.container_id(runtime.name, "probe")
    done = procs.run(runtime.argv("run", "--bundle", bundle, container), timeout=60)
    if done.returncode != 0:
        procs.run(runtime.argv("delete", "--force", container), timeout=60)
        raise Unusable(f"`run` of a /bin/true bundle exited {done.returncode}: {last_line(done.stderr)}")


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
