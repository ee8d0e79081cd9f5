"""Configurations and calls a runtime must refuse: an error, and nothing left behind
(runtime.md Errors: "generating an error MUST leave the state of the environment as if the
operation were never attempted")."""

from __future__ import annotations

import os
import re
import shutil

from .. import config as cfgmod
from .. import probes, sysutil
from ..ctx import Ctx
from ..registry import case


def _refused(t: Ctx, mutate, what: str, args: list[str] | None = None) -> None:
    b = t.bundle(args or ["sleep", "300"])
    b.linux["cgroupsPath"] = t.cgroup_path("neg")
    mutate(b)
    t.refuse(b, what)


@case(
    "negative/capability-unknown",
    spec="config.md capabilities: unmappable values MUST be logged as a warning",
)
def capability_unknown(t: Ctx) -> None:
    """Spec 1.0 required an error; 1.1+ a warning. Either is accepted, never a silent grant or silence."""
    b = t.bundle(["/cfcheck", "id"])
    b.process["capabilities"]["bounding"] = ["CAP_KILL", "CAP_BOGUS_OCISUITE"]
    log = t.path("runtime.log")
    c = t.create(b, expect_ok=False, global_args=("--log", log))
    if not c.create_result.ok:
        t.assert_gone(c)
        return
    c.start()
    c.wait_stopped()
    said = (sysutil.read_text(log) or "") + c.stderr()
    t.check(
        "CAP_BOGUS_OCISUITE" in said or "BOGUS" in said.upper(),
        "the unknown capability was accepted without a warning naming it",
    )
    bounding = probes.cap_names(int(c.output().get("cap_bnd") or "0", 16))
    t.eq(sorted(bounding), ["CAP_KILL"], "bounding set after ignoring the unknown capability")


@case("negative/rlimit-unknown-type", spec="config.md rlimits: MUST generate an error for unmappable values")
def rlimit_unknown(t: Ctx) -> None:
    _refused(
        t,
        lambda b: b.process["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}),
        "an unknown rlimit type",
    )


@case("negative/rlimit-duplicate", spec="config.md rlimits: duplicated entries with same type MUST error")
def rlimit_duplicate(t: Ctx) -> None:
    def mutate(b):
        b.process["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
            {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200},
        ]

    _refused(t, mutate, "two RLIMIT_NOFILE entries")


@case("negative/hook-relative-path", spec="config.md hooks: path MUST be absolute")
def hook_relative(t: Ctx) -> None:
    def mutate(b):
        os.makedirs(os.path.join(b.path, "bin"), exist_ok=True)
        os.symlink("/bin/true", os.path.join(b.path, "bin", "true"))
        b.config["hooks"] = {"createRuntime": [{"path": "bin/true"}]}

    _refused(t, mutate, "a hook with a relative path")


@case("negative/hook-missing-binary", spec="runtime.md lifecycle: a hook that cannot run fails create")
def hook_missing(t: Ctx) -> None:
    _refused(
        t,
        lambda b: b.config.update(hooks={"prestart": [{"path": "/nonexistent/ocisuite-hook"}]}),
        "a prestart hook that does not exist",
    )


@case("negative/hook-timeout-zero", spec="config.md hooks: if set, timeout MUST be greater than zero")
def hook_timeout_zero(t: Ctx) -> None:
    _refused(
        t,
        lambda b: b.config.update(hooks={"createRuntime": [{"path": "/bin/true", "timeout": 0}]}),
        "a hook timeout of 0",
    )


@case("negative/namespace-unknown-type", spec="config-linux.md namespaces: unsupported types MUST error")
def namespace_unknown(t: Ctx) -> None:
    _refused(t, lambda b: b.linux["namespaces"].append({"type": "bogus"}), "an unknown namespace type")


@case("negative/namespace-duplicate", spec="config-linux.md namespaces: duplicated types MUST error")
def namespace_duplicate(t: Ctx) -> None:
    _refused(t, lambda b: b.linux["namespaces"].append({"type": "ipc"}), "two ipc namespace entries")


@case(
    "negative/namespace-path-wrong-type", spec="config-linux.md namespaces: path of another type MUST error"
)
def namespace_path_wrong_type(t: Ctx) -> None:
    _refused(
        t,
        lambda b: cfgmod.set_namespace(b.config, "network", "/proc/self/ns/ipc"),
        "a network namespace path that is an ipc namespace",
    )


@case(
    "negative/namespace-path-missing", spec="runtime.md create: unable to create the environment MUST error"
)
def namespace_path_missing(t: Ctx) -> None:
    _refused(
        t,
        lambda b: cfgmod.set_namespace(b.config, "network", "/proc/ocisuite-missing/ns/net"),
        "a namespace path that does not exist",
    )


@case("negative/rootfs-missing", spec="config.md root.path: a directory MUST exist at the path")
def rootfs_missing(t: Ctx) -> None:
    _refused(t, lambda b: b.config["root"].update(path="no-such-rootfs"), "a missing root.path")


@case("negative/config-missing", spec="bundle.md: config.json MUST be in the bundle")
def config_missing(t: Ctx) -> None:
    b = t.bundle(["true"])
    cid = t.new_id()
    t.record("id", cid)
    res = t.rt("create", "--bundle", b.path, cid)
    t.check(not res.ok, "create succeeded without a config.json")
    t.check(not t.rt("state", cid).ok, "state answers for a container whose create failed")


@case("negative/config-malformed", spec="runtime.md create: unable to create the environment MUST error")
def config_malformed(t: Ctx) -> None:
    def mutate(b):
        b.raw_config = '{"ociVersion": "1.0.2", "process": {'

    _refused(t, mutate, "a config.json that is not JSON")


@case("negative/cwd-relative", spec="config.md process.cwd: MUST be an absolute path")
def cwd_relative(t: Ctx) -> None:
    _refused(t, lambda b: b.process.update(cwd="tmp"), "a relative process.cwd")


@case("negative/args-empty", spec="config.md process.args: at least one entry is REQUIRED")
def args_empty(t: Ctx) -> None:
    _refused(t, lambda b: b.process.update(args=[]), "an empty process.args")


@case("negative/executable-missing", spec="runtime.md: the program that cannot be run MUST produce an error")
def executable_missing(t: Ctx) -> None:
    res = _refused_with_result(t, lambda b: b.process.update(args=["/no/such/program"]))
    said = res.err + res.out
    t.check(
        "/no/such/program" in said or "no such file" in said.lower(),
        f"the error does not name the missing program: {said.strip()[-200:]!r}",
    )


def _refused_with_result(t: Ctx, mutate):
    b = t.bundle(["true"])
    mutate(b)
    return t.refuse(b, "a program that does not exist")


@case("negative/device-bad-type", spec="config-linux.md devices: type is one of c, b, u, p")
def device_bad_type(t: Ctx) -> None:
    _refused(
        t,
        lambda b: b.linux.update(devices=[{"path": "/dev/x", "type": "x", "major": 1, "minor": 3}]),
        "a device of type x",
    )


@case(
    "negative/mount-unknown-fstype", spec="runtime.md lifecycle: unable to create the environment MUST error"
)
def mount_unknown_fstype(t: Ctx) -> None:
    _refused(
        t, lambda b: cfgmod.add_mount(b.config, "/x", "nosuchfs-ocisuite", "none"), "a mount of type nosuchfs"
    )


@case(
    "negative/seccomp-unknown-action",
    needs=("seccomp",),
    spec="config-linux.md seccomp: action values are enumerated",
)
def seccomp_unknown_action(t: Ctx) -> None:
    def mutate(b):
        b.linux["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_BOGUS"}],
        }

    _refused(t, mutate, "an unknown seccomp action")


