"""Container cgroups on cgroup v1 (including hybrid hosts) and cgroup v2, through cgroupfs or,
with --systemd-cgroup, through systemd (systemd.py).

    mgr = open_manager(config_cgroups_path, container_id)   # no I/O that changes anything
    mgr.create(); mgr.apply(resources); mgr.add(pid)
    state["cgroup"] = mgr.to_state()
    ...
    mgr = Manager.from_state(state["cgroup"])                # hot path: no probing
    mgr.kill_all(9); mgr.destroy()

Placement follows runc's cgroupfs driver:
- an absolute cgroupsPath is taken below each hierarchy's mount point;
- a relative one below the cgroup the runtime itself is in (v1: per hierarchy;
  v2: the *parent* of our own cgroup, because our own one has processes in it
  and so cannot enable controllers for a child);
- without cgroupsPath the container id is used as a relative path.

This package's own module defines nothing: each name below is imported from its module when it is
first asked for, so that `delete` (stored.py) loads neither the Manager nor a version's module.

Hot-path rule: stored.py, _fs.py, manager.py, v1.py and v2.py import nothing heavier than posix,
errno and time (not os: see pyrunc/paths.py; not signal, which imports enum). Resource validation,
devices, BPF, stats and events are imported on first use.
"""

TYPE_CHECKING = False  # mypy takes it as true
if TYPE_CHECKING:
    from pyrunc.cgroups._fs import CgroupError
    from pyrunc.cgroups.devices import DEFAULT_ALLOWED_DEVICES
    from pyrunc.cgroups.manager import Manager, cgroup_mode, inner_path, open_manager
    from pyrunc.cgroups.update_flags import update_flags_to_resources

# name: the module (of this package) that defines it
_DEFINED_IN = {
    "CgroupError": "_fs",
    "Manager": "manager",
    "cgroup_mode": "manager",
    "inner_path": "manager",
    "open_manager": "manager",
    "update_flags_to_resources": "update_flags",
    "DEFAULT_ALLOWED_DEVICES": "devices",
}

__all__ = [
    "DEFAULT_ALLOWED_DEVICES",
    "CgroupError",
    "Manager",
    "cgroup_mode",
    "inner_path",
    "open_manager",
    "update_flags_to_resources",
]


def __getattr__(name: str) -> object:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module 'pyrunc.cgroups' has no attribute {name!r}")
    return getattr(__import__(f"pyrunc.cgroups.{module}", fromlist=[name]), name)
