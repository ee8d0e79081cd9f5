"""runtime.md: the operations (create, start, state, kill, delete), their errors and the lifecycle."""

from __future__ import annotations

import os
import time

from .. import sysutil
from ..ctx import Ctx
from ..registry import case

SLEEP = ["sleep", "300"]


def _sleeper(t: Ctx):
    return t.create(t.bundle(SLEEP))


@case("lifecycle/create-leaves-created", spec="runtime.md create: status MUST be created; program not run")
def create_leaves_created(t: Ctx) -> None:
    marker = "/tmp/ran"
    b = t.bundle(["/bin/sh", "-c", f"touch {marker}; exec sleep 300"])
    c = t.create(b)
    t.eq(c.status(), "created", "status after create")
    t.check(sysutil.alive(c.pid), f"container process {c.pid} is not alive after create")
    time.sleep(0.2)
    t.check(not os.path.exists(b.rootfs + marker), "the user program ran before start")


@case(
    "lifecycle/start-runs-program",
    spec="runtime.md start: MUST run the user-specified program; status running",
)
def start_runs_program(t: Ctx) -> None:
    b = t.bundle(["/bin/sh", "-c", "touch /tmp/ran; exec sleep 300"])
    c = t.create(b)
    c.start()
    t.eq(c.status(), "running", "status after start")
    deadline = time.monotonic() + 5
    while not os.path.exists(b.rootfs + "/tmp/ran") and time.monotonic() < deadline:
        time.sleep(0.02)
    t.check(os.path.exists(b.rootfs + "/tmp/ran"), "the program did not run after start")
    cmdline = (sysutil.read_text(f"/proc/{c.pid}/cmdline") or "").split("\0")
    t.eq(cmdline[:2], ["sleep", "300"], "host view of the container process's argv")


@case("lifecycle/stopped-after-exit", spec="runtime.md: when the process exits, status MUST be stopped")
def stopped_after_exit(t: Ctx) -> None:
    c = t.create(t.bundle(["true"]))
    c.start()
    c.wait_stopped()
    t.eq(c.status(), "stopped", "status after the process exited")


@case(
    "lifecycle/stopped-while-zombie", spec="runtime.md state: stopped once the process exited, even unreaped"
)
def stopped_while_zombie(t: Ctx) -> None:
    c = t.create(t.bundle(["true"]))
    c.start()
    deadline = time.monotonic() + 5
    while sysutil.proc_state(c.pid) not in ("Z", None) and time.monotonic() < deadline:
        time.sleep(0.02)
    t.eq(sysutil.proc_state(c.pid), "Z", "the exited container process (not yet reaped) state")
    t.eq(c.status(), "stopped", "status while the exited process is an unreaped zombie")


@case("lifecycle/delete-stopped", spec="runtime.md delete: MUST delete the resources created by create")
def delete_stopped(t: Ctx) -> None:
    c = t.create(t.bundle(["true"]))
    c.start()
    c.wait_stopped()
    c.delete()
    t.check(not t.rt("state", c.id).ok, "state still answers after delete")
    t.check(not os.path.exists(os.path.join(t.root, c.id)), "the container's state dir survived delete")


@case(
    "lifecycle/delete-created-refused",
    spec="runtime.md delete: deleting a container that is not stopped MUST error",
)
def delete_created_refused(t: Ctx) -> None:
    c = _sleeper(t)
    res = c.delete(expect_ok=False)
    t.check(not res.ok, "delete of a created container succeeded; the spec requires an error and no effect")
    t.eq(c.status(), "created", "status after the refused delete")


@case(
    "lifecycle/delete-running-refused",
    spec="runtime.md delete: deleting a container that is not stopped MUST error",
)
def delete_running_refused(t: Ctx) -> None:
    c = _sleeper(t)
    c.start()
    res = c.delete(expect_ok=False)
    t.check(not res.ok, "delete of a running container succeeded")
    t.eq(c.status(), "running", "status after the refused delete")
    t.check(sysutil.alive(c.pid), "the refused delete killed the container process")


@case("lifecycle/delete-force-running")
def delete_force_running(t: Ctx) -> None:
    """runc extension used by every manager: delete --force kills and removes a running container."""
    c = _sleeper(t)
    c.start()
    c.delete(force=True)
    c.wait_stopped(5)
    t.check(not t.rt("state", c.id).ok, "state still answers after delete --force")


@case("lifecycle/delete-force-created")
def delete_force_created(t: Ctx) -> None:
    """delete --force of a created container removes it and its blocked init."""
    c = _sleeper(t)
    c.delete(force=True)
    c.wait_stopped(5)
    t.check(not t.rt("state", c.id).ok, "state still answers after delete --force")


@case(
    "lifecycle/start-twice-refused",
    spec="runtime.md start: starting a started container MUST error, no effect",
)
def start_twice_refused(t: Ctx) -> None:
    c = _sleeper(t)
    c.start()
    res = c.start(expect_ok=False)
    t.check(not res.ok, "a second start succeeded")
    t.eq(c.status(), "running", "status after the refused second start")


