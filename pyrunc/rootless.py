"""Running without root: runc's --rootless rules, the default state directory of an ordinary user,
and user namespace maps that an unprivileged caller may write.

- rootless(): `--rootless auto|true|false` as runc decides it (auto: not euid 0, or euid 0
  inside a user namespace someone else made, e.g. podman's).
- default_root(): $XDG_RUNTIME_DIR/pyrunc for such a caller (runc: $XDG_RUNTIME_DIR/runc).
- write_id_maps(): one range mapping the caller's own id is written directly (gid maps after
  "deny" in setgroups, as the kernel requires of an unprivileged writer); anything more goes
  through the setuid newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.errors import PyruncError, errno_text
from pyrunc.paths import dirname, getenv, is_dir, join

FULL_MAP = ["0", "0", "4294967295"]  # /proc/self/uid_map of the initial user namespace
_TRUE = ("1", "t", "T", "true", "TRUE", "True")  # Go's strconv.ParseBool, as runc parses it
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def running_in_userns() -> bool:
    """runc's userns.RunningInUserNS: our uid map is not the initial namespace's identity map."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != FULL_MAP
    except OSError:
        return False


def parse_rootless(value: object) -> bool | None:
    """--rootless: True, False, or None for auto (runc's parseBoolOrAuto)."""
    text = "" if value is None else str(value)
    if text in ("", "auto"):
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PyruncError(f"--rootless {text}: must be true, false or auto")


def rootless(value: object = "auto") -> bool:
    """Whether this command runs rootless: cgroups are optional, no device nodes are made."""
    chosen = parse_rootless(value)
    if chosen is not None:
        return chosen
    return posix.geteuid() != 0 or running_in_userns()


def _honor_xdg_runtime_dir() -> bool:
    """As runc: an ordinary user, or root in someone else's user namespace unless USER=root."""
    if not getenv("XDG_RUNTIME_DIR"):
        return False
    if posix.geteuid() != 0:
        return True
    if not running_in_userns():
        return False
    return getenv("USER", "") != "root"


def default_root() -> str:
    """The state directory when --root is not given. An ordinary user without XDG_RUNTIME_DIR
    gets /run/user/UID/pyrunc (what logind would have set); root gets /run/pyrunc."""
    if _honor_xdg_runtime_dir():
        return join(getenv("XDG_RUNTIME_DIR") or "", "pyrunc")
    if posix.geteuid() != 0:
        return f"/run/user/{posix.geteuid()}/pyrunc"
    from pyrunc.store import DEFAULT_ROOT

    return DEFAULT_ROOT


# -- user namespace maps --------------------------------------------------------------------------


def map_lines(mappings: list[dict]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def own_id_only(mappings: list[dict], own: int) -> bool:
    """One range of size 1 onto our own id: what an unprivileged process may write itself."""
    return len(mappings) == 1 and mappings[0]["size"] == 1 and mappings[0]["hostID"] == own


def needs_helper(kind: str, mappings: list[dict]) -> bool:
    """True when writing these maps needs newuidmap/newgidmap: we are not privileged over the
    parent namespace and the maps name more than our own id."""
    if not mappings or _privileged_over_parent():
        return False
    own = posix.geteuid() if kind == "uid" else posix.getegid()
    return not own_id_only(mappings, own)


def _privileged_over_parent() -> bool:
    """CAP_SETUID/CAP_SETGID in our own namespace: root of the host, or root of a namespace we
    map a full range into (the kernel still checks each id against our own maps)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    return bool(caps & (1 << 6)) and bool(caps & (1 << 7))
    except OSError:
        pass
    return False


def write_id_maps(pid: int, linux: dict) -> None:
    """The init's uid_map and gid_map, from linux.uidMappings / gidMappings."""
    for kind in ("uid", "gid"):
        mappings = linux.get(f"{kind}Mappings") or []
        if needs_helper(kind, mappings):
            _write_with_helper(pid, kind, mappings)
        else:
            _write_direct(pid, kind, mappings)


def _write_direct(pid: int, kind: str, mappings: list[dict]) -> None:
    if kind == "gid" and mappings and not _privileged_over_parent():
        # An unprivileged writer may map its own gid only once setgroups is denied (user_namespaces(7)).
        try:
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")
        except OSError as err:
            raise PyruncError(f"deny setgroups in the user namespace: {errno_text(err)}") from None
    try:
        with open(f"/proc/{pid}/{kind}_map", "w") as f:
            f.write(map_lines(mappings))
    except OSError as err:
        raise PyruncError(
            f"linux.{kind}Mappings: cannot write the user namespace's {kind} map: {errno_text(err)}"
            + _hint(kind, err)
        ) from None


def _hint(kind: str, err: OSError) -> str:
    if posix.geteuid() != 0 and err.errno in (1, 13):  # EPERM, EACCES
        return f" (an unprivileged user may map only its own {kind}, or ranges of /etc/sub{kind})"
    return ""


def _write_with_helper(pid: int, kind: str, mappings: list[dict]) -> None:
    """newuidmap PID ID LOWER COUNT ...: the setuid helper checks each range against
    /etc/subuid (/etc/subgid) and our own id, and refuses what we do not own."""
    import shutil
    import subprocess

    tool = f"new{kind}map"
    path = shutil.which(tool)
    if path is None:
        raise PyruncError(
            f"linux.{kind}Mappings: mapping more than the caller's own {kind} needs {tool} "
            "(Debian package uidmap), which is not installed"
        )
    args = [path, str(pid)]
    for m in mappings:
        args += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise PyruncError(f"linux.{kind}Mappings: {tool} did not finish within 10s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise PyruncError(f"linux.{kind}Mappings: {tool} refused the mapping: {why}")


# -- cgroups --------------------------------------------------------------------------------------


def writable_cgroup(directories: list[str]) -> bool:
    """Whether we may make (or already own) every directory of the container's cgroup: each one,
    or its nearest existing parent, is writable by us (a delegated cgroup)."""
    for directory in directories:
        path = directory
        while not is_dir(path):
            parent = dirname(path)
            if parent == path:
                return False
            path = parent
        if not posix.access(path, posix.W_OK | posix.X_OK):
            return False
        if path == directory and not posix.access(join(path, "cgroup.procs"), posix.W_OK):
            return False
    return True


def field_needing_cgroup(resources: dict | None) -> str | None:
    """The first linux.resources field that only a cgroup can apply. Device rules are not among
    them: in a user namespace no device node can be made, so runc skips them too."""
    for key, value in (resources or {}).items():
        if key == "devices" or value in (None, {}, [], ""):
            continue
        return f"linux.resources.{key}"
    return None
