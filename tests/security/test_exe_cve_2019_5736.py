"""CVE-2019-5736: the container rewrites the runtime's binary on the host through /proc/PID/exe.

The exploit plants a binary whose interpreter line is `#!/proc/self/exe`. When the runtime's
process execs it, the kernel runs whatever /proc/self/exe of that process is: for runc it was the
host's runc, now running as a container process, where the container's own processes could open
/proc/PID/exe, wait for the runtime to exit and write the host file. pyrunc's container processes
are started from a sealed memfd copy of a small static helper (pyrunc-init): the exploit re-runs
that memfd, which refuses to be written (F_SEAL_WRITE), and no host binary is ever reachable.

The attacker (attack.c) reports what it reached; `host_files_untouched` fails the test if the
interpreter, the pyrunc script, pyrunc-init on disk or the compiled core changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.security.helpers import (
    F_SEAL_SEAL,
    F_SEAL_WRITE,
    exec_output,
    join_pid_namespace,
    ns_pid,
    plant,
    plant_script,
    read_report,
    reported,
    run_detached,
    status,
    wait_until,
)
from tests.support import reap_orphans

EXPLOIT = "#!/proc/self/exe\n"
# How many times an exploit is launched before a hunt that never caught the re-run image is
# called inconclusive.
TRIES = 10


@pytest.fixture
def slow_stdin(tmp_path):
    """A 64 MiB sparse file for the exploit's stdin. The re-run helper takes its argv[1] ("/evil")
    as the fd of its plan (0: stdin) and scans it before it turns non-dumpable and fails: a big
    stdin keeps it alive long enough for the hunter to see it every time, instead of by luck.
    It changes how long the image lives, not which image it is."""
    path = tmp_path / "stdin"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    with open(path, "rb") as f:
        yield f


def assert_only_sealed_memfds(observations, host_identities):
    """Every exe the attacker opened is a sealed pyrunc-init memfd and every write failed."""
    exes = [o for o in observations if o.kind == "EXE"]
    for exe in exes:
        identity = (int(exe["dev"]), int(exe["ino"]))
        assert identity not in host_identities, f"reached host file {host_identities[identity]}: {exe}"
        assert exe["kind"] == "memfd" and exe["link"].startswith("/memfd:pyrunc-init"), exe
        seals = int(exe["seals"])
        assert seals & F_SEAL_WRITE and seals & F_SEAL_SEAL, f"memfd not sealed against writes: {exe}"
    writes = [o for o in observations if o.kind == "WRITE"]
    assert len(writes) == len(exes), observations
    assert all(w["result"] != "ok" for w in writes), f"a write went through: {writes}"
    return exes


def test_control_the_attacker_rewrites_a_host_binary_it_can_reach(attacker, tmp_path):
    """The detector works: against a process running a reachable host binary (a copy, outside any
    container), the attacker opens /proc/PID/exe, waits for it to exit and writes the file."""
    victim = str(tmp_path / "victim")
    shutil.copy("/usr/bin/sleep", victim)
    with open(victim, "rb") as f:
        content = f.read()
    sleeper = subprocess.Popen([victim, "1000"])
    out = tmp_path / "report"
    try:
        with open(out, "w") as f:
            probe = subprocess.Popen(
                [attacker, "probe", str(sleeper.pid)], stdout=f, env={"ATTACK_WRITE_WAIT": "60"}
            )
        wait_until(lambda: reported(str(out), "EXE"), "the attacker to open the exe")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert probe.wait(timeout=120) == 0
    observations = read_report(str(out))
    (exe,) = [o for o in observations if o.kind == "EXE"]
    assert exe["link"] == victim and exe["kind"] == "file"
    assert [o["result"] for o in observations if o.kind == "WRITE"] == ["ok"]
    with open(victim, "rb") as f:
        assert f.read() == content  # it wrote the first byte back onto itself


@pytest.mark.parametrize("how", ["run", "exec"])
def test_exploit_reruns_only_the_sealed_helper(runtime, make_bundle, cid, host_files_untouched, how):
    """The exploit as the container's process and through `exec`: the image it re-runs is the
    helper (it refuses to run without its plan), never the host's Python or pyrunc."""
    if how == "run":
        bundle = make_bundle(args=["/evil"])
        plant_script(bundle.rootfs, "evil", EXPLOIT)
        result = runtime("run", "--bundle", bundle.path, cid, check=False, stdin=subprocess.DEVNULL)
        code, output = result.returncode, result.stdout + result.stderr
    else:
        bundle = make_bundle(args=["sleep", "1000"])
        plant_script(bundle.rootfs, "evil", EXPLOIT)
        runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
        code, output = exec_output(runtime, cid, "/evil")
    assert code != 0
    assert "pyrunc init:" in output, output
    assert "python" not in output.lower(), output