@case(
    "negative/seccomp-unknown-default-action",
    needs=("seccomp",),
    spec="config-linux.md seccomp: defaultAction",
)
def seccomp_unknown_default(t: Ctx) -> None:
    _refused(
        t, lambda b: b.linux.update(seccomp={"defaultAction": "SCMP_ACT_BOGUS"}), "an unknown defaultAction"
    )


@case("negative/sysctl-unknown", spec="runtime.md lifecycle: unable to create the environment MUST error")
def sysctl_unknown(t: Ctx) -> None:
    _refused(t, lambda b: b.linux.update(sysctl={"kernel.ocisuite_does_not_exist": "1"}), "an unknown sysctl")


@case("negative/id-path-escape", spec="runtime.md create: invalid ids MUST error; ids never leave --root")
def id_path_escape(t: Ctx) -> None:
    """Which ids are valid is the runtime's choice; writing outside --root because of one is never valid."""
    b = t.bundle(["sleep", "300"])
    absolute = f"/{t.token}-abs"
    victims = {"../escaped": t.path("escaped"), "a/../../escaped2": t.path("escaped2"), absolute: absolute}
    for cid, victim in victims.items():
        c = t.create(b, cid=cid, expect_ok=False)
        if c.create_result.ok:
            c.delete(force=True, expect_ok=False)
        escaped = os.path.exists(victim)
        if escaped and victim == absolute:
            shutil.rmtree(victim, ignore_errors=True)
        t.check(not escaped, f"create with id {cid!r} wrote {victim}, outside --root")


@case("negative/id-empty", spec="runtime.md: operations MUST error when not given a container id")
def id_empty(t: Ctx) -> None:
    for op in (["state"], ["start"], ["delete"], ["kill"]):
        res = t.rt(*op)
        t.check(not res.ok, f"`{op[0]}` without an id succeeded")


@case("negative/refused-leaves-no-state-dir")
def refused_leaves_no_state_dir(t: Ctx) -> None:
    """After a refused create, --root holds nothing for that id (a retry with the same id must work)."""
    b = t.bundle(["sleep", "300"])
    b.process["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1})
    c = t.create(b, expect_ok=False)
    t.check(not c.create_result.ok, "the runtime accepted an unknown rlimit")
    entries = [e for e in os.listdir(t.root) if re.search(re.escape(c.id), e)]
    t.check(not entries, f"--root still holds {entries} after the refused create")
    b.process["rlimits"].pop()
    again = t.create(b, cid=c.id)
    t.eq(again.status(), "created", "status of a retry with the same id")
