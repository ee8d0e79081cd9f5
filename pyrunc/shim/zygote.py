"""The shim's zygote: one long-lived process that has imported everything a shim needs, once, and
forks one shim per pod on request.

A shim started from scratch pays tens of ms of CPU for its imports (protobuf, the messages, the
service, pyrunc's container operations) and keeps about 8 MiB of private memory. A child forked from
a process that loaded all that and then called `gc.freeze()` (so that the collector never writes to
the parent's objects) starts serving at once and shares the parent's pages: its own memory is what
it writes to.

`containerd-shim-pyrunc-v1 start` binds the pod's socket as before, then asks the zygote (`hand_over`)
over a root-only unix socket: the bound listener as SCM_RIGHTS, and what a fresh shim would have had
(the parsed flags, the environment, the bundle as cwd, the umask, its command line). The zygote forks;
the child becomes a clean shim (own session, fds 0-2 on /dev/null, its own signal handlers and wakeup
fd, none of the zygote's fds, `start`'s environment and command line) and tells `start` its pid;
`start` answers "go" and prints the address. Until that "go" the child serves nothing: a `start`
that gave up (timeout, error) and forked the shim itself never has two shims on one socket.

No zygote: `start` forks the shim itself as it always did (no extra latency) and starts a zygote in
the background (`spawn`) for the next pods.

Identity: a zygote serves only shims of the exact code and process context it has. Its socket's name
is a hash of pyrunc's package directory, the interpreter, their versions, the environment switches
that change what gets loaded, and the context a shim inherits from containerd (cgroups, namespaces,
limits, capabilities, OOM score, LSM label, credentials). Another checkout, venv or containerd gets
another zygote. Before each fork the zygote also checks that none of its loaded pyrunc files changed
(an edited checkout): if one did, it refuses and exits; the next `start` starts a new one.

Security: the socket is mode 0600 in a 0700 directory owned by root (PYRUNC_SHIM_ZYGOTE_DIR, default
/run/pyrunc-zygote); both ends check the peer's uid (SO_PEERCRED) against their own euid. Every wait
is bounded; `start` falls back to its own fork, logged in the shim's log, when the zygote does not
answer in time.

Lifetime: the zygote exits after PYRUNC_SHIM_ZYGOTE_IDLE seconds (default 60) with no request and no
live child, and at SIGTERM; it reaps its children and never signals them. Children are in sessions of
their own and hold nothing of the zygote's: killing the zygote leaves running pods alone.
`containerd-shim-pyrunc-v1 zygote-stop` stops the zygotes of the directory. PYRUNC_SHIM_ZYGOTE=0 turns
it off (every shim a direct fork of its `start`).

Only `os` and `sys` are imported at module level: `start` pays for what it calls.
"""

from __future__ import annotations

import os
import sys

DEFAULT_DIR = "/run/pyrunc-zygote"
DIR_ENV = "PYRUNC_SHIM_ZYGOTE_DIR"
SWITCH_ENV = "PYRUNC_SHIM_ZYGOTE"  # 0/off/no/false: no zygote
IDLE_ENV = "PYRUNC_SHIM_ZYGOTE_IDLE"
# Pods come in bursts (a rollout, a node filling up): a minute keeps the zygote for the next ones,
# and an idle zygote with no child costs its whole memory (about 10 MiB USS), so not much longer.
IDLE_SECONDS = 60.0
CONNECT_TIMEOUT = 1.0  # `start`: connecting to the zygote
ANSWER_TIMEOUT = 2.0  # `start`: the child's pid after the request; the zygote: a client's request
GO_TIMEOUT = 10.0  # the child: `start`'s go
STOP_TIMEOUT = 10.0  # zygote-stop: the zygote gone after its answer
LOCK_WAIT = 1.0  # a new zygote: the lock of one that is exiting
PROTOCOL = 1
MAX_REQUEST = 1 << 20
# Room for a child's command line (the pod's `start` flags, which `ps` and containerd's tooling show):
# the zygote is exec'd with a padding argument of this size, which it blanks.
CMDLINE_ROOM = 4096
# What the context part of the identity reads, relative to /proc/self.
CONTEXT_FILES = ("cgroup", "limits", "oom_score_adj", "attr/current", "loginuid")
CONTEXT_STATUS = ("Uid:", "Gid:", "Groups:", "Cap", "NoNewPrivs:", "Seccomp:")
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
ENV_SWITCHES = ("PYRUNC_SHIM_PB2",)  # read at import time: part of what a zygote has loaded


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in ("0", "off", "no", "false")