def test_exploit_through_exec_hunted_from_the_container(
    runtime, make_bundle, cid, attacker, tmp_path, slow_stdin, host_files_untouched
):
    """The original attack: the container's init waits for `exec` of the planted binary, catches
    the re-run image, opens its exe and tries to write it once it is no longer running."""
    bundle = make_bundle(args=["/attack", "hunt", "/stop-hunt", "evil"])
    plant(bundle.rootfs, attacker)
    plant_script(bundle.rootfs, "evil", EXPLOIT)
    out = str(tmp_path / "hunter")
    run_detached(runtime, bundle, cid, out)
    wait_until(lambda: reported(out, "HUNTING"), "the hunter to start")
    for _ in range(TRIES):
        code, output = exec_output(runtime, cid, "/evil", stdin=slow_stdin.fileno())
        assert code != 0 and "pyrunc init:" in output, output
        if reported(out, "EXE"):
            break
    open(os.path.join(bundle.rootfs, "stop-hunt"), "w").close()
    wait_until(lambda: status(runtime, cid) == "stopped", "the hunter to finish")
    observations = read_report(out)
    exes = assert_only_sealed_memfds(observations, host_files_untouched)
    if not exes:
        pytest.skip(f"inconclusive: the hunter never caught the re-run image in {TRIES} tries")


def test_exploit_as_init_hunted_from_a_shared_pid_namespace(
    runtime, make_bundle, new_id, attacker, tmp_path, slow_stdin, host_files_untouched
):
    """The exploit as a container's own process, hunted from a sibling that owns the shared pid
    namespace (a pod): the sibling outlives the exploit's container."""
    pod = make_bundle(args=["/attack", "hunt", "/stop-hunt", "evil"])
    plant(pod.rootfs, attacker)
    pod_id = new_id("pod")
    out = str(tmp_path / "hunter")
    pod_pid = run_detached(runtime, pod, pod_id, out)
    wait_until(lambda: reported(out, "HUNTING"), "the hunter to start")
    victim = make_bundle(args=["/evil"])
    plant_script(victim.rootfs, "evil", EXPLOIT)
    join_pid_namespace(victim, pod_pid)
    for attempt in range(TRIES):
        result = runtime("run", "--bundle", victim.path, new_id(f"v{attempt}"), check=False, stdin=slow_stdin)
        assert result.returncode != 0 and "pyrunc init:" in result.stderr, result.stderr
        if reported(out, "EXE"):
            break
    open(os.path.join(pod.rootfs, "stop-hunt"), "w").close()
    wait_until(lambda: status(runtime, pod_id) == "stopped", "the hunter to finish")
    exes = assert_only_sealed_memfds(read_report(out), host_files_untouched)
    if not exes:
        pytest.skip(f"inconclusive: the hunter never caught the re-run image in {TRIES} tries")


def test_created_init_is_a_sealed_memfd_even_to_cap_sys_ptrace(
    runtime, make_bundle, new_id, attacker, tmp_path, host_files_untouched
):
    """Even an attacker allowed to read the waiting init's exe (CAP_SYS_PTRACE) gets the sealed
    memfd, and cannot write it after the init is gone (F_SEAL_WRITE, not just ETXTBSY)."""
    pod = make_bundle(args=["sleep", "1000"])
    plant(pod.rootfs, attacker)
    pod_id = new_id("pod")
    pod_pid = run_detached(runtime, pod, pod_id, str(tmp_path / "pod"))
    victim = make_bundle(args=["true"])
    join_pid_namespace(victim, pod_pid)
    victim_id = new_id("victim")
    runtime("create", "--bundle", victim.path, victim_id, stdin=subprocess.DEVNULL)
    target = ns_pid(runtime.state(victim_id)["pid"])
    out = str(tmp_path / "report")
    with open(out, "w") as f:
        probe = subprocess.Popen(
            runtime.cmd(
                "exec", "--cap", "CAP_SYS_PTRACE", "-e", "ATTACK_WRITE_WAIT=120", pod_id, "/attack", "probe",
                str(target),
            ),
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=f,
        )  # fmt: skip
    try:
        wait_until(lambda: reported(out, "EXE"), "the attacker to open the exe")
        runtime("delete", "--force", victim_id)  # the memfd is no longer executed: ETXTBSY ends
        # Its init is our (subreaper's) child: reap it, or the pod's init, the pid namespace's
        # reaper, waits for it forever when it is killed.
        reap_orphans()
        assert probe.wait(timeout=180) == 0
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()
    observations = read_report(out)
    assert len(assert_only_sealed_memfds(observations, host_files_untouched)) == 1, observations
    assert [o["result"] for o in observations if o.kind == "WRITE"] == ["EPERM"], observations
