"""pyrunc's one mountinfo parser (pyrunc/mountinfo.py) against the tests' own (tests/mountinfo.py)."""

from __future__ import annotations

from pyrunc import mountinfo
from tests import mountinfo as oracle

LINE = (
    r"36 35 98:0 /with\040space /mnt/a\011tab\134back rw,noatime master:1 shared:2 - ext3 /dev/r\040oot"
    r" rw,errors=continue"
)


def test_a_line_with_escapes_and_optional_fields():
    m = mountinfo.parse(LINE + "\n")[0]
    assert (m.mount_id, m.parent_id, m.root, m.point) == (36, 35, "/with space", "/mnt/a\ttab\\back")
    assert (m.options, m.optional, m.fstype, m.source) == (
        "rw,noatime",
        ["master:1", "shared:2"],
        "ext3",
        "/dev/r oot",
    )
    assert m.super_options == "rw,errors=continue"
    assert mountinfo.unescape(r"a\09b\0") == r"a\09b\0"  # not three octal digits: kept as written


def test_both_parsers_read_this_process_s_mounts_alike():
    ours = [(m.mount_id, m.root, m.point, m.fstype, m.source, m.optional) for m in mountinfo.read()]
    theirs = [(m.mount_id, m.root, m.point, m.fstype, m.source, m.optional) for m in oracle.mounts()]
    assert ours == theirs
