"""The systemd driver's pure parts (issue 12): runc's cgroupsPath form, slice nesting, and the
resources systemd takes as unit properties. No systemd needed: these run on any host."""

from __future__ import annotations

import pytest

from pyrunc.cgroups import CgroupError
from pyrunc.cgroups.systemd import (
    INFINITY,
    annotation_properties,
    device_properties,
    expand_slice,
    parse_cgroups_path,
    parse_gvariant,
    unit_properties,
)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("", ("system.slice", "runc-ID.scope", "ID")),  # runc's default
        ("system.slice:docker:ID", ("system.slice", "docker-ID.scope", "ID")),
        (
            "kubepods-besteffort-podU.slice:cri-containerd:ID",
            ("kubepods-besteffort-podU.slice", "cri-containerd-ID.scope", "ID"),
        ),
        ("machine.slice:libpod:ID", ("machine.slice", "libpod-ID.scope", "ID")),
        (":libpod:ID", ("system.slice", "libpod-ID.scope", "ID")),
        ("system.slice::ID", ("system.slice", "ID.scope", "ID")),
    ],
)
def test_cgroups_path_names_slice_and_scope(path, expected):
    assert parse_cgroups_path(path, "ID") == expected


@pytest.mark.parametrize(
    "path",
    [
        "a:b",
        "a:b:c:d",
        "/abs/path",
        "x.slice:p:",
        "a/b.slice:p:n",
        "-x.slice:p:n",
        "a--b.slice:p:n",
        "s.slice:p:a b",
    ],
)
def test_bad_cgroups_path_names_the_field(path):
    with pytest.raises(CgroupError, match=r"linux\.cgroupsPath"):
        parse_cgroups_path(path, "ID")


def test_slices_nest_by_dashes():
    assert expand_slice("-.slice") == "/"
    assert expand_slice("system.slice") == "/system.slice"
    assert expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"


def test_resources_as_unit_properties():
    props = dict(
        unit_properties(
            {
                "memory": {"limit": 1 << 27, "reservation": 1 << 20, "swap": 1 << 28},
                "cpu": {"shares": 1024, "quota": 33333, "period": 100000, "cpus": "0-1,9", "mems": "0"},
                "pids": {"limit": -1},
                "blockIO": {"weight": 1000},
            },
            "linux.resources",
        )
    )
    assert props == {
        "MemoryMax": ("t", 1 << 27),
        "MemoryLow": ("t", 1 << 20),
        "MemorySwapMax": ("t", 1 << 27),  # OCI swap is memory+swap; systemd's is swap alone
        "CPUWeight": ("t", 39),
        "CPUQuotaPeriodUSec": ("t", 100000),
        "CPUQuotaPerSecUSec": ("t", 340000),  # rounded up to whole percents, as runc does
        "AllowedCPUs": ("ay", b"\x03\x02"),
        "AllowedMemoryNodes": ("ay", b"\x01"),
        "TasksMax": ("t", INFINITY),
        "IOWeight": ("t", 10000),
    }


def test_a_unified_value_systemd_cannot_take_is_refused_before_systemd_is_asked():
    # Bad values (a memory.limit of "lots"...) never reach the mapping: the schema and
    # config/semantic.py refuse them first, for create and update (tests/integration/test_cgroups.py,
    # which tests/vm/run-systemd also runs under --systemd-cgroup).
    with pytest.raises(CgroupError, match=r"linux\.resources\.unified\.cpu\.max"):
        unit_properties({"unified": {"cpu.max": "x y"}}, "linux.resources")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("uint64 123456789", ("t", 123456789)),
        ("'inactive-or-failed'", ("s", "inactive-or-failed")),
        ("true", ("b", True)),
        ("2", ("i", 2)),  # GVariant's default integer type
        ("0.5", ("d", 0.5)),
        ("['a', 'b']", ("as", ["a", "b"])),
        ("@as []", ("as", [])),
        ("@t 7", ("t", 7)),
        ("int64 -3", ("x", -3)),
    ],
)
def test_gvariant_text_values(text, expected):
    assert parse_gvariant(text) == expected


@pytest.mark.parametrize("text", ["", "uint8 1", "byte 300", "[]", "'open", "1 2", "[1, 'a']"])
def test_gvariant_text_refused(text):
    with pytest.raises(ValueError):
        parse_gvariant(text)


