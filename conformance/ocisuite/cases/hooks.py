"""config.md POSIX-platform Hooks and runtime.md Lifecycle: the six hook points, their order,
the state on stdin, and what a failing hook does."""

from __future__ import annotations

import os

from .. import sysutil
from ..ctx import Ctx
from ..registry import case

ALL_SIX = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def _labels(t: Ctx) -> list[str]:
    return [label for label, _ in t.hook_calls()]


def _full_lifecycle(t: Ctx, b) -> None:
    c = t.create(b)
    c.start()
    c.wait_stopped()
    c.delete()
    return c


@case("hooks/all-six-in-order", spec="config.md hooks: MUST be called in the listed order, each at its point")
def all_six_in_order(t: Ctx) -> None:
    b = t.bundle(["true"])
    for kind in ALL_SIX:
        t.add_hook(b, kind, kind)
    c = t.create(b)
    t.eq(_labels(t), ["prestart", "createRuntime", "createContainer"], "hooks run by create")
    c.start()
    c.wait_stopped()
    t.eq(_labels(t)[3:], ["startContainer", "poststart"], "hooks run by start")
    c.delete()
    t.eq(_labels(t), ALL_SIX, "hooks over the whole lifecycle")


@case("hooks/same-kind-in-order", spec="config.md hooks: entries of one kind run in array order")
def same_kind_in_order(t: Ctx) -> None:
    b = t.bundle(["true"])
    for label in ("first", "second", "third"):
        t.add_hook(b, "createRuntime", label)
    _full_lifecycle(t, b)
    t.eq(_labels(t), ["first", "second", "third"], "createRuntime hooks")


@case("hooks/state-on-stdin", spec="config.md hooks: the state MUST be passed to hooks over stdin")
def state_on_stdin(t: Ctx) -> None:
    b = t.bundle(["true"])
    b.config["annotations"] = {"org.example.hook": "seen"}
    for kind in ALL_SIX:
        t.add_hook(b, kind, kind)
    c = _full_lifecycle(t, b)
    calls = dict(t.hook_calls())
    for kind in ALL_SIX:
        st = calls.get(kind)
        t.check(isinstance(st, dict), f"{kind} hook got no JSON state on stdin")
        t.eq(st.get("id"), c.id, f"{kind} stdin id")
        t.eq(os.path.realpath(st.get("bundle", "")), os.path.realpath(b.path), f"{kind} stdin bundle")
        t.eq(st.get("annotations"), {"org.example.hook": "seen"}, f"{kind} stdin annotations")
        t.check(isinstance(st.get("ociVersion"), str), f"{kind} stdin has no ociVersion")
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart"):
        t.eq(calls[kind].get("pid"), c.pid, f"{kind} stdin pid")


@case("hooks/stdin-status", spec="runtime.md State statuses as seen by each hook")
def stdin_status(t: Ctx) -> None:
    """creating during create, created before the program runs, running after, stopped at delete."""
    b = t.bundle(["true"])
    for kind in ALL_SIX:
        t.add_hook(b, kind, kind)
    _full_lifecycle(t, b)
    calls = dict(t.hook_calls())
    want = {
        "prestart": "creating",
        "createRuntime": "creating",
        "createContainer": "creating",
        "startContainer": "created",
        "poststart": "running",
        "poststop": "stopped",
    }
    got = {kind: (calls.get(kind) or {}).get("status") for kind in ALL_SIX}
    # Before the program runs the spec's word is "created"; a runtime MAY define its own status
    # for that moment (crun says "starting"), but not one of the other spec statuses.
    if got["startContainer"] not in ("creating", "running", "stopped", None):
        want["startContainer"] = got["startContainer"]
    t.eq(got, want, "status on each hook's stdin")


@case(
    "hooks/args-and-env", spec="config.md hooks: args with execv argv semantics, env with environ semantics"
)
def args_and_env(t: Ctx) -> None:
    b = t.bundle(["true"])
    out = t.path("hookout")
    script = t.path("argsenv.sh")
    with open(script, "w") as f:
        f.write(f'#!/bin/sh\nprintf "%s|" "$@" "$HOOKVAR" "${{OCISUITE_MARK:-unset}}" > {out}\n')
    os.chmod(script, 0o755)
    b.config["hooks"] = {
        "createRuntime": [
            {"path": script, "args": ["argv-zero", "one", "two words"], "env": ["HOOKVAR=hv", "PATH=/bin"]}
        ]
    }
    c = t.create(b, env={**os.environ, "OCISUITE_MARK": "leaked-from-runtime-env"})
    c.delete(force=True)
    text = sysutil.read_text(out)
    t.check(text is not None, "the hook did not run")
    t.eq(
        text, "one|two words|hv|unset|", 'hook "$@"|$HOOKVAR|$OCISUITE_MARK (env is exactly the hook\'s env)'
    )


