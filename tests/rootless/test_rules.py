"""The pure rules of pyrunc/rootless.py and config/spec.py's rootless spec (no user needed)."""

from __future__ import annotations

import os

import pytest

from pyrunc import rootless
from pyrunc.config.spec import default_spec
from pyrunc.errors import PyruncError


@pytest.mark.parametrize(
    ("value", "expected"),
    [("auto", None), ("", None), ("true", True), ("1", True), ("True", True), ("false", False), ("0", False)],
)
def test_rootless_flag_values_are_runcs(value: str, expected) -> None:
    assert rootless.parse_rootless(value) is expected


def test_a_bad_rootless_value_names_the_flag() -> None:
    with pytest.raises(PyruncError, match="--rootless yes: must be true, false or auto"):
        rootless.parse_rootless("yes")


def test_explicit_rootless_wins_over_detection() -> None:
    assert rootless.rootless("true") is True
    assert rootless.rootless("false") is False


def test_root_of_the_host_is_not_rootless_on_auto() -> None:
    if os.geteuid() != 0 or rootless.running_in_userns():
        pytest.skip("needs real root")
    assert rootless.rootless("auto") is False


def test_default_root(monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    monkeypatch.setattr(rootless.posix, "geteuid", lambda: 4242)
    assert rootless.default_root() == "/run/user/4242/pyrunc"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert rootless.default_root() == "/run/user/4242/pyrunc"  # logind's path, even unset
    monkeypatch.setattr(rootless.posix, "geteuid", lambda: 0)
    monkeypatch.setattr(rootless, "running_in_userns", lambda: False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    assert rootless.default_root() == "/run/pyrunc"  # real root ignores XDG_RUNTIME_DIR, as runc
    monkeypatch.setattr(rootless, "running_in_userns", lambda: True)
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert rootless.default_root() == "/run/user/1000/pyrunc"  # root of podman's namespace
    monkeypatch.setenv("USER", "root")
    assert rootless.default_root() == "/run/pyrunc"


def test_resources_that_need_a_cgroup() -> None:
    assert rootless.field_needing_cgroup(None) is None
    assert rootless.field_needing_cgroup({"devices": [{"allow": False, "access": "rwm"}]}) is None
    assert rootless.field_needing_cgroup({"memory": {}, "pids": {"limit": 5}}) == "linux.resources.pids"


def test_only_the_callers_own_single_id_is_written_directly(monkeypatch) -> None:
    monkeypatch.setattr(rootless, "_privileged_over_parent", lambda: False)
    monkeypatch.setattr(rootless.posix, "geteuid", lambda: 1000)
    own = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert not rootless.needs_helper("uid", own)
    assert rootless.needs_helper("uid", [{"containerID": 0, "hostID": 1000, "size": 2}])
    assert rootless.needs_helper("uid", [*own, {"containerID": 1, "hostID": 100000, "size": 65536}])
    assert rootless.needs_helper("uid", [{"containerID": 0, "hostID": 0, "size": 1}])
    monkeypatch.setattr(rootless, "_privileged_over_parent", lambda: True)
    assert not rootless.needs_helper("uid", [{"containerID": 0, "hostID": 0, "size": 65536}])


def test_rootless_spec_follows_runcs_to_rootless() -> None:
    spec = default_spec(rootless=True)
    kinds = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert kinds[-1] == "user" and "network" not in kinds and kinds.count("user") == 1
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert "resources" not in spec["linux"]
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations == [m["destination"] for m in default_spec()["mounts"]]  # none dropped
    devpts = next(m for m in spec["mounts"] if m["type"] == "devpts")
    assert "gid=5" not in devpts["options"]
