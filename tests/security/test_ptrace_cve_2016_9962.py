"""CVE-2016-9962: a container process ptraces, or opens the /proc files of, a runtime process that
is joining the container, and takes its fds, memory or exe before it is confined.

pyrunc's processes are non-dumpable from fork until their execve into the container (the child
sets it right after fork, the helper again after its own execve), so a container process without
CAP_SYS_PTRACE can neither ptrace them nor open /proc/PID/{exe,environ,mem,fd}. Two windows are
attacked: the init waiting in `created` (indefinitely, on exec.fifo), and a process joining a
container (an `exec`, or an init created into a shared pid namespace), held in a frozen cgroup so
that the attacker never has to win a race.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.security.helpers import (
    PROBES,
    exec_output,
    join_pid_namespace,
    plant,
    read_report,
    read_text,
    report,
    reported,
    run_detached,
    status,
    wait_until,
)
from tests.support import reap_orphans


def reached(observations, pid: str) -> list:
    """What the attacker got from `pid`: anything but a refusal."""
    return [o for o in observations if o.get("pid") == pid and o.kind in ("EXE", "REACHED", "FD")]


def test_created_init_cannot_be_reached_until_it_execs(runtime, make_bundle, cid, attacker):
    """Before `start`, pid 1 is the helper holding exec.fifo (a host path): nothing of it is
    reachable. After `start` it is the container's own process, and the same probe reaches it
    (the control: the probe would see a dumpable process)."""
    bundle = make_bundle(args=["sleep", "1000"])
    plant(bundle.rootfs, attacker)
    runtime("create", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    code, output = exec_output(runtime, cid, "/attack", "probe", "1")
    assert code == 0, output
    before = report(output)
    assert {o["what"] for o in before if o.kind == "DENIED"} == PROBES, before
    assert reached(before, "1") == [], before

    runtime("start", cid)
    init = runtime.state(cid)["pid"]
    wait_until(lambda: read_text(f"/proc/{init}/comm").strip() == "sleep", "the container's process")
    code, output = exec_output(runtime, cid, "/attack", "probe", "1")
    after = report(output)
    assert {o.get("what", o.kind) for o in reached(after, "1")} >= {"EXE", "environ", "ptrace"}, after


FREEZER = "/sys/fs/cgroup/freezer"


class Joining:
    """A process joining a container, held in a frozen cgroup where a hunter in the same pid
    namespace (a pod, with the caps given) attacks it at leisure. The process is placed in its
    cgroup by the runtime at setup, while it is still the runtime's, and stays frozen there until
    thawed, so the attack never has to win a race.

    - "exec": container A (sleep), the pod in A's pid namespace, `exec --ignore-paused` into A
      while A is paused.
    - "create": the pod owns the pid namespace; a container created into it (as the containers of
      a Kubernetes pod sharing one) whose freezer cgroup a createRuntime hook freezes, once the
      runtime has placed the process there (a cgroup frozen before create is refused).
    """

    def __init__(self, runtime, make_bundle, new_id, attacker, tmp_path, mode: str) -> None:
        self.runtime = runtime
        self.mode = mode
        self.target = make_bundle(args=["sleep", "1000"] if mode == "exec" else ["true"])
        self.target_id = new_id("target")
        self.pod = make_bundle(args=["/attack", "hunt", "/stop-hunt", "*"])
        self.pod.config["process"]["env"].append("ATTACK_WRITE_WAIT=1")
        plant(self.pod.rootfs, attacker)
        self.pod_id = new_id("pod")
        self.frozen = new_id("frozen")
        self.out = str(tmp_path / "hunter")
        self.joining_out = str(tmp_path / "joining")

    def attack(self, pod_caps: list[str] = ()) -> list:
        for kind in self.pod.config["process"]["capabilities"].values():
            kind.extend(pod_caps)
        self.pod.write()
        try:
            if self.mode == "exec":
                self._exec()
            else:
                self._create()
        finally:
            # Members of a pid namespace go (and are reaped) before its first process, which as
            # the namespace's reaper waits for them when it is killed.
            first, member = (
                (self.target_id, self.pod_id) if self.mode == "exec" else (self.pod_id, self.target_id)
            )
            self.runtime("delete", "--force", member, check=False)
            reap_orphans()
            self.runtime("delete", "--force", first, check=False)
            if os.path.isdir(os.path.join(FREEZER, self.frozen)):
                os.rmdir(os.path.join(FREEZER, self.frozen))
        return read_report(self.out)

    def _start_hunter(self) -> None:
        run_detached(self.runtime, self.pod, self.pod_id, self.out)
        wait_until(lambda: reported(self.out, "HUNTING"), "the hunter to start")

    def _exec(self) -> None:
        target_pid = run_detached(self.runtime, self.target, self.target_id, self.joining_out)
        join_pid_namespace(self.pod, target_pid)
        self._start_hunter()
        self.runtime("pause", self.target_id)
        self._hold(
            self.runtime.cmd("exec", "--ignore-paused", self.target_id, "true"),
            lambda: self.runtime("resume", self.target_id),
        )

    def _create(self) -> None:
        if not os.path.isdir(FREEZER):
            pytest.skip("needs the cgroup v1 freezer")
        self._start_hunter()
        join_pid_namespace(self.target, self.runtime.state(self.pod_id)["pid"])
        frozen = os.path.join(FREEZER, self.frozen)
        self.target.config["linux"]["cgroupsPath"] = "/" + self.frozen
        marker = os.path.join(os.path.dirname(self.out), "frozen-by-hook")
        freeze = f"echo FROZEN > {frozen}/freezer.state && touch {marker}"
        self.target.config.setdefault("hooks", {})["createRuntime"] = [
            {"path": "/bin/sh", "args": ["sh", "-c", freeze]}
        ]
        self.target.write()

        def thaw() -> None:
            # Not before the hook has frozen it (the hunter may be done with the process earlier).
            wait_until(lambda: os.path.exists(marker), "the createRuntime hook to freeze the cgroup")
            with open(os.path.join(frozen, "freezer.state"), "w") as f:
                f.write("THAWED")

        self._hold(self.runtime.cmd("create", "--bundle", self.target.path, self.target_id), thaw)

    def _hold(self, command: list[str], release) -> None:
        with open(self.joining_out, "a") as f:
            joining = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        try:
            wait_until(lambda: reported(self.out, "DENIED", "EXE"), "the hunter to probe the joining process")
        finally:
            release()
            assert joining.wait(timeout=120) == 0, read_text(self.joining_out)
        if self.mode == "create":
            # The created container lives in the hunter's pid namespace: it goes first (see attack()).
            self.runtime("delete", "--force", self.target_id)
            reap_orphans()
        open(os.path.join(self.pod.rootfs, "stop-hunt"), "w").close()
        wait_until(lambda: status(self.runtime, self.pod_id) == "stopped", "the hunter to finish")


@pytest.fixture(params=["exec", "create"])
def joining(request, runtime, make_bundle, new_id, attacker, tmp_path):
    return Joining(runtime, make_bundle, new_id, attacker, tmp_path, request.param)


def test_joining_process_cannot_be_reached(joining):
    observations = joining.attack()
    probed = {o["pid"] for o in observations if o.kind in ("DENIED", "EXE", "REACHED", "FD")}
    assert probed, observations
    for pid in probed:
        assert reached(observations, pid) == [], observations
        denied = {o["what"] for o in observations if o.kind == "DENIED" and o["pid"] == pid}
        assert denied == PROBES, observations


def test_control_cap_sys_ptrace_reaches_the_joining_process(joining):
    """Not defended, as in runc: a container given CAP_SYS_PTRACE without a user namespace can
    ptrace a process joining it (the capability overrides non-dumpability). This shows the hunter
    does see the joining process, so the refusals above are real."""
    observations = joining.attack(["CAP_SYS_PTRACE"])
    kinds = {o.get("what", o.kind) for o in observations if o.kind in ("EXE", "REACHED")}
    assert kinds >= {"EXE", "environ", "mem", "ptrace"}, observations


def test_joining_process_exe_is_never_a_host_binary(joining, host_files_untouched):
    """CVE-2019-5736 through the joining process: with CAP_SYS_PTRACE the attacker can open its
    exe; it must not be a host file the attacker could rewrite once nothing runs it."""
    observations = joining.attack(["CAP_SYS_PTRACE"])
    exes = [o for o in observations if o.kind == "EXE"]
    assert exes, observations
    for exe in exes:
        identity = (int(exe["dev"]), int(exe["ino"]))
        assert identity not in host_files_untouched, f"reached {host_files_untouched[identity]}: {exe}"
        assert exe["kind"] == "memfd", exe
    assert os.path.realpath(sys.executable) not in {e["link"] for e in exes}
