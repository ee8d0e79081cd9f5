"""What `checkpoint` and `restore` share: the options, CRIU's command line, and the mounts CRIU
must be told about.

pyrunc drives the `criu` command (dump, pre-dump, restore) rather than `criu swrk` and its RPC
protocol: every option runc passes over RPC has a command-line twin, no protobuf code is needed,
and the images are the same. runc uses two of the RPC's notifications during restore: at
`setup-namespaces` it runs the prestart and createRuntime hooks, which pyrunc does from CRIU's
`--action-script` (restore_hooks.py: the command line's twin of the notifications); and
`orphan-pts-master` hands it a terminal's pty master, which CRIU sends only over the RPC socket
(a file descriptor cannot come back from an action script): a restore of a container whose
process has a terminal is therefore refused.
"""

from __future__ import annotations

import os

from pyrunc.errors import PyruncError, errno_text

CGROUP_MODES = ("soft", "full", "strict", "ignore")
# --empty-ns: the namespace types runc accepts, as CRIU names them.
EMPTY_NS = {"network": "net"}
DESCRIPTORS = "descriptors.json"  # runc's name: where the init's stdio were
STDIO_KEYS = "pyrunc-stdio.json"  # CRIU's keys of the stdio that restore gives again (or "")
# Under software emulation a dump or restore of a small container takes seconds; a CRIU stuck
# on a peer (a lazy-pages client that never comes) must not hang the command for ever.
TIMEOUT = 600.0


class CriuOptions:
    """The flags checkpoint and restore share with runc (each verb uses its own subset)."""

    __slots__ = (
        "auto_dedup",
        "empty_ns",
        "ext_unix_sk",
        "external",
        "file_locks",
        "image_path",
        "lazy_pages",
        "leave_running",
        "manage_cgroups_mode",
        "page_server",
        "parent_path",
        "pre_dump",
        "shell_job",
        "status_fd",
        "tcp_established",
        "work_path",
    )
    auto_dedup: bool
    empty_ns: list[str]
    ext_unix_sk: bool
    external: list[str]
    file_locks: bool
    image_path: str
    lazy_pages: bool
    leave_running: bool
    manage_cgroups_mode: str | None
    page_server: str | None
    parent_path: str | None
    pre_dump: bool
    shell_job: bool
    status_fd: int
    tcp_established: bool
    work_path: str

    def __init__(self, **values: object) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))
        self.image_path = os.path.abspath(str(self.image_path or "checkpoint"))  # runc's default
        self.work_path = os.path.abspath(str(self.work_path)) if self.work_path else self.image_path
        self.external = list(self.external or ())
        self.empty_ns = list(self.empty_ns or ())
        self.status_fd = -1 if self.status_fd is None else int(self.status_fd)
        self.check()

    def check(self) -> None:
        mode = self.manage_cgroups_mode
        if mode and mode not in CGROUP_MODES:
            raise PyruncError(f"--manage-cgroups-mode {mode}: must be one of {', '.join(CGROUP_MODES)}")
        for ns in self.empty_ns:
            if ns not in EMPTY_NS:
                raise PyruncError(f"--empty-ns {ns}: namespace is not supported (only network)")
        if self.parent_path and os.path.isabs(str(self.parent_path)):
            raise PyruncError("--parent-path must be relative (to --image-path)")
        if self.page_server:
            host, _, port = str(self.page_server).rpartition(":")
            if not host or not port.isdigit():
                raise PyruncError(f"--page-server {self.page_server}: use ADDRESS:PORT")
        if self.status_fd >= 0:
            try:
                os.fstat(self.status_fd)
            except OSError as err:
                raise PyruncError(f"--status-fd {self.status_fd}: {errno_text(err)}") from None

    def shared_args(self) -> list[str]:
        """The flags dump and restore both take."""
        args = []
        for flag, on in (
            ("--tcp-established", self.tcp_established),
            ("--ext-unix-sk", self.ext_unix_sk),
            ("--shell-job", self.shell_job),
            ("--file-locks", self.file_locks),
            ("--auto-dedup", self.auto_dedup),
            ("--lazy-pages", self.lazy_pages),
        ):
            if on:
                args.append(flag)
        # As runc: CRIU always manages the container's cgroups, softly unless told otherwise.
        args.append(f"--manage-cgroups={self.manage_cgroups_mode or 'soft'}")
        for ns in self.empty_ns:
            args += ["--empty-ns", EMPTY_NS[ns]]
        for value in self.external:
            args += ["--external", value]
        if self.status_fd >= 0:
            args += ["--status-fd", str(self.status_fd)]
        return args