def directory() -> str:
    return os.environ.get(DIR_ENV) or DEFAULT_DIR


def idle_seconds() -> float:
    try:
        value = float(os.environ.get(IDLE_ENV, ""))
    except ValueError:
        return IDLE_SECONDS
    return value if value > 0 else IDLE_SECONDS


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b"-"


def identity(package: str | None = None, executable: str | None = None) -> str:
    """The key of this process's zygote (hex): the code and the context of a shim started here."""
    try:
        from _sha256 import sha256  # as hashlib's, without its OpenSSL start-up
    except ImportError:
        from hashlib import sha256

    import pyrunc

    if package is None:
        package = os.path.dirname(os.path.realpath(pyrunc.__file__))
    if executable is None:
        executable = sys.executable
    digest = sha256()
    for part in (
        package,
        executable,
        os.path.realpath(executable),
        pyrunc.__version__,
        sys.version,
        *(f"{name}={os.environ.get(name, '')}" for name in ENV_SWITCHES),
    ):
        digest.update(part.encode() + b"\0")
    for name in CONTEXT_FILES:
        digest.update(_read(f"/proc/self/{name}") + b"\0")
    status = _read("/proc/self/status").splitlines()
    digest.update(b"\n".join(line for line in status if line.decode().startswith(CONTEXT_STATUS)))
    for name in NAMESPACES:
        try:
            digest.update(os.readlink(f"/proc/self/ns/{name}").encode() + b"\0")
        except OSError:
            digest.update(b"-\0")
    return digest.hexdigest()


def socket_path(key: str | None = None) -> str:
    return os.path.join(directory(), f"{(key or identity())[:32]}.sock")


def _companion(path: str, suffix: str) -> str:
    return path.removesuffix(".sock") + suffix


def _safe_directory(path: str, create: bool) -> str:
    """'' if `path` is a directory owned by us and closed to others (0700), else why not."""
    import stat

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return f"{path} does not exist"
        try:
            os.makedirs(os.path.dirname(path) or "/", mode=0o755, exist_ok=True)
            os.mkdir(path, 0o700)
            info = os.lstat(path)
        except FileExistsError:
            info = os.lstat(path)
        except OSError as err:
            return f"cannot make {path}: {err.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        mode = f"{info.st_mode & 0o7777:o}"
        return f"{path} must be ours (uid {os.geteuid()}) and mode 0700: uid {info.st_uid}, mode {mode}"
    return ""


def _peer_uid(sock) -> int:
    import _socket

    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(creds[4:8], sys.byteorder)


