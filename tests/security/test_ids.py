"""No container id escapes --root: an id names a directory under --root, so an id with a path in it
(`..`, `/`, look-alike unicode) could read, signal or delete another root's container, or create
files anywhere. pyrunc takes runc's rule (`^[\\w+-\\.]+$` in ASCII, not `.` or `..`) for every verb.

The victim is a real running container in a sibling root, reachable as ../other-root/VICTIM from
the root under attack: after every verb with every hostile id it must be untouched (same state,
still running), and nothing may appear around the roots.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from pyrunc.errors import PyruncError
from pyrunc.store import check_id
from tests.support import PYRUNC, Runtime

HOSTILE_IDS = [
    "..",
    ".",
    "",
    "../other-root/{victim}",
    "../../other-root/{victim}",
    "other-root/../other-root/{victim}",
    "/tmp",
    "a/b",
    "..\u2215other-root\u2215{victim}",  # DIVISION SLASH
    "\u2024\u2024",  # ONE DOT LEADER, twice: looks like ".."
    "\uff0e\uff0e",  # FULLWIDTH FULL STOP, twice
    "caf\u00e9",
    "x\ny",
    "x y",
    "\u202e{victim}",  # RIGHT-TO-LEFT OVERRIDE
    "a" * 1025,
]
VERBS = [
    ["state"],
    ["start"],
    ["kill"],
    ["kill", "--all"],
    ["pause"],
    ["resume"],
    ["ps"],
    ["events", "--stats"],
    ["update", "--pids-limit", "10"],
    ["delete"],
    ["delete", "--force"],
    ["exec", "-d", "{id}", "true"],
    ["create", "--bundle", "{bundle}"],
    ["run", "-d", "--bundle", "{bundle}"],
]


class Victim:
    def __init__(self, runtime: Runtime, container_id: str) -> None:
        self.runtime = runtime
        self.id = container_id

    def state(self) -> dict:
        return self.runtime.state(self.id)


@pytest.fixture
def victim(make_bundle, tmp_path, new_id):
    """A running container in another root, next to the one attacked."""
    other = Runtime(PYRUNC, str(tmp_path / "other-root"))
    bundle = make_bundle(args=["sleep", "1000"])
    container_id = new_id("victim")
    other("run", "-d", "--bundle", bundle.path, container_id, stdin=subprocess.DEVNULL)
    try:
        yield Victim(other, container_id)
    finally:
        other("delete", "--force", container_id, check=False)


def command(verb: list[str], container_id: str, bundle: str) -> list[str]:
    args = [a.format(id=container_id, bundle=bundle) for a in verb]
    return args if "{id}" in verb else [*args, container_id]


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=lambda i: repr(i)[:24])
def test_hostile_id_is_refused_by_every_verb(runtime, make_bundle, tmp_path, victim, hostile):
    container_id = hostile.format(victim=victim.id)
    bundle = make_bundle()
    around = sorted(os.listdir(tmp_path))
    before = victim.state()
    for verb in VERBS:
        result = runtime(*command(verb, container_id, bundle.path), check=False, stdin=subprocess.DEVNULL)
        assert result.returncode == (255 if verb[0] == "exec" else 1), (verb, result)
        assert result.stderr.count("\n") == 1 and "container id" in result.stderr, (verb, result.stderr)
        assert victim.state() == before, verb
    assert before["status"] == "running"
    assert sorted(os.listdir(tmp_path)) == around
    assert not os.path.exists(runtime.root) or os.listdir(runtime.root) == []


def test_too_long_a_name_for_the_filesystem_fails_cleanly(runtime, make_bundle, cid):
    """A valid id the filesystem cannot hold (over NAME_MAX): a clear error, nothing made."""
    bundle = make_bundle()
    result = runtime("create", "--bundle", bundle.path, "a" * 300, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result
    assert not os.path.exists(runtime.root) or os.listdir(runtime.root) == []


@pytest.mark.parametrize("length", [240, 255])
def test_the_longest_ids_run_as_any_other(runtime, make_bundle, cid, length):
    """An id as long as a file name may be is a valid id (runc's rule; runc's state directory is
    named after it). pyrunc's claim name (the directory create builds before renaming it into
    place, and delete renames it to) must fit beside it: once "#claim-<pid>-<id>", a create of
    an id over about 240 characters failed with "file name too long"."""
    container_id = (cid + "-" + "x" * length)[:length]
    bundle = make_bundle(args=["sleep", "1000"])
    try:
        runtime("run", "-d", "--bundle", bundle.path, container_id, stdin=subprocess.DEVNULL)
        assert runtime.state(container_id)["status"] == "running"
        assert runtime("exec", container_id, "true", check=False).returncode == 0
        runtime("kill", container_id, "KILL")
        runtime("delete", "--force", container_id)
        assert os.listdir(runtime.root) == []
    finally:
        runtime("delete", "--force", container_id, check=False)


def test_odd_but_valid_ids_stay_under_root(runtime, make_bundle, tmp_path, cid):
    """Dots and dashes are allowed: `...`, `.hidden`, `-x` are plain names inside --root."""
    bundle = make_bundle(args=["true"])
    os.mkdir(runtime.root)
    around = sorted(os.listdir(tmp_path))
    names = [f"...{cid}", f".{cid}", f"-{cid}", f"{cid}..x"]
    try:
        for container_id in names:
            runtime("create", "--bundle", bundle.path, "--", container_id, stdin=subprocess.DEVNULL)
        assert sorted(os.listdir(runtime.root)) == sorted(names)
        assert sorted(os.listdir(tmp_path)) == around
    finally:
        for container_id in names:  # "--": the runtime fixture's clean-up would take -t... as an option
            runtime("delete", "--force", "--", container_id, check=False)


@pytest.mark.parametrize("container_id", ["a\0b", "\0", "..\0"])
def test_nul_in_an_id_is_refused(container_id):
    """An id arrives in argv, which cannot carry NUL (execve takes C strings); the check refuses
    it anyway, for callers of the library."""
    with pytest.raises(PyruncError, match="invalid container id"):
        check_id(container_id)