def make_directory(path: str, what: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as err:
        raise PyruncError(f"{what} {path}: {errno_text(err)}") from None


def external_mounts(config: dict, bundle: str, cgroup_state: dict | None, pid: int = 0) -> dict[str, str]:
    """The container's mounts whose source is outside it, as {destination: source on the host}.
    CRIU cannot dump these by itself: at dump each is named by its destination (the key in the
    images), at restore the key is mapped to the source again (which may have moved: a new
    cgroup directory, another bundle). Binds of the config, the host's /dev/null bound over masked
    files (`pid`: the running init, to tell masked files from masked directories; at restore the
    images already say which keys exist), and the container's cgroup directory bound at a cgroup
    mount when it has no cgroup namespace of its own."""
    from pyrunc import mounts, plan
    from pyrunc.cgroups import Manager
    from pyrunc.cgroups.mount_plan import cgroup_mounts

    found: dict[str, str] = {}
    for m in config.get("mounts") or []:
        options = m.get("options") or []
        if m.get("type") == "bind" or "bind" in options or "rbind" in options:
            source = m.get("source") or ""
            found["/" + mounts.clean_dest(m["destination"])] = (
                source if os.path.isabs(source) else os.path.join(bundle, source)
            )
    for path in (config.get("linux") or {}).get("maskedPaths") or []:
        dest = "/" + mounts.clean_dest(path)
        if pid and not _is_masked_file(pid, dest):
            continue
        found[dest] = "/dev/null"
    namespaces = plan.Namespaces(config)
    private_cgroupns = bool(namespaces.clone_flags & 0x02000000)
    cgroup_dirs = Manager.from_state(cgroup_state).directories() if cgroup_state else []
    for index, m in enumerate(config.get("mounts") or []):
        if m.get("type") != "cgroup":
            continue
        records = cgroup_mounts(
            m,
            index,
            private_cgroupns=private_cgroupns,
            userns="user" in namespaces.types,
            cgroup_dirs=cgroup_dirs,
        )
        for record in records:
            if record.kind == mounts.MOUNT_BIND:
                found["/" + record.dest] = record.source
    return found


def _is_masked_file(pid: int, dest: str) -> bool:
    """Is this masked path a /dev/null bind (a file) in the running container (a directory gets
    a tmpfs of its own, which CRIU dumps; a path that does not exist is not masked at all)?"""
    import stat

    try:
        st = os.stat(f"/proc/{pid}/root{dest}")
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def run_criu(
    argv: list[str], log_path: str, pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None
) -> None:
    """Run CRIU to completion; its failure is one line naming the action, the last error of its
    log and the log's path."""
    import subprocess

    from pyrunc import log

    log.debug("criu: " + " ".join(argv))
    try:
        # stdio stay ours: at restore CRIU hands them to the container (--inherit-fd).
        result = subprocess.run(
            argv,
            pass_fds=pass_fds,
            timeout=TIMEOUT,
            check=False,
            stdin=None,
            env=None if env is None else {**os.environ, **env},
        )
    except FileNotFoundError:
        raise PyruncError(f"criu binary {argv[0]!r} not found (install criu, or give --criu PATH)") from None
    except subprocess.TimeoutExpired:
        raise PyruncError(f"criu {argv[1]} did not finish within {TIMEOUT:.0f}s (log: {log_path})") from None
    if result.returncode != 0:
        raise PyruncError(f"criu {argv[1]} failed: {last_error(log_path)} (log: {log_path})")


def last_error(log_path: str) -> str:
    """The last 'Error' line of a CRIU log (CRIU writes the cause there, not on stderr)."""
    try:
        with open(log_path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as err:
        return f"no log ({errno_text(err)})"
    # The cause is the last error before CRIU's closing "... FAILED" line (earlier ones may be
    # probes that failed harmlessly, such as tun on a kernel without it).
    errors = [line for line in lines if "Error" in line and "FAILED" not in line]
    picked = (errors or lines or ["empty log"])[-1]
    return picked.split(": ", 1)[-1].strip() if errors else picked.strip()


def cgroup_root_args(cgroup_state: dict | None) -> list[str]:
    """--cgroup-root: CRIU restores the dumped tree's cgroups under the cgroup made for the
    restored container (its path may differ from the dumped one)."""
    if not cgroup_state:
        return []
    if "paths" in cgroup_state:
        args = []
        for controller, path in sorted(cgroup_state["paths"].items()):
            mount_point = os.path.join("/sys/fs/cgroup", controller)
            if path.startswith(mount_point + "/"):
                args += ["--cgroup-root", f"{controller}:{path[len(mount_point) :]}"]
        return args
    path = cgroup_state["path"]
    base = _cgroup2_mount_point(path)
    return ["--cgroup-root", "/" + os.path.relpath(path, base).lstrip("./")] if base else []


def _cgroup2_mount_point(path: str) -> str:
    from pyrunc.cgroups.mount_plan import cgroup_hierarchies

    for point, fstype, _ in cgroup_hierarchies():
        if fstype == "cgroup2" and (path == point or path.startswith(point.rstrip("/") + "/")):
            return point
    return ""


def freezer_path(cgroup_state: dict | None) -> str:
    """The cgroup CRIU freezes the whole container with during the dump."""
    if not cgroup_state:
        return ""
    if "paths" in cgroup_state:
        return cgroup_state["paths"].get("freezer", "")
    return cgroup_state["path"]
