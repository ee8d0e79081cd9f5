"""`create`: validate the bundle, claim the id, start the init and leave it blocked on exec.fifo.

Everything create makes is undone when it fails: the init is killed, the cgroup removed, the state
directory deleted. A create that is itself killed leaves a state that says "creating" only while it
holds the lock, and "stopped" after, so `delete --force` can clean up.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import OCI_VERSION, hooks, log, plan, store_write
from pyrunc.config import ConfigError
from pyrunc.config.load import load_bundle
from pyrunc.container import stdio
from pyrunc.container.base import proc_stat
from pyrunc.container.launch import Handlers, Launch
from pyrunc.errors import PyruncError, errno_text
from pyrunc.paths import absolute, getenv, join, path_exists
from pyrunc.store import FIFO, Store

TYPE_CHECKING = False  # mypy takes it as true; no `typing` import at run time
if TYPE_CHECKING:
    from pyrunc.cgroups import Manager
    from pyrunc.seccomp import SeccompProgram


class CreateRequest:
    """What the CLI asked for."""

    __slots__ = (
        "bundle",
        "console_fd",
        "console_socket",
        "container_id",
        "listen_fds",
        "no_pivot",
        "pid_file",
        "pidfd_socket",
        "preserve_fds",
        "rootless",
        "systemd_cgroup",
    )

    def __init__(
        self,
        container_id: str,
        bundle: str,
        *,
        pid_file: str | None = None,
        console_socket: str | None = None,
        no_pivot: bool = False,
        preserve_fds: int = 0,
        systemd_cgroup: bool = False,
        pidfd_socket: str | None = None,
        rootless: bool = False,
    ) -> None:
        self.container_id = container_id
        self.pidfd_socket = pidfd_socket  # --pidfd-socket: receives a pidfd of the init
        self.rootless = rootless  # --rootless (auto: not root, or root in another's user namespace)
        self.systemd_cgroup = systemd_cgroup  # --systemd-cgroup: the cgroup is a systemd scope
        self.bundle = absolute(bundle)
        self.pid_file = absolute(pid_file) if pid_file else None
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.console_fd = -1  # `run` in the foreground gives its own socket end for the pty master
        # LISTEN_FDS passes on like --preserve-fds (known now: internal fds must land above both).
        self.listen_fds = listen_fds()
        self.preserve_fds = preserve_fds + self.listen_fds


def listen_fds() -> int:
    """systemd socket activation: LISTEN_FDS=N in our environment passes fds 3..3+N-1 on."""
    value = getenv("LISTEN_FDS") or ""
    return int(value) if value.isdigit() else 0


def rootfs_path(config: dict, bundle: str) -> str:
    """root.path, resolved against the bundle, symlinks and all (os.path.realpath's answer); it
    must be an existing directory."""
    path = config["root"]["path"]
    path = path if path.startswith("/") else join(bundle, path)
    try:
        fd = posix.open(path, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except (OSError, ValueError):
        raise ConfigError("root.path", f"rootfs {path} does not exist or is not a directory") from None
    try:
        # The kernel's name for the directory opened: realpath's, without os and posixpath.
        return posix.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc here
        import os

        return os.path.realpath(path)
    finally:
        posix.close(fd)


def gather_host_facts(config: dict, bundle: str, *, cgroup_mounts=None, idmap_tree=None) -> plan.HostFacts:
    """What plan.build needs to know of this machine; the callables do create's own steps."""
    from pyrunc import linux, mounts
    from pyrunc.rootless import running_in_userns

    return plan.HostFacts(
        rootfs_path(config, bundle),
        kcore=path_exists("/proc/kcore"),
        in_userns=running_in_userns(),
        ungrantable_caps=linux.ungrantable_capabilities(),
        bind_source_kind=mounts.bind_source_kind,
        cgroup_mounts=cgroup_mounts,
        idmap_tree=idmap_tree,
    )


def write_id_maps(pid: int, config: dict) -> None:
    from pyrunc.rootless import write_id_maps as write_maps

    write_maps(pid, config.get("linux") or {})


def host_root_ids(config: dict) -> tuple[int, int]:
    """The host uid/gid that container root maps to (for the fifo's owner)."""
    linux = config.get("linux") or {}
    ids = []
    for kind in ("uid", "gid"):
        host = 0
        for m in linux.get(f"{kind}Mappings") or []:
            if m["containerID"] <= 0 < m["containerID"] + m["size"]:
                host = m["hostID"] - m["containerID"]
        ids.append(host)
    return ids[0], ids[1]


class Creation(Handlers):
    """One create in progress: the state it has made so far, and the parent's steps."""

    def __init__(self, store: Store, request: CreateRequest, config: dict, raw_config: bytes) -> None:
        self.store = store
        self.request = request
        self.config = config
        self.raw_config = raw_config
        self.cid = request.container_id
        self.cgroup: Manager | None = None
        self.launch: Launch | None = None
        self.lock_fd = -1
        self.fifo_fd = -1
        self.console_fd = -1
        self.pidfd_sock = -1
        self.seccomp: SeccompProgram | None = None
        self.userns_fds: dict[str, int] = {}
        self.tree_fds: list[int] = []
        self.net_devices: list = []  # netdev.Moved: interfaces this create moved into the container
        process = config.get("process") or {}
        self.state: dict = {
            # The version the state document follows: the runtime's, as runc reports it.
            "ociVersion": OCI_VERSION,
            "id": self.cid,
            "pid": 0,
            "bundle": request.bundle,
            "rootfs": "",
            "created": store_write.rfc3339_now(),
            "owner": "",
            "annotations": config.get("annotations") or {},
            "creating": True,
            "init_start": 0,
            "terminal": bool(process.get("terminal")),
            "hooks": {k: v for k, v in (config.get("hooks") or {}).items() if k in ("poststart", "poststop")},
        }

    # -- the steps ------------------------------------------------------------------------

    def claim(self) -> None:
        """Claim the id with its lock already held (see store_write.claim); state.json comes with
        the cgroup, the first thing a killed create would leave to clean up."""
        store_write.ensure_root(self.store)
        self.lock_fd = store_write.claim(self.store, self.cid)

    def make_fifo(self, floor: int) -> None:
        """exec.fifo: the init blocks opening it for writing until `start` opens it for reading."""
        path = self.store.path(self.cid, FIFO)
        try:
            posix.mkfifo(path, 0o622)
        except OSError as err:
            raise PyruncError(f"cannot make {path}: {errno_text(err)}") from None
        # Writable by anyone, whatever the umask: the init opens it after switching to the
        # process's user.
        posix.chmod(path, 0o622)
        uid, gid = host_root_ids(self.config)
        if (uid or gid) and posix.geteuid() == 0:  # a rootless caller cannot, and needs not (0622)
            posix.chown(path, uid, gid)
        from pyrunc.container.launch import high_fd

        self.fifo_fd = high_fd(posix.open(path, posix.O_PATH | posix.O_CLOEXEC), floor)

    def make_cgroup(self) -> None:
        """The cgroup exists and holds the config's limits before the init is born; the init
        joins it at SETUP, before any of its code runs in the container."""
        from pyrunc.cgroups import open_manager

        linux = self.config.get("linux") or {}
        manager = open_manager(
            linux.get("cgroupsPath"),
            self.cid,
            systemd=self.request.systemd_cgroup,
            annotations=self.config.get("annotations"),
            rootless=self.request.rootless,
        )
        if self.request.rootless and not self.rootless_cgroup(manager, linux.get("resources")):
            return
        # Another container's cgroup (it has processes) is refused before it is recorded or
        # touched: nothing of it is ours to kill or remove, here or in a later delete --force.
        manager.check_unused()
        # Recorded before the first mkdir: a create killed among the mkdirs leaves them listed
        # for delete --force. (Parents it made are only known after: they may stay.)
        self.state["cgroup"] = manager.to_state()
        store_write.write(self.store, self.cid, self.state)
        manager.create()  # on failure it removes what it made, and only that
        self.cgroup = manager  # from here on, undo() empties it and removes what create() made
        self.state["cgroup"] = manager.to_state()
        log.debug(f"create {self.cid}: cgroup {' '.join(manager.directories())}")
        resources = linux.get("resources") or {}
        if self.request.rootless:
            # As runc: no device rules in a delegated cgroup (a user may not write them, and in a
            # user namespace no device node can be made anyway).
            resources = {key: value for key, value in resources.items() if key != "devices"}
            manager.apply(resources, default_devices=False)
        else:
            manager.apply(resources)

    def rootless_cgroup(self, manager, resources: dict | None) -> bool:
        """Rootless: a cgroup only where one was delegated to us (writable); without one, the
        container runs in ours, unless the config asks for limits (runc's rule)."""
        from pyrunc.rootless import field_needing_cgroup, writable_cgroup

        if self.request.systemd_cgroup or writable_cgroup(manager.directories()):
            return True
        field = field_needing_cgroup(resources)
        if field is not None:
            raise ConfigError(
                field,
                "cannot be applied: a rootless container could not create or join a cgroup "
                f"(none delegated to uid {posix.geteuid()} at {manager.directories()[0]})",
            )
        log.debug(f"create {self.cid}: rootless, no writable cgroup and no limits: no cgroup")
        return False

    def build_plan(self, launch: Launch) -> tuple[bytes, int, bool]:
        """plan.build over the facts of this host, then what needs create's own steps: the
        compiled seccomp filter, the console socket, the fds."""
        config = self.config
        bundle = self.request.bundle
        plan.require_process(config)  # before the host is looked at, as ever
        from pyrunc import lsm

        lsm.check_config(config)
        log.debug(f"create {self.cid}: namespaces {_describe_namespaces(plan.Namespaces(config))}")
        host = gather_host_facts(config, bundle, cgroup_mounts=self.cgroup_mounts, idmap_tree=self.idmap_tree)
        self.state["rootfs"] = host.rootfs
        log.debug(f"create {self.cid}: rootfs {host.rootfs}, {len(config.get('mounts') or [])} mounts")
        log.debug(f"create {self.cid}: hooks {_describe_hooks(config.get('hooks'))}")
        built = plan.build(
            config,
            bundle,
            host,
            no_pivot=self.request.no_pivot,
            preserve_fds=self.request.preserve_fds,
            listen_fds=self.request.listen_fds,
        )
        records = built.records
        seccomp = (config.get("linux") or {}).get("seccomp")
        if seccomp:
            from pyrunc.seccomp import compile_profile

            self.seccomp = compile_profile(seccomp, cache=self.store.seccomp_cache)
            records.append(plan.seccomp_record(self.seccomp))
        records += self.console_records(built.process, launch.floor)
        records.append(plan.Fds(launch.child_sync, self.fifo_fd, launch.plan_fd, self.console_fd).encode())
        return b"".join(records), built.namespaces.clone_flags, built.namespaces.direct

    def idmap_tree(self, record) -> int:
        """The idmapped tree of a bind with idmap/ridmap, made here (idmapping needs privileges the
        child gives up) and attached by the child. One user namespace per distinct mapping."""
        from pyrunc import _core
        from pyrunc.mounts import L, flags_as_attributes

        key = repr(record.id_mappings)
        try:
            if key not in self.userns_fds:
                uid_map, gid_map = (
                    "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
                    for maps in record.id_mappings
                )
                self.userns_fds[key] = _core.userns_fd(uid_map, gid_map)
            attr_set, attr_clear = flags_as_attributes(record.remount)
            tree = _core.idmapped_tree(
                record.source,
                self.userns_fds[key],
                bool(record.flags & L.MS_REC),
                record.idmap == 2,
                attr_set,
                attr_clear,
            )
        except OSError as err:
            raise PyruncError(
                f"mount {record.source} onto /{record.dest} (idmapped): {errno_text(err)}"
            ) from None
        self.tree_fds.append(tree)
        return tree

    def console_records(self, process: dict, floor: int) -> list[bytes]:
        """process.terminal: the socket that receives the pty master (runc's rules on when one
        must and must not be given)."""
        from pyrunc.container.launch import high_fd

        request = self.request
        if not process.get("terminal"):
            if request.console_socket:
                raise PyruncError("cannot use --console-socket: process.terminal is false")
            return []
        if request.console_fd >= 0:
            self.console_fd = high_fd(posix.dup(request.console_fd), floor)
        elif request.console_socket:
            self.console_fd = stdio.connect_console_socket(request.console_socket, floor)
        else:
            raise PyruncError(
                "cannot allocate a tty when the runtime detaches without --console-socket "
                "(process.terminal is true)"
            )
        return plan.console_size_records(process)

    def cgroup_mounts(self, mount: dict, index: int) -> list:
        from pyrunc.cgroups.mount_plan import cgroup_mounts

        namespaces = plan.Namespaces(self.config)
        return cgroup_mounts(
            mount,
            index,
            private_cgroupns=bool(namespaces.clone_flags & 0x02000000),
            userns="user" in namespaces.types,
            cgroup_dirs=self.cgroup.directories() if self.cgroup is not None else [],
        )

    # -- Handlers: what the child asks of us ------------------------------------------------

    def usermaps(self, pid: int) -> None:
        write_id_maps(pid, self.config)

    def setup(self, pid: int) -> bytes:
        if self.cgroup is not None:
            self.cgroup.add(pid)
            # Frozen since create() checked it (by a parent, or whoever froze it meanwhile): the
            # init froze as it joined and would never answer.
            self.cgroup.check_not_frozen()
        log.debug(f"create {self.cid}: container process started, pid {pid}")
        self.move_net_devices(pid)
        stat = proc_stat(pid)
        self.state["pid"] = pid
        self.state["init_start"] = stat[1] if stat else 0
        if self.state.get("cgroup"):
            # Its own pid namespace tells delete which processes in its cgroup are its own.
            self.state["pid_ns"] = own_pid_namespace(self.config, pid)
        # Not written yet: should this create be killed, the init exits at its next read of the
        # sync socket, and delete --force empties the recorded cgroup anyway.
        hook_state = plan.record(plan.T_HOOK_STATE, hooks.hook_state(self.state, "created", pid))
        self.launch.append_plan(hook_state)  # type: ignore[union-attr]  # started: the child calls us
        return hooks.hook_state(self.state, "creating", pid)

    def move_net_devices(self, pid: int) -> None:
        """linux.netDevices: the init's network namespace exists and nothing runs in it yet."""
        devices = (self.config.get("linux") or {}).get("netDevices")
        if devices:
            from pyrunc import netdev

            self.net_devices = netdev.move_into(pid, devices)
            log.debug(f"create {self.cid}: moved {', '.join(devices)} into the network namespace")

    def runtime_hooks(self, pid: int) -> None:
        state_json = hooks.hook_state(self.state, "creating", pid)
        config_hooks = self.config.get("hooks") or {}
        hooks.run_hooks("prestart", config_hooks.get("prestart") or [], state_json)
        hooks.run_hooks("createRuntime", config_hooks.get("createRuntime") or [], state_json)

    def seccomp_listener(self, pid: int, remote_fd: int) -> None:
        from pyrunc.hooks import hook_state_dict
        from pyrunc.seccomp.notify import take_and_send

        program = self.seccomp
        if program is None or not program.listener_path:
            super().seccomp_listener(pid, remote_fd)  # raises: no listener was asked for
            return
        state = hook_state_dict(self.state, "creating", pid)
        take_and_send(pid, remote_fd, program.listener_path, program.listener_metadata, state)

    def send_pidfd(self, pid: int) -> None:
        """--pidfd-socket: a pidfd of the init, once it is set up (runc sends it from its init)."""
        if self.pidfd_sock >= 0:
            from pyrunc.container.launch import send_pidfd

            send_pidfd(self.pidfd_sock, pid, "standard", self.request.pidfd_socket or "")

    def ready(self, pid: int) -> None:
        self.send_pidfd(pid)
        self.state["creating"] = False
        # Read only once state.json says created, which is written after it: no rename needed.
        path = self.store.path(self.cid, "config.json")
        try:
            store_write.write_file(path, self.raw_config)
        except OSError as err:
            raise PyruncError(f"cannot write {path}: {errno_text(err)}") from None
        store_write.write(self.store, self.cid, self.state)
        if self.request.pid_file:
            stdio.write_pid_file(self.request.pid_file, pid)
        log.debug(f"create {self.cid}: created; init pid {pid} waits on exec.fifo for start")

    # -- failure ----------------------------------------------------------------------------

    def undo(self) -> None:
        if self.cgroup is not None and self.cgroup.frozen_file():
            # Killed and thawed before abort() waits for the init: frozen, it would never exit.
            try:
                self.cgroup.kill_all(9)
            except PyruncError:
                pass
        if self.net_devices and self.launch is not None:
            # Back to the host before the init dies: with it, a veth would be destroyed.
            from pyrunc import netdev

            netdev.move_back(self.launch.pid, self.net_devices)
            self.net_devices = []
        if self.launch is not None:
            self.launch.abort()
        if self.cgroup is not None:
            # What is in the cgroup is ours: it was empty when create() checked it. Of its
            # directories, only those this create made go; one it found empty and joined stays.
            try:
                self.cgroup.kill_all(9)
                self.cgroup.remove_made()
            except PyruncError as err:
                # The create's own error is what the caller sees; this one must not vanish.
                from pyrunc import log

                log.warning(f"cleaning up after a failed create: {err}")
        self.store.remove(self.cid)
        self.release()

    def release(self) -> None:
        fds = (self.fifo_fd, self.lock_fd, self.console_fd, self.pidfd_sock)
        for fd in (*fds, *self.userns_fds.values(), *self.tree_fds):
            if fd >= 0:
                posix.close(fd)
        self.userns_fds = {}
        self.tree_fds = []
        self.fifo_fd = self.lock_fd = self.console_fd = self.pidfd_sock = -1


def _describe_namespaces(namespaces: plan.Namespaces) -> str:
    """For --debug: 'new pid mount ..., joined network=/proc/1/ns/net'."""
    joined = dict(namespaces.joins)
    new = sorted(kind for kind in namespaces.types if kind not in joined)
    text = f"new {' '.join(new) or 'none'}"
    return text + "".join(f", joined {kind}={path}" for kind, path in namespaces.joins)


def _describe_hooks(config_hooks: dict | None) -> str:
    """For --debug: 'prestart 1, poststop 2' (or 'none')."""
    counts = [f"{kind} {len(entries)}" for kind, entries in (config_hooks or {}).items() if entries]
    return ", ".join(counts) or "none"


def own_pid_namespace(config: dict, pid: int) -> int:
    """The inode of the init's pid namespace when the config makes a new one, else 0."""
    namespaces = (config.get("linux") or {}).get("namespaces") or []
    if not any(ns.get("type") == "pid" and not ns.get("path") for ns in namespaces):
        return 0
    try:
        return posix.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return 0


def create(store: Store, request: CreateRequest) -> Creation:
    """Create the container; returns the finished Creation (the caller releases it)."""
    from pyrunc.store import check_id

    check_id(request.container_id)
    config, raw = load_bundle(request.bundle)
    log.debug(f"create {request.container_id}: config.json of {request.bundle} loaded and valid")
    creation = Creation(store, request, config, raw)
    creation.claim()
    try:
        launch = creation.launch = Launch(request.preserve_fds)
        if request.pidfd_socket:
            from pyrunc.container.launch import connect_pidfd_socket

            creation.pidfd_sock = connect_pidfd_socket(request.pidfd_socket, launch.floor)
        creation.make_fifo(launch.floor)
        creation.make_cgroup()
        plan_bytes, clone_flags, direct = creation.build_plan(launch)
        launch.start(plan_bytes, clone_flags, direct, creation.cgroup)
        launch.handshake(creation)
    except BaseException:
        creation.undo()
        raise
    return creation
