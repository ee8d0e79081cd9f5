"""The shim's test-only fault hook (pyrunc/shim/faults.py): what its file says, and that it is off
when nothing configures it."""

from __future__ import annotations

import pytest

from pyrunc.shim import faults


def test_parse_targets_methods_and_points() -> None:
    text = "# comment\n\nc1 Create:rootfs-mounted stop\n  c1/e Start:reply \nc2 Shutdown:entry kill\n"
    assert faults.parse(text) == {
        ("c1", "Create", "rootfs-mounted"): "stop",
        ("c1/e", "Start", "reply"): "kill",
        ("c2", "Shutdown", "entry"): "kill",
    }


@pytest.mark.parametrize(
    "line",
    [
        "c1",
        "c1 Create",
        "c1 Create:",
        "c1 Create:somewhere",
        "Create:entry",
        "c1 Kill:entry pause",
        "c1 Kill:entry stop x",
    ],
)
def test_parse_names_a_bad_line(line: str) -> None:
    with pytest.raises(ValueError, match="PYRUNC_SHIM_FAULTS: bad line"):
        faults.parse(line)


def test_off_without_the_variable_or_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(faults.ENV, raising=False)
    assert not faults.load()
    monkeypatch.setenv(faults.ENV, str(tmp_path / "absent"))
    assert not faults.load()
    (tmp_path / "present").write_text("c1 Kill:entry\n")
    monkeypatch.setenv(faults.ENV, str(tmp_path / "present"))
    assert faults.load().faults == {("c1", "Kill", "entry"): "kill"}


def test_a_dead_claim_is_removed_and_a_live_one_kept(tmp_path) -> None:
    """What a create killed between the claim's mkdir and its rename leaves: containerd's `delete`
    of the shim removes it (store_write.remove_dead_claims), never a live process's claim."""
    import os
    import subprocess

    from pyrunc.store import CLAIM_PREFIX, Store
    from pyrunc.store_write import remove_dead_claims

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists (reaped)
    dead = tmp_path / f"{CLAIM_PREFIX}{gone.pid}-c1"
    live = tmp_path / f"{CLAIM_PREFIX}{os.getpid()}-c1"
    other = tmp_path / f"{CLAIM_PREFIX}{gone.pid}-c2"
    for claim in (dead, live, other):
        claim.mkdir()
        (claim / "lock").write_text("")
    remove_dead_claims(Store(str(tmp_path)), "c1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