def _locked_by_other(path: str) -> bool:
    """True if a live zygote holds `path`'s lock (it is preloading, or serving)."""
    import fcntl
    import struct

    try:
        fd = os.open(_companion(path, ".lock"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid; F_GETLK tests without taking it.
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        return struct.unpack("hhqqi4x", answer)[0] != fcntl.F_UNLCK
    except OSError:
        return False
    finally:
        os.close(fd)


class HandOver:
    """What `hand_over` did: the child's pid, or why not, and whether a zygote should be started."""

    def __init__(self, pid: int = 0, why: str = "", spawn: bool = False) -> None:
        self.pid = pid
        self.why = why
        self.spawn = spawn


def hand_over(values: dict[str, str], debug: bool, listener_fd: int, path: str | None = None) -> HandOver:
    """`start`'s side: ask the zygote for this pod's shim, serving `listener_fd`."""
    import _socket
    import marshal

    path = path or socket_path()
    unsafe = _safe_directory(os.path.dirname(path), create=True)
    if unsafe:
        return HandOver(why=f"not used: {unsafe}")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            starting = _locked_by_other(path)
            return HandOver(why="starting" if starting else "absent", spawn=not starting)
        except OSError as err:
            return HandOver(why=f"connect {path}: {err}")
        if _peer_uid(sock) != os.geteuid():
            return HandOver(why=f"refused: {path} is served by uid {_peer_uid(sock)}")
        sock.settimeout(ANSWER_TIMEOUT)
        umask = os.umask(0o022)
        os.umask(umask)
        request = {
            "v": PROTOCOL,
            "op": "spawn",
            "values": dict(values),
            "debug": bool(debug),
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "umask": umask,
            "argv": list(sys.argv),
            "cmdline": _read("/proc/self/cmdline"),
            "comm": _read("/proc/self/comm").strip(),
        }
        fds = listener_fd.to_bytes(4, sys.byteorder, signed=True)
        try:
            sock.sendmsg([marshal.dumps(request)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
            answer = sock.recv(64)
        except OSError as err:  # TimeoutError included
            return HandOver(why=f"no answer from {path}: {err}")
        if answer.startswith(b"P") and answer[1:].isdigit():
            try:
                sock.send(b"G")
            except OSError as err:
                return HandOver(why=f"child {answer[1:].decode()} lost: {err}")
            return HandOver(pid=int(answer[1:]))
        if not answer:  # closed: it was exiting (idle, stopped)
            return HandOver(why="it closed the connection", spawn=not _locked_by_other(path))
        reason = answer[1:].decode(errors="replace")
        return HandOver(why=f"it refused: {reason}", spawn=reason == "stale")
    finally:
        sock.close()


def spawn(path: str | None = None, launcher: str | None = None) -> bool:
    """Start a zygote in the background: a child that leaves our session and stdio, and execs the
    launcher (`containerd-shim-pyrunc-v1 zygote PATH PADDING`); `start` exits right after, and the
    zygote is adopted by the nearest subreaper, as the shims are."""
    path = path or socket_path()
    launcher = os.path.abspath(launcher or sys.argv[0])
    if not (os.path.isfile(launcher) and os.access(launcher, os.X_OK)):
        return False
    if _safe_directory(os.path.dirname(path), create=True):
        return False
    log_path = _companion(path, ".log")
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        return True
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        try:
            log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            if os.fstat(log).st_size > 1 << 20:
                os.ftruncate(log, 0)
        except OSError:
            log = null
        os.dup2(log, 2)
        os.execv(launcher, [launcher, "zygote", path, "-" * CMDLINE_ROOM])
    except BaseException:
        pass
    os._exit(127)


def _request(path: str, op: str, timeout: float = ANSWER_TIMEOUT) -> bytes:
    import _socket
    import marshal

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        if _peer_uid(sock) != os.geteuid():
            raise PermissionError(f"{path} is served by uid {_peer_uid(sock)}")
        sock.send(marshal.dumps({"v": PROTOCOL, "op": op}))
        return sock.recv(64)
    finally:
        sock.close()


def ping(path: str, timeout: float = ANSWER_TIMEOUT) -> int:
    """The zygote's pid (a liveness check); OSError if none answers."""
    answer = _request(path, "ping", timeout)
    if not (answer.startswith(b"Z") and answer[1:].isdigit()):
        raise ConnectionError(f"{path}: unexpected answer {answer!r}")
    return int(answer[1:])


def stop_all(path_dir: str | None = None, timeout: float = STOP_TIMEOUT) -> tuple[list[int], list[str]]:
    """Stop every zygote answering in the directory; (their pids, problems). Running pods are not
    affected (their shims are not the zygote's to stop); the next `start` starts a zygote again."""
    import time

    from pyrunc.container.base import process_gone

    folder = path_dir or directory()
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".sock"))
    except FileNotFoundError:
        return [], []
    stopped, problems = [], []
    for name in names:
        path = os.path.join(folder, name)
        try:
            answer = _request(path, "stop")
        except (ConnectionRefusedError, FileNotFoundError):
            continue  # a dead zygote's socket: the next one removes it
        except OSError as err:
            problems.append(f"{path}: {err}")
            continue
        if answer.startswith(b"S") and answer[1:].isdigit():
            stopped.append(int(answer[1:]))
        else:
            problems.append(f"{path}: unexpected answer {answer!r}")
    deadline = time.monotonic() + timeout
    for pid in stopped:
        while not process_gone(pid):
            if time.monotonic() > deadline:
                problems.append(f"zygote {pid} still running {timeout:g} s after it was told to stop")
                break
            time.sleep(0.02)
    return stopped, problems


# ---- the zygote


def _argv_area() -> tuple[int, int]:
    fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fields = os.read(fd, 4096).rsplit(b")", 1)[1].split()
    finally:
        os.close(fd)
    return int(fields[45]), int(fields[46])  # arg_start, arg_end: fields 48 and 49 of proc(5)


def set_cmdline(raw: bytes, comm: bytes = b"") -> str:
    """Rewrite this process's command line (what /proc/PID/cmdline and ps show: NUL-separated
    arguments) in place, in the memory of its argv; '' or why not. No prctl(PR_SET_MM) (it needs
    CAP_SYS_RESOURCE): our own /proc/self/mem. What does not fit is cut at an argument.
    (os-level calls: file objects would cost a zygote's child more of its own memory.)"""
    why = ""
    try:
        start, end = _argv_area()
        room = end - start
        if len(raw) > room:
            raw = raw[: raw.rfind(b"\0", 0, room) + 1]
            why = f"command line cut to {room} bytes"
        fd = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
        try:
            os.pwrite(fd, raw + b"\0" * (room - len(raw)), start)
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError) as err:
        return f"cannot set the command line: {err}"
    if comm:
        try:
            fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, comm[:15])
            finally:
                os.close(fd)
        except OSError as err:
            why = f"cannot set comm: {err}"
    return why


