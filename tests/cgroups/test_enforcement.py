"""The kernel enforces what the manager writes: real processes, on v1 here and on
v2 in the guest (these tests carry the `vm` marker so tests/vm/run-v2 runs them)."""

from __future__ import annotations

import os
import select
import signal
import stat
import time

import pytest

from pyrunc.cgroups import CgroupError

from .helpers import BUSYBOX, eventually, read, run_in

pytestmark = pytest.mark.vm

MiB = 1 << 20


def memory_limits(limit: int) -> dict:
    # memory+swap equal to memory: no swap, whether or not the host has any.
    return {"memory": {"limit": limit, "swap": limit}}


def test_memory_limit_oom_kills_and_the_oom_event_is_seen(cgroups):
    mgr = cgroups.open()
    mgr.apply(memory_limits(32 * MiB))
    with mgr.oom_events() as watcher:
        status, _, _ = run_in(mgr, f"{BUSYBOX} dd if=/dev/zero of=/dev/null bs=96M count=1")
        assert status == -signal.SIGKILL
        assert watcher.wait(timeout=30) >= 1
        assert watcher.oom_kill_count() >= 1
    memory = mgr.stats()["memory"]
    assert memory["usage"]["limit"] == 32 * MiB
    assert memory["usage"]["max"] > 28 * MiB  # the peak reached the limit


def test_process_under_the_memory_limit_runs_to_completion(cgroups):
    mgr = cgroups.open()
    mgr.apply(memory_limits(128 * MiB))
    status, _, err = run_in(mgr, f"{BUSYBOX} dd if=/dev/zero of=/dev/null bs=32M count=2")
    assert status == 0, err


def test_live_memory_update_takes_effect(cgroups, workloads):
    mgr = cgroups.open()
    mgr.apply(memory_limits(256 * MiB))
    keeper = workloads("exec sleep 600", mgr)  # a running container
    allocate = f"{BUSYBOX} dd if=/dev/zero of=/dev/null bs=64M count=1"

    mgr.update({"memory": {"limit": 24 * MiB, "swap": 24 * MiB}})
    assert run_in(mgr, allocate)[0] == -signal.SIGKILL

    mgr.update({"memory": {"limit": 256 * MiB, "swap": 256 * MiB}})
    assert run_in(mgr, allocate)[0] == 0
    assert keeper.proc.poll() is None


def test_pids_limit_stops_a_fork_bomb(cgroups, workloads):
    mgr = cgroups.open()
    mgr.apply({"pids": {"limit": 16}})
    events = pids_events_file(mgr)
    # Unlimited, this doubles until the machine is full. With the limit, forks
    # beyond 16 tasks fail ("max N" counts them) and the failing shells exit.
    bomb = workloads("bomb() { bomb & bomb & wait; }; bomb", mgr)
    seen = []
    while bomb.proc.poll() is None or mgr.pids():
        seen.append(len(mgr.pids()))
        if len(seen) > 20000:
            break
    mgr.kill_all(signal.SIGKILL)
    assert max(seen) <= 16
    assert int(read(events).split()[1]) > 0
    _, _, err = bomb.output()
    assert "can't fork" in err


def pids_events_file(mgr) -> str:
    if mgr.version == 2:
        return os.path.join(mgr.dir, "pids.events")
    return os.path.join(mgr.paths["pids"], "pids.events")


def test_frozen_cgroup_makes_no_progress(cgroups, workloads, tmp_path):
    mgr = cgroups.open()
    counter = tmp_path / "counter"
    workloads(f"i=0; while :; do i=$((i+1)); echo $i > {counter}; done", mgr)
    assert eventually(lambda: counter.exists() and counter.read_text().strip() not in ("", "1"))

    mgr.freeze()
    assert mgr.is_frozen()
    first = counter.read_text()
    time.sleep(0.5)
    assert counter.read_text() == first

    mgr.thaw()
    assert not mgr.is_frozen()
    assert eventually(lambda: counter.read_text() != first)


def test_cpuset_pins_the_process(cgroups):
    cpus = sorted(os.sched_getaffinity(0))
    mgr = cgroups.open()
    mgr.apply({"cpu": {"cpus": str(cpus[-1])}})
    status, out, _ = run_in(mgr, "grep Cpus_allowed_list /proc/self/status")
    assert status == 0
    assert out.split()[-1] == str(cpus[-1])


