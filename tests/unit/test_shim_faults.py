"""The shim's test-only fault hook (pyrunc/shim/faults.py): what its file says, and that it is off
when nothing configures it."""

from __future__ import annotations

import pytest

from pyrunc.shim import faults


def test_parse_targets_methods_and_points() -> None:
    text = "# comment\n\nc1 Create:rootfs-mounted\n  c1/e Start:reply \nc2 Shutdown:entry\n"
    assert faults.parse(text) == {
        ("c1", "Create", "rootfs-mounted"),
        ("c1/e", "Start", "reply"),
        ("c2", "Shutdown", "entry"),
    }


@pytest.mark.parametrize("line", ["c1", "c1 Create", "c1 Create:", "c1 Create:somewhere", " Create:entry"])
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
    assert faults.load().faults == {("c1", "Kill", "entry")}
