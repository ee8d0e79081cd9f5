"""`containerd-shim-pyrunc-v1`: containerd's runtime v2 shim for pyrunc (runtime io.containerd.pyrunc.v1).

containerd runs it with its flags (-namespace, -address, -publish-binary, -id, -bundle, -debug; Go's
flag syntax: one or two dashes, `-f v` or `-f=v`), TTRPC_ADDRESS in the environment and the bundle as
the working directory, and an action:
- `start`: find or start the shim for this task -- one per CRI sandbox (the annotation
  io.kubernetes.cri.sandbox-id groups a pod's containers), else one per task -- write the bundle's
  `address` file and print the address. The shim is a child of the zygote (pyrunc/shim/zygote.py),
  which has everything imported already and gets the listening socket; without a zygote, this
  process forked (no second interpreter start) into its own session, and a zygote is started for
  the next ones.
- `delete`: clean up after a shim that is gone: force-delete the container with pyrunc's own delete,
  unmount its rootfs, print a protobuf DeleteResponse.
- no action: serve (what `start` forks into, given the socket as fd 3).
- `zygote [SOCKET]`: be the zygote; `zygote-stop`: stop the zygotes of $PYRUNC_SHIM_ZYGOTE_DIR.

Containers' state lives under $PYRUNC_SHIM_ROOT/<namespace> (default /run/containerd/pyrunc).
"""

from __future__ import annotations

import os
import sys

SOCKET_DIR = "/run/containerd/s"
DEFAULT_ROOT = "/run/containerd/pyrunc"
FLAGS_WITH_VALUE = {"namespace", "address", "publish-binary", "id", "bundle", "socket"}
BOOL_FLAGS = {"debug", "v"}
PUBLISH_SERVICE = "containerd.services.events.ttrpc.v1.Events"


class Options:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.debug = False
        self.version = False
        self.action = ""
        self.args: list[str] = []  # after the action

    def get(self, name: str) -> str:
        return self.values.get(name, "")


class UsageError(Exception):
    pass


def parse(argv: list[str]) -> Options:
    opts = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            if arg == "--":
                arg = args.pop(0) if args else ""
            opts.action = arg
            opts.args = args
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if name in BOOL_FLAGS:
            flag = value.lower() not in ("false", "0") if eq else True
            if name == "debug":
                opts.debug = flag
            else:
                opts.version = flag
        elif name in FLAGS_WITH_VALUE:
            if not eq:
                if not args:
                    raise UsageError(f"flag needs an argument: -{name}")
                value = args.pop(0)
            opts.values[name] = value
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
    return opts


def root_dir() -> str:
    return os.environ.get("PYRUNC_SHIM_ROOT") or DEFAULT_ROOT


def socket_path(containerd_address: str, namespace: str, grouping: str) -> str:
    """As containerd's own shims name theirs: a hash of containerd's address, the namespace and
    the grouping id, under /run/containerd/s (short enough for a unix socket address)."""
    try:
        from _sha256 import sha256  # what hashlib would give, without its OpenSSL start-up
    except ImportError:
        from hashlib import sha256

    digest = sha256(os.path.join(containerd_address, namespace, grouping).encode()).hexdigest()
    return os.path.join(SOCKET_DIR, digest)


def _grouping(container_id: str) -> str:
    try:
        with open("config.json", "rb") as f:
            raw = f.read()
    except OSError:
        return container_id
    if b"io.kubernetes.cri.sandbox-id" not in raw:
        return container_id  # no need to parse it
    from pyrunc import jsonio

    try:
        config = jsonio.loads(raw)
    except ValueError:
        return container_id
    annotations = config.get("annotations") if isinstance(config, dict) else None
    if isinstance(annotations, dict) and annotations.get("io.kubernetes.cri.sandbox-id"):
        return str(annotations["io.kubernetes.cri.sandbox-id"])
    return container_id


def _write_address(address: str) -> None:
    """The bundle's `address` file, where containerd finds the shim again after a restart."""
    tmp = f"address.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, address.encode())
    finally:
        os.close(fd)
    os.replace(tmp, "address")