@case(
    "hooks/container-hooks-see-container",
    spec="config.md: createContainer/startContainer run in the container namespace",
)
def container_hooks_see_container(t: Ctx) -> None:
    b = t.bundle(["true"])
    out_dir = t.path("nsout")
    os.makedirs(out_dir)
    os.chmod(out_dir, 0o777)
    script = t.path("ns.sh")
    with open(script, "w") as f:
        f.write(
            f"#!/bin/sh\nreadlink /proc/self/ns/mnt > {out_dir}/$1\n"
            f"readlink /proc/self/ns/uts >> {out_dir}/$1\n"
        )
    os.chmod(script, 0o755)
    inside = b.rootfs + script
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    with open(script) as src, open(inside, "w") as dst:
        dst.write(src.read())
    os.chmod(inside, 0o755)
    b.config["mounts"].append(
        {"destination": out_dir, "type": "bind", "source": out_dir, "options": ["rbind"]}
    )
    b.config["hooks"] = {
        kind: [{"path": script, "args": [script, kind]}]
        for kind in ("createRuntime", "createContainer", "startContainer", "poststart")
    }
    c = t.create(b)
    ns = {"mnt": os.readlink(f"/proc/{c.pid}/ns/mnt"), "uts": os.readlink(f"/proc/{c.pid}/ns/uts")}
    c.start()
    c.wait_stopped()
    host = {"mnt": os.readlink("/proc/self/ns/mnt"), "uts": os.readlink("/proc/self/ns/uts")}
    for kind, where in (
        ("createRuntime", host),
        ("createContainer", ns),
        ("startContainer", ns),
        ("poststart", host),
    ):
        lines = (sysutil.read_text(os.path.join(out_dir, kind)) or "").split()
        t.check(len(lines) == 2, f"{kind} hook did not record its namespaces")
        t.eq(lines, [where["mnt"], where["uts"]], f"{kind} hook mount and uts namespaces")


def _failing_create_hook(t: Ctx, kind: str) -> None:
    b = t.bundle(["sleep", "300"])
    b.linux["cgroupsPath"] = t.cgroup_path("hookfail")
    t.add_hook(b, kind, "failing", exit_code=3)
    c = t.create(b, expect_ok=False)
    t.check(not c.create_result.ok, f"create succeeded although a {kind} hook exited 3")
    t.eq(_labels(t), ["failing"], "hooks run")
    t.assert_gone(c)


@case(
    "hooks/prestart-failure-fails-create",
    spec="runtime.md lifecycle: a failing prestart hook MUST error, stop, delete",
)
def prestart_failure(t: Ctx) -> None:
    _failing_create_hook(t, "prestart")


@case(
    "hooks/createRuntime-failure-fails-create",
    spec="runtime.md lifecycle: failing createRuntime MUST error, stop, delete",
)
def create_runtime_failure(t: Ctx) -> None:
    _failing_create_hook(t, "createRuntime")


@case(
    "hooks/createContainer-failure-fails-create",
    spec="runtime.md lifecycle: failing createContainer MUST error, stop, delete",
)
def create_container_failure(t: Ctx) -> None:
    _failing_create_hook(t, "createContainer")


@case(
    "hooks/startContainer-failure-fails-start",
    spec="runtime.md lifecycle: failing startContainer MUST error; program not run",
)
def start_container_failure(t: Ctx) -> None:
    b = t.bundle(["/bin/sh", "-c", "touch /tmp/ran"])
    t.add_hook(b, "startContainer", "failing", exit_code=3)
    c = t.create(b)
    res = c.start(expect_ok=False)
    t.check(not res.ok, "start succeeded although a startContainer hook exited 3")
    c.wait_exit(5)
    t.check(
        not os.path.exists(b.rootfs + "/tmp/ran"), "the user program ran after a failing startContainer hook"
    )
    t.check(
        not sysutil.alive(c.pid), "the container process is still alive after a failing startContainer hook"
    )


@case(
    "hooks/poststart-failure-fails-start",
    spec="runtime.md lifecycle (1.3): a failing poststart MUST be an error and stop the container",
)
def poststart_failure(t: Ctx) -> None:
    """runtime-spec 1.2 said a failing poststart hook only warns; 1.3 made it an error that stops
    the container, what runc did all along."""
    b = t.bundle(["sleep", "300"])
    t.add_hook(b, "poststart", "failing", exit_code=3)
    t.add_hook(b, "poststart", "after")
    c = t.create(b)
    res = c.start(expect_ok=False)
    t.check(not res.ok, "start succeeded although a poststart hook failed")
    t.eq(_labels(t)[:1], ["failing"], "the poststart hooks that ran")
    c.wait_stopped()


@case(
    "hooks/poststop-failure-is-warning",
    spec="runtime.md lifecycle: failing poststop MUST only warn; lifecycle continues",
)
def poststop_failure(t: Ctx) -> None:
    b = t.bundle(["true"])
    t.add_hook(b, "poststop", "failing", exit_code=3)
    t.add_hook(b, "poststop", "after")
    c = t.create(b)
    c.start()
    c.wait_stopped()
    res = c.delete(expect_ok=False)
    t.check(res.ok, f"delete failed because a poststop hook failed: {res.brief()}")
    t.eq(_labels(t), ["failing", "after"], "poststop hooks run (the rest continue after a failure)")
    t.check(not t.rt("state", c.id).ok, "the container still exists after delete")


@case(
    "hooks/timeout-fails-create",
    timeout=60,
    spec="config.md hooks: timeout is the number of seconds before aborting",
)
def timeout_fails_create(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    script, _ = t.hook_script()
    b.config["hooks"] = {
        "createRuntime": [{"path": script, "args": [script, "slow", "0", "30"], "timeout": 1}]
    }
    c = t.create(b, expect_ok=False)
    t.check(
        not c.create_result.ok, "create succeeded although its createRuntime hook outlived its 1s timeout"
    )
    t.assert_gone(c)


@case(
    "hooks/poststop-runs-after-force-delete",
    spec="config.md: poststop hooks are called after the container is deleted",
)
def poststop_after_force_delete(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    t.add_hook(b, "poststop", "poststop")
    c = t.create(b)
    c.start()
    c.delete(force=True)
    t.eq(_labels(t), ["poststop"], "hooks run by delete --force of a running container")
