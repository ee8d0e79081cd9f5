"""Store.remove gives up the id before it empties the directory, and store_write.lock_lockless locks a
directory an earlier pyrunc left without its lock file (pyrunc/store.py). Real files in a
temporary root; the race they close is tests/reliability/test_races.py's
test_a_delete_at_its_last_step_has_already_given_up_the_id."""

from __future__ import annotations

import fcntl
import json
import os

import pytest

from pyrunc.errors import PyruncError
from pyrunc.store import CLAIM_PREFIX, LOCK_FILE, ForeignContainer, Store
from pyrunc.store_write import lock_lockless, remove_dead_claims


def container_dir(root, cid: str = "c", lock: bool = True) -> str:
    path = os.path.join(root, cid)
    os.mkdir(path)
    for name in ("state.json", "config.json") + ((LOCK_FILE,) if lock else ()):
        with open(os.path.join(path, name), "w") as f:
            f.write(json.dumps({"id": cid, "pid": 1, "init_start": 1}) if name == "state.json" else "{}")
    return path


def test_remove_takes_the_directory_and_leaves_no_claim(tmp_path):
    container_dir(tmp_path)
    Store(str(tmp_path)).remove("c")
    assert os.listdir(tmp_path) == []


def test_remove_of_a_missing_directory_is_quiet(tmp_path):
    Store(str(tmp_path)).remove("c")
    assert os.listdir(tmp_path) == []


def test_a_dead_claim_of_this_pid_in_the_way_is_cleared(tmp_path):
    container_dir(tmp_path)
    stale = tmp_path / f"{CLAIM_PREFIX}{os.getpid()}-c"  # what a killed process with our pid left
    stale.mkdir()
    (stale / "state.json").write_text("{}")
    Store(str(tmp_path)).remove("c")
    assert os.listdir(tmp_path) == []


def test_a_claim_that_cannot_be_cleared_leaves_the_container_whole(tmp_path):
    path = container_dir(tmp_path)
    stale = tmp_path / f"{CLAIM_PREFIX}{os.getpid()}-c"
    (stale / "subdirectory").mkdir(parents=True)  # no pyrunc claim has one: not emptied
    with pytest.raises(PyruncError, match="is in the way"):
        Store(str(tmp_path)).remove("c")
    assert sorted(os.listdir(path)) == ["config.json", LOCK_FILE, "state.json"]


def test_lock_lockless_without_a_directory_is_none(tmp_path):
    assert lock_lockless(Store(str(tmp_path)), "c") is None
    assert os.listdir(tmp_path) == []


def test_lock_lockless_gives_a_lockless_directory_its_lock(tmp_path):
    path = container_dir(tmp_path, lock=False)
    fd = lock_lockless(Store(str(tmp_path)), "c")
    assert fd is not None
    try:
        assert os.path.exists(os.path.join(path, LOCK_FILE))
        other = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: by fd
        finally:
            os.close(other)
    finally:
        os.close(fd)


def test_lock_lockless_of_a_directory_with_its_lock_locks_that_one(tmp_path):
    path = container_dir(tmp_path)
    before = os.stat(os.path.join(path, LOCK_FILE)).st_ino
    fd = lock_lockless(Store(str(tmp_path)), "c")
    assert fd is not None
    try:
        assert os.fstat(fd).st_ino == before
    finally:
        os.close(fd)


def test_lock_lockless_gives_no_lock_to_runcs_directory(tmp_path):
    path = tmp_path / "c"
    path.mkdir()
    (path / "state.json").write_text(json.dumps({"id": "c", "init_process_pid": 1}))
    with pytest.raises(ForeignContainer):
        lock_lockless(Store(str(tmp_path)), "c")
    assert os.listdir(path) == ["state.json"]


def test_claim_names_fit_a_file_name_and_name_one_id(tmp_path):
    """A claim name is "#claim-<pid>" and claim_suffix(id): the id itself while the whole fits
    in a file name, a hash of it beyond; remove_dead_claims finds a dead claim of either kind,
    and no other id's."""
    from pyrunc.store import claim_suffix

    short, long_, other = "c", "l" * 250, "l" * 249
    assert claim_suffix(short) == "-c"
    for cid in (long_, other, "m" * 255):
        assert len(f"{CLAIM_PREFIX}{2**22}{claim_suffix(cid)}") <= 255
    assert claim_suffix(long_) != claim_suffix(other)
    gone = 2**22 + 1  # above pid_max: no process has it
    for cid in (short, long_, other):
        os.mkdir(tmp_path / f"{CLAIM_PREFIX}{gone}{claim_suffix(cid)}")
    remove_dead_claims(Store(str(tmp_path)), long_)
    assert sorted(os.listdir(tmp_path)) == sorted(
        f"{CLAIM_PREFIX}{gone}{claim_suffix(cid)}" for cid in (short, other)
    )


def test_claims_of_an_id_are_not_those_of_an_id_ending_with_it():
    """claims_of, the one match of a claim name to an id (remove_dead_claims, the reliability
    harness and the shim's fault tests use it): the claims of "x-c" end with "-c", and are not
    "c"'s; a name without a pid, or not a claim, is no claim."""
    from pyrunc.store import claim_suffix
    from pyrunc.store_write import claims_of

    long_ = "l" * 250
    names = [
        f"{CLAIM_PREFIX}12-c",
        f"{CLAIM_PREFIX}13-x-c",
        f"{CLAIM_PREFIX}-c",
        f"{CLAIM_PREFIX}1a-c",
        "c",
        f"{CLAIM_PREFIX}14{claim_suffix(long_)}",
    ]
    assert claims_of(names, "c") == [(f"{CLAIM_PREFIX}12-c", 12)]
    assert claims_of(names, "x-c") == [(f"{CLAIM_PREFIX}13-x-c", 13)]
    assert claims_of(names, long_) == [(f"{CLAIM_PREFIX}14{claim_suffix(long_)}", 14)]
    assert claims_of(names, "l" * 249) == []