# `start` and `delete` use _socket, the C module: `socket` costs an `enum` import (a few ms per
# container); the shim proper wraps the listener in a socket.socket.
def _can_connect(path: str) -> bool:
    import _socket

    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        probe.settimeout(2)
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def action_start(opts: Options) -> int:
    import _socket

    namespace = opts.get("namespace")
    path = socket_path(opts.get("address"), namespace, _grouping(opts.get("id")))
    address = f"unix://{path}"
    os.makedirs(SOCKET_DIR, mode=0o711, exist_ok=True)
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    for _attempt in range(2):
        try:
            listener.bind(path)
            break
        except OSError as err:
            import errno

            if err.errno != errno.EADDRINUSE:
                raise
            if _can_connect(path):
                # The pod's shim is running: this task is served by it too.
                listener.close()
                _write_address(address)
                sys.stdout.write(address)
                return 0
            os.unlink(path)  # a dead shim's socket
    listener.listen(128)
    from pyrunc.shim import zygote

    handed = None
    if zygote.enabled():
        try:
            handed = zygote.hand_over(opts.values, opts.debug, listener.fileno())
        except Exception as err:  # whatever it is, this pod is served by our own fork
            handed = zygote.HandOver(why=f"{type(err).__name__}: {err}")
    if handed and handed.why:
        # No zygote yet (or one still preloading) is the usual; anything else is worth a line.
        usual = handed.why in ("absent", "starting")
        Log(opts.debug)(f"zygote: {handed.why}: the shim is a fork of start", debug=usual)
    if not (handed and handed.pid):
        # The shim is this process, forked: it starts importing while we answer containerd.
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.close(null)
                code = serve(opts, listener)
            except BaseException:
                code = 1
            os._exit(code)
    listener.close()
    _write_address(address)
    sys.stdout.write(address)
    if handed and handed.spawn:
        try:
            zygote.spawn()  # for the next pods (after our answer: it does not hold containerd up)
        except OSError as err:  # the pod is served: only the next ones miss a zygote
            Log(opts.debug)(f"zygote: not started: {err}")
    return 0


def action_zygote(opts: Options) -> int:
    from pyrunc.shim import zygote

    return zygote.run(opts.args[0] if opts.args else None)


def action_zygote_stop() -> int:
    from pyrunc.shim import zygote

    stopped, problems = zygote.stop_all()
    for pid in stopped:
        sys.stdout.write(f"stopped zygote {pid}\n")
    for problem in problems:
        sys.stderr.write(f"containerd-shim-pyrunc-v1: zygote-stop: {problem}\n")
    return 1 if problems else 0


def action_delete(opts: Options) -> int:
    """containerd cleans up after a shim that exited or was killed -- and 1.6 runs this after every
    shim's exit, on the path of each `ctr run --rm`: the container goes (killed if it still runs),
    its rootfs is unmounted, a claim of its id left by a Create killed mid-way removed; the answer is
    what the runc shim answers (SIGKILL's status). What is already gone costs little: a listing of
    the state directory (pyrunc.store's and store_write's imports), no pyrunc operation, no mount
    call, no protobuf import."""
    import time

    container_id = opts.get("id")
    bundle = opts.get("bundle") or os.getcwd()
    from pyrunc.shim.options import recorded_root, store_root

    state_dir = store_root(recorded_root(bundle) or root_dir(), opts.get("namespace"))
    if container_id and os.path.lexists(os.path.join(state_dir, container_id)):
        from pyrunc.container.delete import delete
        from pyrunc.errors import PyruncError
        from pyrunc.store import Store

        try:
            delete(Store(state_dir), container_id, force=True)
        except PyruncError as err:
            sys.stderr.write(f"containerd-shim-pyrunc-v1: delete {container_id}: {err}\n")
    if container_id:
        from pyrunc.store import Store
        from pyrunc.store_write import remove_dead_claims

        remove_dead_claims(Store(state_dir), container_id)  # a Create killed inside pyrunc's claim
    target = os.path.join(bundle, "rootfs")
    if os.path.ismount(target):
        from pyrunc.shim import rootfs

        rootfs.unmount_all(target)
    _remove_dead_shims_files(bundle)
    sys.stdout.buffer.write(delete_response(128 + 9, time.time_ns()))
    sys.stdout.flush()
    return 0


def work_dir(socket: str) -> str:
    """The shim's private directory (console sockets, pid files): short, and named after its socket
    so that `delete` finds it after the shim was killed."""
    return f"/run/pyrunc-shim-{os.path.basename(socket)[:20]}"


def _remove_dead_shims_files(bundle: str) -> None:
    """A shim that was killed left its socket and work dir: gone once nothing answers on the socket
    (a pod's shim still serving its other containers keeps them)."""
    try:
        with open(os.path.join(bundle, "address")) as f:
            path = f.read().strip().removeprefix("unix://")
    except OSError:
        return
    if not path.startswith(SOCKET_DIR + "/") or not os.path.exists(path) or shim_answers(path):
        return
    workdir = work_dir(path)
    for name in [path, *(os.path.join(workdir, n) for n in _listdir(workdir))]:
        try:
            os.unlink(name)
        except OSError:
            pass
    try:
        os.rmdir(workdir)
    except OSError:
        pass