def preload() -> None:
    """Everything a shim imports, up front: serve()'s modules, the service's and the operations
    it calls lazily (Create, Start, Exec, Kill, Delete, Pause, Update, Pids, Stats), and what those
    import as they run (config validation, both cgroup versions). Not: the systemd cgroup driver
    (D-Bus), checkpoint/restore (CRIU), which the shim does not use; seccomp, which only some pods
    need (its module loads libseccomp: the pods that have a profile pay for it)."""
    import _sha256  # noqa: F401
    import array  # noqa: F401
    import errno  # noqa: F401
    import fcntl  # noqa: F401
    import marshal  # noqa: F401
    import queue  # noqa: F401
    import select  # noqa: F401
    import signal  # noqa: F401
    import socket  # noqa: F401
    import struct  # noqa: F401
    import termios  # noqa: F401
    import threading  # noqa: F401
    import time  # noqa: F401
    import traceback  # noqa: F401

    import pyrunc.cgroups.devices
    import pyrunc.cgroups.discovery
    import pyrunc.cgroups.events
    import pyrunc.cgroups.mount_plan
    import pyrunc.cgroups.resources.transaction
    import pyrunc.cgroups.resources.v1
    import pyrunc.cgroups.resources.v2
    import pyrunc.cgroups.stats
    import pyrunc.cgroups.update_flags
    import pyrunc.cgroups.v1
    import pyrunc.cgroups.v2
    import pyrunc.config._fastcheck
    import pyrunc.config.semantic
    import pyrunc.config.validate
    import pyrunc.container.create
    import pyrunc.container.delete
    import pyrunc.container.exec
    import pyrunc.container.kill
    import pyrunc.container.pause
    import pyrunc.container.ps
    import pyrunc.container.start
    import pyrunc.container.stdio
    import pyrunc.container.update
    import pyrunc.freezer
    import pyrunc.lsm
    import pyrunc.mountinfo
    import pyrunc.mounts
    import pyrunc.rootless
    import pyrunc.shim.main
    import pyrunc.shim.metrics
    import pyrunc.shim.options
    import pyrunc.shim.rootfs
    import pyrunc.shim.service
    import pyrunc.shim.stdio
    import pyrunc.shim.ttrpc
    import pyrunc.shim.worker  # noqa: F401
    from pyrunc import jsonio

    jsonio.json_codec()  # made on first use (the hot verbs need none of _json): here, before the fork


def _small_block(size: int) -> object:
    """A new object that takes one block of pymalloc's size class `size` (16, 32, 48... 512)."""
    if size == 16:
        return object()
    if size == 32:
        return int.from_bytes(os.urandom(3), "little") | (1 << 24)  # one digit: 28 bytes, not cached
    return b"x" * (size - 34)  # a bytes object is 33 bytes + its length


