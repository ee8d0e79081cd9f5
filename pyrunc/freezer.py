"""Is a container's cgroup frozen? Read from the freezer's own file (v1 freezer.state, v2
cgroup.freeze) at the paths state.json records.

Its own small module: `state` asks this of every running container, and importing the cgroup
package for it would cost more than the whole answer. The managers' is_frozen use it too.
"""

from pyrunc.paths import read_first_line


def freezer_file(cgroup_state: dict) -> tuple[str, str] | None:
    """(file, the value it holds when frozen), or None without a freezer."""
    if cgroup_state.get("version") == 1:
        directory = (cgroup_state.get("paths") or {}).get("freezer")
        return (directory + "/freezer.state", "FROZEN") if directory else None
    if cgroup_state.get("version") == 2:
        return cgroup_state["path"] + "/cgroup.freeze", "1"
    return None


def is_frozen(cgroup_state: dict) -> bool:
    found = freezer_file(cgroup_state)
    if found is None:
        return False
    path, frozen_value = found
    try:
        return read_first_line(path) == frozen_value
    except OSError:
        return False  # gone, or going (ENODEV while a delete removes the cgroup): not frozen