PROBE_SERVICE, PROBE_METHOD = "containerd.task.v2.Task", "Connect"


def probe_request() -> bytes:
    """A ttrpc Request frame (stream 1) for Task.Connect with an empty payload, written here as
    delete_response is: no protobuf import on the clean-up path (tests/unit pin the encoding)."""
    from pyrunc.shim.wire import blob

    data = blob(1, PROBE_SERVICE.encode()) + blob(2, PROBE_METHOD.encode())
    return len(data).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x01\x00" + data


def shim_answers(path: str, timeout: float = 5.0) -> bool:
    """Whether a shim serves the socket at path: it answers a Connect call. Accepting a connection
    is not enough: containerd runs `delete` as soon as a killed shim's connection to it closes,
    which can be just before the same dying process closes its listener -- a connection made in
    between is then reset, never answered. No answer within `timeout` counts as alive (busy): a
    live shim's files are never removed."""
    import _socket

    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        probe.settimeout(timeout)
        probe.connect(path)
        probe.sendall(probe_request())
        return bool(probe.recv(1))
    except TimeoutError:
        return True
    except OSError:  # refused, reset, gone
        return False
    finally:
        probe.close()


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def delete_response(exit_status: int, exited_ns: int) -> bytes:
    """containerd.task.v2.DeleteResponse{exit_status, exited_at} in protobuf's wire format, written
    here so that the clean-up command does not pay for importing protobuf (tests/unit pin it to the
    protobuf encoding of shim.proto's message)."""
    from pyrunc.shim.wire import blob, integer

    seconds, nanos = divmod(exited_ns, 1_000_000_000)
    return integer(2, exit_status) + blob(3, integer(1, seconds) + integer(2, nanos))


class Log:
    """The shim's log: the bundle's `log` fifo, which containerd copies into its own log (lines are
    dropped, never waited for, when nobody reads)."""

    def __init__(self, debug: bool) -> None:
        self.debug_on = debug
        try:
            self.fd = os.open("log", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self.fd = -1

    def __call__(self, msg: str, debug: bool = False) -> None:
        if self.fd < 0 or (debug and not self.debug_on):
            return
        import time

        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
        level = "debug" if debug else "info"
        line = f'time="{stamp}" level={level} msg="{msg.replace(chr(34), chr(39))}" runtime=pyrunc\n'
        try:
            os.write(self.fd, line.encode())
        except OSError:
            pass


class Publisher:
    """Events to containerd, in the order they were published, through its ttrpc Events/Forward
    (TTRPC_ADDRESS), from one thread; a lost connection is dialled again."""

    def __init__(self, address: str, namespace: str, log: Log) -> None:
        import queue
        import threading

        self.address = address
        self.namespace = namespace
        self.log = log
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="shim-events", daemon=True)
        self.thread.start()

    def publish(self, topic: str, event) -> None:
        import time

        self.queue.put((time.time_ns(), topic, event))

    def close(self, timeout: float) -> None:
        self.queue.put(None)
        self.thread.join(timeout)

    def _run(self) -> None:
        from pyrunc.shim import ttrpc
        from pyrunc.shim.messages import events_service as events_service_pb2
        from pyrunc.shim.messages import types as types_pb2

        client = None
        while True:
            item = self.queue.get()
            if item is None:
                break
            stamp, topic, event = item
            envelope = types_pb2.Envelope(namespace=self.namespace, topic=topic)
            envelope.timestamp.seconds, envelope.timestamp.nanos = divmod(stamp, 1_000_000_000)
            envelope.event.type_url = event.DESCRIPTOR.full_name  # containerd's typeurl: the bare name
            envelope.event.value = event.SerializeToString()
            payload = events_service_pb2.ForwardRequest(envelope=envelope).SerializeToString()
            for attempt in range(3):
                try:
                    if client is None:
                        client = ttrpc.Client(self.address)
                    client.call(PUBLISH_SERVICE, "Forward", payload, timeout=10)
                    break
                except (OSError, ttrpc.RpcError) as err:
                    self.log(f"publish {topic} (attempt {attempt + 1}): {err}")
                    if client is not None:
                        client.close()
                        client = None
        if client is not None:
            client.close()