@case("lifecycle/start-stopped-refused", spec="runtime.md start: only a created container can be started")
def start_stopped_refused(t: Ctx) -> None:
    c = t.create(t.bundle(["true"]))
    c.start()
    c.wait_stopped()
    res = c.start(expect_ok=False)
    t.check(not res.ok, "start of a stopped container succeeded")
    t.eq(c.status(), "stopped", "status after the refused start")


@case("lifecycle/kill-created", spec="runtime.md kill: a created container can be signalled")
def kill_created(t: Ctx) -> None:
    c = _sleeper(t)
    c.kill("KILL")
    c.wait_stopped(5)
    t.eq(c.status(), "stopped", "status after SIGKILL to a created container")


@case("lifecycle/kill-running-by-name", spec="runtime.md kill: MUST send the specified signal")
def kill_running_by_name(t: Ctx) -> None:
    script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"
    c = t.create(t.bundle(["/bin/sh", "-c", script]))
    c.start()
    _wait_for_output(t, c, "ready")
    c.kill("TERM")
    status = c.wait_exit(5)
    t.check(status is not None, "the process did not exit after SIGTERM")
    if status >= 0:
        t.eq(c.exit_code(), 42, "exit code from the TERM trap (the signal that arrived)")
    t.eq(c.status(), "stopped", "status after the process exited")


@case("lifecycle/kill-running-by-number", spec="runtime.md kill: MUST send the specified signal")
def kill_running_by_number(t: Ctx) -> None:
    script = "trap 'exit 43' USR1; echo ready; while :; do sleep 0.05; done"
    c = t.create(t.bundle(["/bin/sh", "-c", script]))
    c.start()
    _wait_for_output(t, c, "ready")
    c.kill("10")
    status = c.wait_exit(5)
    t.check(status is not None, "the process did not exit after signal 10 (SIGUSR1)")
    if status >= 0:
        t.eq(c.exit_code(), 43, "exit code from the USR1 trap")


@case("lifecycle/kill-sigkill-status", spec="runtime.md kill: MUST send the specified signal")
def kill_sigkill_status(t: Ctx) -> None:
    c = _sleeper(t)
    c.start()
    c.kill("SIGKILL")
    status = c.wait_exit(5)
    t.check(status is not None, "the process did not exit after SIGKILL")
    if status >= 0:
        t.check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9, f"wait status {status:#x}, want SIGKILL")


@case(
    "lifecycle/kill-stopped-refused",
    spec="runtime.md kill: signalling a container neither created nor running MUST error",
)
def kill_stopped_refused(t: Ctx) -> None:
    c = t.create(t.bundle(["true"]))
    c.start()
    c.wait_stopped()
    res = c.kill("KILL", expect_ok=False)
    t.check(not res.ok, "kill of a stopped container succeeded")
    t.eq(c.status(), "stopped", "status after the refused kill")


@case(
    "lifecycle/unknown-id-refused",
    spec="runtime.md: state/start/kill/delete of a container that does not exist MUST error",
)
def unknown_id_refused(t: Ctx) -> None:
    for op in (["state"], ["start"], ["kill", "KILL"], ["delete"]):
        cid = t.new_id("missing")
        res = t.rt(op[0], cid, *op[1:])
        t.check(not res.ok, f"{op[0]} of an unknown id succeeded")
        t.check(
            not os.path.exists(os.path.join(t.root, cid)), f"{op[0]} of an unknown id created state for it"
        )


@case(
    "lifecycle/duplicate-id-refused",
    spec="runtime.md create: an id that is not unique MUST error, nothing created",
)
def duplicate_id_refused(t: Ctx) -> None:
    first = _sleeper(t)
    second = t.create(t.bundle(SLEEP), cid=first.id, expect_ok=False)
    t.check(not second.create_result.ok, "a second create with the same id succeeded")
    t.eq(first.status(), "created", "the first container's status after the refused duplicate")
    st = first.state()
    t.eq(st.get("pid"), first.pid, "the first container's pid after the refused duplicate")


@case(
    "lifecycle/config-changes-ignored",
    spec="runtime.md: updates to config.json after create MUST NOT affect it",
)
def config_changes_ignored(t: Ctx) -> None:
    b = t.bundle(["/cfcheck", "argv", "original"])
    c = t.create(b)
    b.config["process"]["args"] = ["/cfcheck", "argv", "changed"]
    b.write()
    c.start()
    c.wait_stopped()
    t.eq(c.output().get("argv.2"), "original", "argv after config.json was edited between create and start")


def _wait_for_output(t: Ctx, c, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in (sysutil.read_text(c.out_path) or ""):
            return
        time.sleep(0.02)
    t.fail(f"the container never printed {text!r}")
