"""`exec`: start another process in a running container.

The child joins every namespace of the container's init (user first, mount last), forks into its
pid namespace, is placed in the container's cgroup by us, and execs the same sealed helper as the
init, which applies the process's credentials, capabilities and the container's seccomp filter
before execve. Without --detach we wait for it and return its status (128+N on signal N).
"""

import errno
import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import linux as L
from pyrunc import log, plan
from pyrunc.container import stdio
from pyrunc.container.base import Container, load
from pyrunc.container.launch import Handlers, Launch, high_fd
from pyrunc.errors import PyruncError
from pyrunc.paths import absolute, is_dir, join, normpath
from pyrunc.store import Store

TYPE_CHECKING = False  # mypy takes it as true; no `typing` import at run time
if TYPE_CHECKING:
    from pyrunc.seccomp import SeccompProgram


class ExecRequest:
    """What the CLI asked for; `process_file` wins over the per-field flags, as in runc."""

    __slots__ = (
        "additional_gids", "apparmor", "args", "caps", "cgroup", "console_socket", "container_id", "cwd",
        "detach", "env", "ignore_paused", "no_new_privs", "pid_file", "pidfd_socket", "preserve_fds",
        "process_file", "process_label", "tty", "user",
    )  # fmt: skip

    def __init__(
        self,
        container_id: str,
        *,
        args: "tuple[str, ...] | list[str]" = (),
        process_file: str | None = None,  # --process
        env: "tuple[str, ...] | list[str]" = (),
        cwd: str | None = None,
        user: str | None = None,  # uid[:gid]
        additional_gids: "tuple[int, ...] | list[int]" = (),
        caps: "tuple[str, ...] | list[str]" = (),
        no_new_privs: bool = False,
        tty: bool = False,
        console_socket: str | None = None,
        detach: bool = False,
        pid_file: str | None = None,
        pidfd_socket: str | None = None,
        cgroup: "tuple[str, ...] | list[str]" = (),  # sub-cgroups: PATH or CONTROLLER[,...]:PATH
        preserve_fds: int = 0,
        ignore_paused: bool = False,
        apparmor: str | None = None,
        process_label: str | None = None,
    ) -> None:
        self.container_id = container_id
        self.args = args
        self.process_file = process_file
        self.env = env
        self.cwd = cwd
        self.user = user
        self.additional_gids = additional_gids
        self.caps = caps
        self.no_new_privs = no_new_privs
        self.tty = tty
        self.console_socket = console_socket
        self.detach = detach
        self.pid_file = pid_file
        self.pidfd_socket = pidfd_socket
        self.cgroup = cgroup
        self.preserve_fds = preserve_fds
        self.ignore_paused = ignore_paused
        self.apparmor = apparmor
        self.process_label = process_label


def _parse_user(text: str) -> tuple[int, int | None]:
    uid, _, gid = text.partition(":")
    try:
        return int(uid), (int(gid) if gid else None)
    except ValueError:
        raise PyruncError(f"--user {text!r}: give a numeric uid[:gid]") from None


def build_process(request: ExecRequest, config: dict) -> dict:
    """The process to run: the --process file, or the container's process with the flags on top."""
    if request.process_file:
        from pyrunc.config.load import read_json_document
        from pyrunc.config.validate import validate_process

        process, _ = read_json_document(request.process_file, "process.json")
        validate_process(process, config=config)
        return process  # type: ignore[return-value]  # validated: a JSON object
    if not request.args:
        raise PyruncError("exec needs a command (or --process FILE)")
    import marshal  # loaded at the interpreter's start already

    # A deep copy of a JSON value; copy.deepcopy would import weakref and _collections_abc (1 ms).
    process = marshal.loads(marshal.dumps(config.get("process") or {}))
    process["args"] = list(request.args)
    process["terminal"] = bool(request.tty)
    process.pop("consoleSize", None)
    process["env"] = list(process.get("env") or []) + list(request.env or ())
    if request.cwd:
        process["cwd"] = request.cwd
    user = process.setdefault("user", {"uid": 0, "gid": 0})
    if request.user:
        user["uid"], gid = _parse_user(request.user)
        if gid is not None:
            user["gid"] = gid
    if request.additional_gids:
        user["additionalGids"] = [int(g) for g in request.additional_gids]
    if request.no_new_privs:
        process["noNewPrivileges"] = True
    for cap in request.caps or ():
        caps = process.setdefault("capabilities", {})
        for kind in ("bounding", "effective", "permitted"):
            caps.setdefault(kind, []).append(cap)
        # Ambient needs the inheritable bit too: only when the spec already gives inheritable ones.
        if caps.get("inheritable"):
            caps.setdefault("ambient", []).append(cap)
    from pyrunc.config.validate import validate_process

    validate_process(process, config=config)  # e.g. a --user the container's id maps lack
    return process