def serve(opts: Options, listener=None, preloaded: frozenset[str] | None = None) -> int:
    """`preloaded`: a zygote's child, the modules it had at the fork (what it imports after them
    is its own memory: logged at the end, for the zygote's preload list)."""
    import select
    import signal
    import socket
    import time

    from pyrunc import _core
    from pyrunc import log as pyrunc_log
    from pyrunc.shim import ttrpc
    from pyrunc.shim.service import TaskService

    _core.set_child_subreaper()
    log = Log(opts.debug)
    # pyrunc's own warnings (a poststop hook that failed, ...) go to the shim's log, never to the
    # fds 0-2 that containers' stdio passes through.
    pyrunc_log._emit = lambda level, msg: log(f"pyrunc {level}: {msg}")
    listener = socket.socket(fileno=3 if listener is None else listener.detach())
    namespace = opts.get("namespace")
    publisher = Publisher(os.environ.get("TTRPC_ADDRESS", ""), namespace, log)
    path = listener_path(listener)
    workdir = work_dir(path or f"pid-{os.getpid()}")
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    service = TaskService(namespace, root_dir(), workdir, publisher.publish, log)
    server = ttrpc.Server(listener, log)
    service.register(server)

    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.set_wakeup_fd(wake_write)
    service.wake = lambda: os.write(wake_write, b"\0")

    def remove_files() -> None:
        for name in [path, *(os.path.join(workdir, n) for n in _listdir(workdir)), workdir]:
            if name:
                try:
                    os.rmdir(name) if name == workdir else os.unlink(name)
                except OSError:
                    pass

    service.before_exit = remove_files
    server.serve_in_thread()
    # Imported now rather than at the first Create, which containerd sends right after start.
    import pyrunc.container.create
    import pyrunc.container.start  # noqa: F401

    log(f"serving ({time.process_time() * 1000:.0f} ms of CPU since start)", debug=True)
    while not service.shutdown_requested.is_set():
        # Rebuilt each time: tasks come and go with their OOM watchers (a change wakes us).
        poller = select.poll()
        poller.register(wake_read, select.POLLIN)
        watched = dict(service.oom_watchers)
        for fd, task in watched.items():
            if task.oom is not None:
                poller.register(fd, task.oom.poll_events)
        ready = [fd for fd, _events in poller.poll()]
        signals = b""
        if wake_read in ready:
            try:
                signals = os.read(wake_read, 4096)
            except BlockingIOError:
                pass
        if signal.SIGTERM in signals or signal.SIGINT in signals:
            break
        for fd in ready:
            if fd in watched:
                service.oom_ready(fd)
        if signal.SIGCHLD in signals:
            service.reap()
    remove_files()
    server.close_after_calls(5.0)
    publisher.close(5.0)
    if preloaded is not None:
        imported = sorted(set(sys.modules) - preloaded)
        log(f"imported after the zygote's fork: {' '.join(imported) or 'nothing'}", debug=True)
    log(f"exiting ({time.process_time() * 1000:.0f} ms of CPU since start)", debug=True)
    return 0


def listener_path(listener) -> str:
    try:
        name = listener.getsockname()
    except OSError:
        return ""
    return name if isinstance(name, str) else ""


def main(argv: list[str] | None = None) -> None:
    try:
        opts = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        sys.stderr.write(f"containerd-shim-pyrunc-v1: {err}\n")
        sys.exit(2)
    if opts.version:
        from pyrunc import version_text

        sys.stdout.write("containerd-shim-pyrunc-v1:\n" + version_text())
        sys.exit(0)
    if opts.action in ("zygote", "zygote-stop"):  # ours, not containerd's: no namespace
        code = action_zygote(opts) if opts.action == "zygote" else action_zygote_stop()
        sys.stdout.flush()
        os._exit(code)
    if not opts.get("namespace"):
        sys.stderr.write("containerd-shim-pyrunc-v1: shim namespace cannot be empty\n")
        sys.exit(1)
    try:
        if opts.action == "start":
            code = action_start(opts)
        elif opts.action == "delete":
            code = action_delete(opts)
        elif opts.action == "":
            code = serve(opts)
        else:
            sys.stderr.write(f"containerd-shim-pyrunc-v1: unknown action {opts.action!r}\n")
            code = 1
    except Exception as err:
        sys.stderr.write(
            f"containerd-shim-pyrunc-v1: {opts.action or 'serve'}: {type(err).__name__}: {err}\n"
        )
        code = 1
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