def fill_free_blocks() -> list[object]:
    """Fill every free block of pymalloc's pools with an object that stays (returned: keep it).

    After the imports and a collection, the pools are full of holes; a child's allocations would
    go into them, and each page of the zygote's they land in becomes the child's own copy. Filled,
    a child's new objects go to pools of its own. The fillers are in pages the zygote has touched
    already, and nobody ever touches them again."""
    # A memfd, not a pipe: the report's size is CPython's business, and a full pipe would block it.
    report = os.memfd_create("mallocstats", os.MFD_CLOEXEC)
    saved = os.dup(2)
    try:
        os.dup2(report, 2)
        sys._debugmallocstats()  # to fd 2: per size class, pools, blocks in use, free blocks
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    chunks = []
    offset = 0
    while chunk := os.pread(report, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    os.close(report)
    wanted = []
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 5 and all(f.isdigit() for f in fields):
            wanted.append((int(fields[1]), int(fields[4])))
    keep: list[object] = [None] * sum(free for _size, free in wanted)
    i = 0
    for size, free in wanted:
        for _ in range(free):
            keep[i] = _small_block(size)
            i += 1
    return keep


def _loaded_files(package: str) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every loaded module file of pyrunc's package: the code this zygote serves."""
    files = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name and name.startswith(package + os.sep):
            try:
                info = os.stat(name)
            except OSError:
                continue
            files[name] = (info.st_mtime_ns, info.st_size)
    return files


def _changed(files: dict[str, tuple[int, int]]) -> str:
    for name, seen in files.items():
        try:
            info = os.stat(name)
        except OSError:
            return name
        if (info.st_mtime_ns, info.st_size) != seen:
            return name
    return ""


class Zygote:
    def __init__(self, path: str) -> None:
        self.path = path
        self.children: set[int] = set()
        self.files: dict[str, tuple[int, int]] = {}
        self.fillers: list[object] = []
        self.environment: dict[str, str] = {}
        self.preloaded: frozenset[str] = frozenset()
        self.stopping = False

    def log(self, msg: str) -> None:
        import time

        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            os.write(2, f"{stamp} zygote {os.getpid()}: {msg}\n".encode())
        except OSError:
            pass

    def run(self) -> int:
        import fcntl

        folder = os.path.dirname(self.path)
        unsafe = _safe_directory(folder, create=True)
        if unsafe:
            self.log(f"not started: {unsafe}")
            return 1
        import gc
        import time

        self.lock = os.open(_companion(self.path, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # A zygote that is exiting (stale code, stop) holds it for a few ms more: wait that long.
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.lockf(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    return 0  # another zygote serves (or is starting for) this identity
                time.sleep(0.02)
        # Blank the padding argument `spawn` gave: it was room for the children's command lines.
        args = _read("/proc/self/cmdline").split(b"\0")[:-1]
        if args and args[-1] == b"-" * CMDLINE_ROOM:
            why = set_cmdline(b"".join(arg + b"\0" for arg in args[:-1]), b"pyrunc-zygote")
            if why:
                self.log(why)

        import pyrunc

        t0 = time.process_time()
        preload()
        self.files = _loaded_files(os.path.dirname(os.path.realpath(pyrunc.__file__)))
        gc.collect()
        # Measured with bench/shims' 5 pods: about 170 kB less per child. The second pass fills
        # the holes the first one's temporaries left.
        self.fillers = fill_free_blocks() + fill_free_blocks()
        self.environment = dict(os.environ)  # what a child has before it takes `start`'s
        # Made once here, not in each child: a set of the module names writes every name's
        # reference count, and so makes their pages the child's (about 100 kB).
        self.preloaded = frozenset(sys.modules)
        gc.freeze()  # the collector leaves the preloaded objects (and their pages) alone
        try:
            return self.serve(t0)
        finally:
            os.close(self.lock)

    def serve(self, t0: float) -> int:
        import select
        import signal
        import socket
        import time

        try:
            os.unlink(self.path)  # a dead zygote's (we hold the lock)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o077)
        try:
            listener.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        self.wake_read, self.wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)
        signal.set_wakeup_fd(self.wake_write)
        idle = idle_seconds()
        self.log(
            f"serving {self.path} ({len(self.files)} files, {(time.process_time() - t0) * 1000:.0f} ms of CPU"
            f" to preload; idle exit after {idle:g} s)"
        )
        poller = select.poll()
        poller.register(listener.fileno(), select.POLLIN)
        poller.register(self.wake_read, select.POLLIN)
        self.last = time.monotonic()
        reason = "idle"
        try:
            while not self.stopping:
                wait = idle if self.children else max(0.0, self.last + idle - time.monotonic())
                ready = {fd for fd, _ in poller.poll(int(wait * 1000) + 1)}
                signals = b""
                if self.wake_read in ready:
                    try:
                        signals = os.read(self.wake_read, 4096)
                    except BlockingIOError:
                        pass
                if signal.SIGTERM in signals or signal.SIGINT in signals:
                    reason = "signal"
                    break
                self.reap()
                if listener.fileno() in ready:
                    self.accept_all()
                if self.stopping:
                    reason = "stop request"
                elif not self.children and time.monotonic() >= self.last + idle:
                    break
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            listener.close()
            self.reap()
            self.log(f"exiting ({reason}; {len(self.children)} children left running)")
        return 0

    def reap(self) -> None:
        import time

        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.last = time.monotonic()

    def accept_all(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            try:
                self.handle(conn)
            except Exception as err:
                self.log(f"request failed: {type(err).__name__}: {err}")
            finally:
                conn.close()

    def handle(self, conn) -> None:
        import array
        import marshal
        import socket
        import time

        self.last = time.monotonic()
        peer = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        pid, uid = int.from_bytes(peer[0:4], sys.byteorder), int.from_bytes(peer[4:8], sys.byteorder)
        if uid != os.geteuid():
            self.log(f"refused pid {pid}: uid {uid} is not {os.geteuid()}")
            return
        conn.settimeout(ANSWER_TIMEOUT)
        data, ancdata, flags, _ = conn.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(4 * 4))
        fds = array.array("i")
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                conn.send(b"Etruncated request")
                return
            request = marshal.loads(data)
            if not isinstance(request, dict) or request.get("v") != PROTOCOL:
                conn.send(b"Eprotocol")
                return
            op = request.get("op")
            if op == "ping":
                conn.send(b"Z%d" % os.getpid())
            elif op == "stop":
                self.stopping = True
                os.unlink(self.path)  # no new client from now on
                conn.send(b"S%d" % os.getpid())
            elif op == "spawn" and len(fds) == 1:
                changed = _changed(self.files)
                if changed:
                    self.log(f"{changed} changed since it was loaded: exiting")
                    self.stopping = True
                    conn.send(b"Estale")
                    return
                self.fork(conn, fds[0], request)
            else:
                conn.send(b"Ebad request")
        finally:
            for fd in fds:
                os.close(fd)

    def fork(self, conn, listener_fd: int, request: dict) -> None:
        import gc

        gc.freeze()
        pid = os.fork()
        if pid:
            self.children.add(pid)
            return
        code = 1
        try:
            code = self.become_shim(conn, listener_fd, request)
        except BaseException:
            pass
        os._exit(code)

    def take_environment(self, wanted: dict[str, str]) -> None:
        """os.environ becomes `start`'s. Usually it is the zygote's own already (the same containerd
        started both): then nothing is touched. Else only what differs is changed (measured:
        clearing and refilling os.environ costs a bare child 650 kB of private memory, a shim
        about 250 kB)."""
        if wanted == self.environment:
            return
        for key in [key for key in self.environment if key not in wanted]:
            os.environ.pop(key, None)
        for key, value in wanted.items():
            if self.environment.get(key) != value:
                os.environ[key] = value

    def become_shim(self, conn, listener_fd: int, request: dict) -> int:
        """In the child: tell `start` our pid, shed the zygote, wait for its go, serve."""
        import signal
        import socket

        os.setsid()
        conn.send(b"P%d" % os.getpid())  # `start` answers while we shed the zygote
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        for fd in (self.wake_read, self.wake_write, self.lock, self.listener.detach()):
            os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        self.take_environment(request["env"])
        sys.argv[:] = request["argv"]
        set_cmdline(request["cmdline"], request["comm"])
        conn.settimeout(GO_TIMEOUT)
        try:
            go = conn.recv(1)
        except OSError:
            go = b""
        if go != b"G":
            return 0  # `start` gave up on us (and serves the pod otherwise)
        conn.close()
        from pyrunc.shim.main import Options, serve

        opts = Options()
        opts.values = dict(request["values"])
        opts.debug = bool(request["debug"])
        return serve(opts, socket.socket(fileno=listener_fd), preloaded=self.preloaded)


def run(path: str | None = None) -> int:
    """`containerd-shim-pyrunc-v1 zygote [SOCKET]`: be the zygote (in the foreground)."""
    return Zygote(path or socket_path()).run()