def parse_sub_cgroups(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    """runc's `exec --cgroup`: `PATH` (one, for every controller; the only form on cgroup v2) or
    `CONTROLLER[,CONTROLLER...]:PATH` (repeatable, cgroup v1). Returns {controller or "": PATH}."""
    subs: dict[str, str] = {}
    for value in values or ():
        controllers, sep, path = value.partition(":")
        if not sep:
            if len(values) != 1:
                raise PyruncError(f"--cgroup {value}: give CONTROLLER:PATH when --cgroup is repeated")
            subs[""] = value
            continue
        for controller in controllers.split(","):
            if not controller:
                raise PyruncError(f"--cgroup {value}: empty controller name before ':'")
            if controller in subs:
                raise PyruncError(f"--cgroup {value}: controller {controller} is given more than once")
            subs[controller] = path
    return subs


def _below(base: str, sub: str, given: str) -> str:
    """The existing cgroup `sub` below the container's `base` (never above or beside it)."""
    target = normpath(join(base, sub.lstrip("/")))
    if target != base and not target.startswith(base + "/"):
        raise PyruncError(f"--cgroup {given}: {sub} is not a sub-cgroup of the container's cgroup")
    if not is_dir(target):
        raise PyruncError(f"--cgroup {given}: cgroup {target} does not exist (it must be made first)")
    return target


def sub_cgroup_targets(manager, subs: dict[str, str], given: str) -> list[str]:
    """The directories whose cgroup.procs receive the process: the container's own, with the
    sub-cgroups of --cgroup. On cgroup v1, controllers that share a hierarchy (cpu,cpuacct) share
    one directory, so they must not be sent to different sub-cgroups."""
    paths = getattr(manager, "paths", None)
    if paths is None:  # cgroup v2: one hierarchy
        if set(subs) != {""}:
            raise PyruncError(f"--cgroup {given}: cgroup v2 has a single hierarchy: give PATH alone")
        return [_below(manager.dir, subs[""], given)]
    unknown = sorted(set(subs) - set(paths) - {""})
    if unknown:
        raise PyruncError(
            f"--cgroup {given}: unknown controller {unknown[0]} (not in the container's cgroups)"
        )
    targets: dict[str, str] = {}
    for controller, base in sorted(paths.items()):
        sub = subs.get("", subs.get(controller))
        if sub is None:
            targets.setdefault(base, base)
            continue
        target = _below(base, sub, given)
        if targets.get(base, base) not in (base, target):
            raise PyruncError(
                f"--cgroup {given}: {controller} shares its hierarchy with a controller given another path"
            )
        targets[base] = target
    return sorted(set(targets.values()))


class Execution(Handlers):
    def __init__(self, container: Container, process: dict, request: ExecRequest, config: dict) -> None:
        self.container = container
        self.process = process
        self.request = request
        self.config = config
        self.console_fd = -1
        self.pidfd_sock = -1  # --pidfd-socket: connected before the process starts
        self.seccomp: SeccompProgram | None = None

    def plan(self, launch: Launch) -> bytes:
        records = [plan.record(plan.T_EXEC), self._joins(), *self._chroot()]
        records += plan.limit_records(self.process)
        records += plan.attribute_records(self.process, self.config.get("linux") or {})
        if self.process.get("execCPUAffinity"):
            records.append(plan.cpu_affinity_record(self.process["execCPUAffinity"]))
        records += plan.process_records(
            self.process,
            preserve_fds=self.request.preserve_fds or 0,
            ungrantable_caps=L.ungrantable_capabilities(),
        )
        seccomp = (self.config.get("linux") or {}).get("seccomp")
        if seccomp:
            from pyrunc.seccomp import compile_profile

            self.seccomp = compile_profile(seccomp, cache=self.container.store.seccomp_cache)
            records.append(plan.seccomp_record(self.seccomp))
        records += self._console(launch.floor)
        records.append(plan.Fds(launch.child_sync, -1, launch.plan_fd, self.console_fd).encode())
        return b"".join(records)

    def _joins(self) -> bytes:
        """Every namespace the config gave the container, through the init's /proc/PID/ns."""
        kinds = {ns["type"] for ns in (self.config.get("linux") or {}).get("namespaces") or []}
        pid = self.container.pid
        out = [plan.record(plan.T_CLONE_FLAGS, plan.u64(0))]
        for kind in plan.JOIN_ORDER:
            if kind in kinds:
                path = f"/proc/{pid}/ns/{L.NAMESPACES[kind][1]}"
                out.append(plan.record(plan.T_JOIN_NS, plan.u32(L.NAMESPACES[kind][0]) + plan.cstr(path)))
                log.debug(f"exec {self.container.id}: joins {kind} namespace {path}")
        return b"".join(out)

    def _chroot(self) -> list[bytes]:
        """Without a mount namespace there is none to join: the process takes the init's root."""
        kinds = {ns["type"] for ns in (self.config.get("linux") or {}).get("namespaces") or []}
        if "mount" in kinds:
            return []
        return [plan.record(plan.T_CHROOT, plan.cstr(f"/proc/{self.container.pid}/root"))]

    def _console(self, floor: int) -> list[bytes]:
        if not self.process.get("terminal"):
            if self.request.console_socket:
                raise PyruncError("cannot use --console-socket without a terminal (--tty)")
            return []
        if self.request.console_socket:
            self.console_fd = stdio.connect_console_socket(self.request.console_socket, floor)
        elif self.console_fd < 0:
            raise PyruncError("exec --tty --detach needs --console-socket to receive the pty master")
        return plan.console_size_records(self.process)

    # Handlers

    def setup(self, pid: int) -> bytes:
        cgroup = self.container.cgroup()
        if self.request.cgroup:
            self._join_sub_cgroups(cgroup, pid)
        elif cgroup is not None:
            cgroup.add(pid)
        log.debug(f"exec {self.container.id}: process started, pid {pid}")
        if self.pidfd_sock >= 0:
            from pyrunc.container.launch import send_pidfd

            send_pidfd(self.pidfd_sock, pid, "setns", self.request.pidfd_socket or "")
        return b""

    def _join_sub_cgroups(self, cgroup, pid: int) -> None:
        from pyrunc.cgroups._fs import oserror_text, write_pid

        given = " ".join(self.request.cgroup)
        if cgroup is None:
            raise PyruncError(f"--cgroup {given}: the container has no cgroup")
        for directory in sub_cgroup_targets(cgroup, parse_sub_cgroups(list(self.request.cgroup)), given):
            try:
                write_pid(join(directory, "cgroup.procs"), pid)
            except OSError as err:
                hint = " (its cpuset.cpus or cpuset.mems is empty)" if err.errno == errno.ENOSPC else ""
                raise PyruncError(
                    f"--cgroup {given}: cannot join {directory}: {oserror_text(err)}{hint}"
                ) from None
            log.debug(f"exec {self.container.id}: pid {pid} joins {directory}")

    def seccomp_listener(self, pid: int, remote_fd: int) -> None:
        """As runc: the exec'd process loads the container's filter too, and its listener goes to
        listenerPath with the same metadata; `pid` is the exec'd process, the state the container's."""
        from pyrunc.hooks import hook_state_dict
        from pyrunc.seccomp.notify import take_and_send

        program = self.seccomp
        if program is None or not program.listener_path:
            super().seccomp_listener(pid, remote_fd)  # raises: no listener was asked for
            return
        state = hook_state_dict(self.container.state, self.container.status, self.container.pid)
        take_and_send(pid, remote_fd, program.listener_path, program.listener_metadata, state)

    def ready(self, pid: int) -> None:
        if self.request.pid_file:
            stdio.write_pid_file(absolute(self.request.pid_file), pid)


def _refuse_lsm_options(request: ExecRequest, process: dict) -> None:
    from pyrunc import lsm

    if request.apparmor:
        process["apparmorProfile"] = request.apparmor
    if request.process_label:
        process["selinuxLabel"] = request.process_label
    lsm.check_process(process)


def execute(store: Store, request: ExecRequest) -> int:
    from pyrunc import _core
    from pyrunc.config.load import read_json_document

    container = load(store, request.container_id)
    if container.status == "paused" and not request.ignore_paused:
        raise PyruncError("cannot exec in a paused container (use --ignore-paused to override)")
    if container.status not in ("running", "created", "paused"):
        raise PyruncError(f"cannot exec in a {container.status} container")
    document, _ = read_json_document(store.path(request.container_id, "config.json"), "config.json")
    config: dict = document  # type: ignore[assignment]  # create wrote it, validated
    process = build_process(request, config)
    _refuse_lsm_options(request, process)
    user = process.get("user") or {}
    log.debug(
        f"exec {request.container_id}: {process['args'][0]!r} as {user.get('uid', 0)}:{user.get('gid', 0)}"
        f" in the container of init pid {container.pid}"
    )
    if not request.detach:
        _core.set_child_subreaper()
    execution = Execution(container, process, request, config)
    if request.cgroup:
        parse_sub_cgroups(list(request.cgroup))  # a malformed --cgroup is refused before anything runs
    console = None
    launch = Launch(request.preserve_fds or 0)
    if process.get("terminal") and not request.console_socket and not request.detach:
        console, theirs = stdio.console_pair()
        execution.console_fd = high_fd(theirs, launch.floor)
    try:
        if request.pidfd_socket:
            from pyrunc.container.launch import connect_pidfd_socket

            execution.pidfd_sock = connect_pidfd_socket(request.pidfd_socket, launch.floor)
        launch.start(execution.plan(launch), 0, False)
        launch.handshake(execution)
    except BaseException:
        launch.abort()
        raise
    finally:
        if execution.console_fd >= 0:
            posix.close(execution.console_fd)
        if execution.pidfd_sock >= 0:
            posix.close(execution.pidfd_sock)
    if request.detach:
        return 0
    stdio.forward_signals(launch.pid)
    master = -1
    if console is not None:
        master = stdio.receive_master(console)
        posix.close(console)
    status = stdio.wait_in_foreground(launch.pid, master)
    log.debug(f"exec {request.container_id}: process {launch.pid} exited, status {status}")
    return status