def test_annotations_become_properties_as_in_runc():
    props = annotation_properties(
        {
            "org.systemd.property.TimeoutStopUSec": "uint64 123456789",
            "org.systemd.property.CollectMode": "'inactive-or-failed'",
            "org.systemd.property.RuntimeMaxSec": "2",  # ...Sec is seconds: becomes ...USec
            "org.opencontainers.image.title": "not ours",
        }
    )
    assert props == [
        ("CollectMode", ("s", "inactive-or-failed")),
        ("RuntimeMaxUSec", ("t", 2_000_000)),
        ("TimeoutStopUSec", ("t", 123456789)),
    ]


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("X1", "1", "not a systemd property name"),
        ("RuntimeMaxSec", "'soon'", "takes a number of seconds"),
        ("CollectMode", "inactive", "not a GVariant value"),
    ],
)
def test_bad_annotations_name_the_annotation(name, value, message):
    with pytest.raises(CgroupError, match=rf"annotations\['org\.systemd\.property\.{name}'\]: .*{message}"):
        annotation_properties({f"org.systemd.property.{name}": value})


def test_device_rules_as_systemd_allow_list():
    from pyrunc.cgroups import devices

    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},  # /dev/null
        {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # pts
        {"allow": True, "type": "b", "access": "m"},
        {"allow": True, "type": "c", "major": 1, "minor": 254, "access": "r"},  # no such device
    ]
    state = devices.emulate(devices.parse_rules(rules, "devices"))
    assert device_properties(state) == [
        ("DevicePolicy", ("s", "strict")),
        ("DeviceAllow", ("a(ss)", [("block-*", "m"), ("/dev/char/1:3", "rw"), ("char-pts", "rwm")])),
    ]
    # systemd has no deny list: allow-by-default stays "auto" (pyrunc's BPF program enforces it).
    denying = devices.emulate(
        devices.parse_rules([{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}], "d")
    )
    assert device_properties(denying) == [("DevicePolicy", ("s", "auto")), ("DeviceAllow", ("a(ss)", []))]


@pytest.mark.parametrize(
    "path, expected",
    [
        # runc's rule: a name ending in .slice is the unit itself, the prefix unused.
        ("a.slice:p:a-b.slice", ("a.slice", "a-b.slice", "a-b.slice")),
        ("a-b.slice::a-b-c.slice", ("a-b.slice", "a-b-c.slice", "a-b-c.slice")),
        ("-.slice:p:top.slice", ("-.slice", "top.slice", "top.slice")),
        (":p:system-x.slice", ("system.slice", "system-x.slice", "system-x.slice")),
    ],
)
def test_a_name_ending_in_slice_is_a_slice_unit(path, expected):
    assert parse_cgroups_path(path, "ID") == expected


@pytest.mark.parametrize(
    "path, hint",
    [
        # systemd places a slice by its name: these would not be where runc's path says.
        ("system.slice:p:foo.slice", "would make its cgroup /foo.slice, not /system.slice/foo.slice"),
        ("a.slice:p:a-b-c.slice", "not /a.slice/a-b-c.slice"),
        ("a-b.slice:p:a-c.slice", "'a-c.slice' is not a child of 'a-b.slice'"),
        ("-.slice:p:a-b.slice", "would make its cgroup /a.slice/a-b.slice, not /a-b.slice"),
    ],
)
def test_a_slice_that_is_not_a_child_of_its_parent_is_refused(path, hint):
    with pytest.raises(CgroupError, match=r"linux\.cgroupsPath") as e:
        parse_cgroups_path(path, "ID")
    assert hint in str(e.value)


def test_a_slice_unit_is_checked_like_a_scope_name():
    with pytest.raises(CgroupError, match=r"linux\.cgroupsPath"):
        parse_cgroups_path("a.slice:p:a-b c.slice", "ID")
    with pytest.raises(CgroupError, match=r"linux\.cgroupsPath"):
        parse_cgroups_path("a.slice:p:a--b.slice", "ID")


def test_zero_values_dockerd_sends_are_not_set():
    # dockerd 20.10's spec for a container with no limits (found in the systemd guest).
    resources = {"memory": {}, "cpu": {"shares": 0}, "pids": {"limit": 0}, "blockIO": {"weight": 0}}
    assert unit_properties(resources, "linux.resources") == []
