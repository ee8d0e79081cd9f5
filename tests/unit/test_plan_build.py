"""plan.build is pure: what it knows of the host comes in plan.HostFacts, so the same config and
facts give the same plan, and changing a fact changes exactly what depends on it. No file of the
host is looked at (the bind source's kind is a fact too)."""

from __future__ import annotations

import pytest

from pyrunc import linux as L
from pyrunc import mounts, plan
from pyrunc.config import ConfigError
from pyrunc.errors import PyruncError
from tests.unit.test_plan_layout import records

CONFIG = {
    "root": {"path": "/nonexistent-rootfs"},
    "process": {
        "args": ["true"],
        "env": ["A=1"],
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    },
    "mounts": [
        {"destination": "/data", "type": "bind", "source": "/nonexistent-source", "options": ["rbind"]}
    ],
    "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]},
}


def facts(**changes) -> plan.HostFacts:
    given = {
        "kcore": False,
        "in_userns": False,
        "ungrantable_caps": 0,
        "bind_source_kind": lambda source, where: mounts.DEST_FILE,
    }
    given.update(changes)
    return plan.HostFacts("/nonexistent-rootfs", **given)


def tagged(built: plan.Plan, tag: int) -> list[bytes]:
    return [payload for t, payload in records(b"".join(built.records)) if t == tag]


def test_the_same_facts_give_the_same_plan_without_touching_the_host():
    first = plan.build(CONFIG, "/nonexistent-bundle", facts())
    again = plan.build(CONFIG, "/nonexistent-bundle", facts())
    assert first.records == again.records
    assert first.namespaces.clone_flags == L.CLONE_NEWNS | L.NAMESPACES["pid"][0]
    assert tagged(first, plan.T_ROOTFS) == [b"/nonexistent-rootfs\0"]


def test_kcore_decides_the_dev_core_link():
    def links(kcore: bool) -> list[bytes]:
        return tagged(plan.build(CONFIG, "/b", facts(kcore=kcore)), plan.T_SYMLINK)

    assert b"/proc/kcore\0dev/core\0" in links(True)
    assert b"/proc/kcore\0dev/core\0" not in links(False)


def test_a_runtime_in_a_user_namespace_binds_devices():
    def bind_flags(in_userns: bool) -> set[int]:
        devices = tagged(plan.build(CONFIG, "/b", facts(in_userns=in_userns)), plan.T_DEVICE)
        return {int.from_bytes(payload[20:24], "little") for payload in devices}

    assert bind_flags(True) == {1}
    assert bind_flags(False) == {0}


def test_the_bind_source_kind_is_asked_of_the_facts():
    asked = []

    def kind(source: str, where: str) -> int:
        asked.append((source, where))
        raise ConfigError(f"{where}.source", "refused by the facts")

    with pytest.raises(ConfigError, match=r"mounts\[0\]\.source"):
        plan.build(CONFIG, "/b", facts(bind_source_kind=kind))
    assert asked == [("/nonexistent-source", "mounts[0]")]


def test_an_ungrantable_capability_is_refused_by_the_facts_alone():
    plan.build(CONFIG, "/b", facts(ungrantable_caps=1 << L.CAPABILITIES["CAP_SYS_ADMIN"]))
    with pytest.raises(PyruncError, match="cannot grant CAP_KILL"):
        plan.build(CONFIG, "/b", facts(ungrantable_caps=1 << L.CAPABILITIES["CAP_KILL"]))


def test_listen_fds_reach_the_process_env():
    built = plan.build(CONFIG, "/b", facts(), preserve_fds=2, listen_fds=2)
    assert built.process["env"] == ["A=1", "LISTEN_FDS=2", "LISTEN_PID=1"]
    assert CONFIG["process"]["env"] == ["A=1"]


def test_a_config_without_process_is_refused():
    with pytest.raises(ConfigError, match="process"):
        plan.build({**CONFIG, "process": None}, "/b", facts())