def test_device_rules_deny_dev_null(cgroups, tmp_path):
    mgr = cgroups.open()
    mgr.apply(
        {
            "devices": [
                {"allow": True, "access": "rwm"},
                {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            ]
        },
        default_devices=False,
    )
    status, _, err = run_in(mgr, "head -c1 /dev/null")
    assert status != 0 and "Operation not permitted" in err
    status, _, err = run_in(mgr, f"mknod {tmp_path}/null c 1 3")
    assert status != 0 and "Operation not permitted" in err
    status, out, _ = run_in(mgr, "head -c4 /dev/zero | wc -c")
    assert status == 0 and out.strip() == "4"


def test_default_devices_stay_usable_under_a_deny_all_config(cgroups):
    mgr = cgroups.open()
    mgr.apply({"devices": [{"allow": False, "access": "rwm"}]})  # runc's default set is appended
    status, _, err = run_in(mgr, "echo x > /dev/null && head -c1 /dev/zero >/dev/null")
    assert status == 0, err
    status, _, err = run_in(mgr, "exec 3</dev/kmsg")  # c 1:11 is not in the default set
    assert status != 0 and "Operation not permitted" in err


def host_console_node(directory) -> str:
    """A node of the host's console (c 5:1) outside /dev, as a rootfs could ship one."""
    path = os.path.join(str(directory), "console")
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(5, 1))
    return path


def test_default_devices_keep_the_host_console_out(cgroups, tmp_path):
    # Issue 18 item 2: runc's defaults do not grant c 5:1; a container's console is its pty.
    console = host_console_node(tmp_path)
    mgr = cgroups.open()
    mgr.apply({"devices": [{"allow": False, "access": "rwm"}]})
    for redirect in ("<", ">", "<>"):
        status, _, err = run_in(mgr, f"exec 3{redirect}{console}")
        assert status != 0 and "Operation not permitted" in err, (redirect, err)


def test_kill_all_reaches_every_process(cgroups, workloads):
    mgr = cgroups.open()
    workloads("sleep 600 & sleep 600 & (sleep 600 &) ; exec sleep 600", mgr)
    assert eventually(lambda: len(mgr.pids()) == 4)
    mgr.kill_all(signal.SIGKILL)
    assert eventually(lambda: mgr.pids() == [])
    mgr.destroy()
    assert not mgr.exists()


def test_kill_all_with_a_catchable_signal_leaves_a_paused_container_paused(cgroups, workloads):
    mgr = cgroups.open()
    workloads("trap 'echo got' TERM; while :; do sleep 1; done", mgr)
    assert eventually(lambda: len(mgr.pids()) >= 1)
    mgr.freeze()
    mgr.kill_all(signal.SIGTERM)
    assert mgr.is_frozen()
    mgr.thaw()


def test_pids_are_listed_recursively(cgroups, workloads):
    # On v2 only leaves hold processes ("no internal processes"): use two leaves.
    mgr = cgroups.open()
    left, right = cgroups.open("c", "left"), cgroups.open("c", "right", "deeper")
    one = workloads("exec sleep 600", left)
    two = workloads("exec sleep 600", right)
    assert mgr.pids() == sorted([one.pid, two.pid])
    assert left.pids() == [one.pid]


def test_stats_report_usage(cgroups, workloads):
    mgr = cgroups.open()
    mgr.apply({"pids": {"limit": 50}, **memory_limits(64 * MiB)})
    workloads("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 600", mgr)
    assert eventually(lambda: mgr.stats()["cpu"]["usage"].get("total", 0) > 0)
    stats = mgr.stats()
    assert stats["pids"] == {"current": 1, "limit": 50}
    assert stats["memory"]["usage"]["limit"] == 64 * MiB
    assert stats["memory"]["usage"]["usage"] > 0
    assert set(stats) == {
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    }


def test_destroy_is_idempotent_and_leaves_nothing(cgroups):
    mgr = cgroups.open("a", "b", "c")
    assert mgr.exists()
    mgr.destroy()
    mgr.destroy()
    assert not mgr.exists()


def test_destroy_refuses_while_processes_live_and_names_them(cgroups, workloads):
    mgr = cgroups.open()
    workloads("exec sleep 600", mgr)
    with pytest.raises(CgroupError, match="processes still in it"):
        mgr.destroy()


def test_oom_watcher_is_quiet_until_an_oom(cgroups):
    mgr = cgroups.open()
    mgr.apply(memory_limits(32 * MiB))
    with mgr.oom_events() as watcher:
        poller = select.poll()
        poller.register(watcher.fileno(), watcher.poll_events)
        assert poller.poll(0) == []  # nothing pending: an events loop would not spin
        assert watcher.wait(timeout=0.2) == 0
        assert run_in(mgr, f"{BUSYBOX} dd if=/dev/zero of=/dev/null bs=64M count=1")[0] == -signal.SIGKILL
        assert eventually(lambda: poller.poll(0) != [])
        assert watcher.wait(timeout=5) >= 1
