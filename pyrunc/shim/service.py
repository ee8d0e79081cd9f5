"""containerd.task.v2.Task, served by calling pyrunc's own operations in this process.

Every container operation runs under one lock (`ops`), and so does reaping: an operation that waits
for a process of its own (create's first stage, a hook) never has it reaped from under it, and a
process is registered before its exit can be seen. The shim is the subreaper of the containers'
inits and exec'd processes; SIGCHLD (see main.py) calls reap().

A process's stdio goes to it as fds 0, 1 and 2 of the clone (pyrunc's child inherits them, as when
a shim runs `pyrunc create`). Create runs in a fork of the shim (worker.py: the pages its code
touches are the fork's, not the long-lived shim's), which puts them in place for itself; an exec's
are put in place for the duration of the exec, under `ops`. The shim's own output never uses them
(its log is the bundle's `log` fifo).

A Create whose caller set a deadline (ttrpc's timeout_nano) answers DEADLINE_EXCEEDED by then: its
worker is killed there and what it made undone, so that `ops` is free for the calls that follow
(containerd's Delete and Shutdown after the failed Create).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

from pyrunc.errors import NotFound, PyruncError
from pyrunc.shim import faults, ttrpc
from pyrunc.shim.messages import events as events_pb2
from pyrunc.shim.messages import shim as shim_pb2
from pyrunc.shim.messages import task_types as task_types_pb2
from pyrunc.shim.options import store_root
from pyrunc.shim.stdio import ProcessIO

SERVICE = "containerd.task.v2.Task"
SANDBOX_ID = "io.kubernetes.cri.sandbox-id"
Status = task_types_pb2.Status
EXIT_WAIT_FOR_OUTPUT = 5.0  # how long an exit waits for a terminal's output to be copied out


def _now_ns() -> int:
    return time.time_ns()


def _own_stdio(fds: list[int], uid: int, gid: int) -> None:
    """options.io_uid/io_gid: the process's stdio fifos and pipes belong to that user (a container
    user that reopens /proc/self/fd/N); /dev/null, files and terminals are left as they are."""
    import stat

    for fd in fds:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.fchown(fd, uid, gid)


def _stamp(field, ns: int):
    """Set a google.protobuf.Timestamp field; returns the message it belongs to's field."""
    field.seconds, field.nanos = divmod(ns, 1_000_000_000)
    return field


class Process:
    """The init ("" exec id) or an exec'd process of a task."""

    def __init__(
        self, task: Task, exec_id: str, stdin: str, stdout: str, stderr: str, terminal: bool
    ) -> None:
        self.task = task
        self.exec_id = exec_id
        self.stdin, self.stdout, self.stderr, self.terminal = stdin, stdout, stderr, terminal
        self.pid = 0
        self.started = False
        self.exit_status = 0
        self.exited_ns = 0
        self.exited = threading.Event()
        self.io: ProcessIO | None = None
        self.spec: bytes = b""  # an exec's process JSON

    def status(self) -> int:
        if self.exited.is_set():
            return Status.STOPPED
        if not self.started:
            return Status.CREATED
        if not self.exec_id and self.task.paused:
            return Status.PAUSED
        return Status.RUNNING


class Task:
    def __init__(self, container_id: str, bundle: str) -> None:
        self.id = container_id
        self.bundle = bundle
        self.rootfs_mounted = False
        self.paused = False
        self.init: Process | None = None
        self.execs: dict[str, Process] = {}
        self.oom = None  # the cgroup's OOM watcher (pyrunc.cgroups.events), polled by main.serve
        self.criu = "criu"  # options.criu_path
        self.criu_work_path = ""  # options.criu_work_path: CRIU's logs are kept there
        # A Create from a checkpoint: (CreateRequest, CriuOptions), until Start restores it.
        self.restore: tuple | None = None


class TaskService:
    def __init__(self, namespace: str, root: str, workdir: str, publish: Callable, log: Callable[..., None]):
        from pyrunc.store import Store

        self.namespace = namespace
        self.store = Store(store_root(root, namespace))
        self.default_root = self.store.root  # the state root when Create's options name none
        self.workdir = workdir  # short private paths (console sockets, pid files)
        self.publish = publish
        self.log = log
        self.ops = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self.by_pid: dict[int, Process] = {}
        self.oom_watchers: dict[int, Task] = {}  # watcher fd -> task, polled by main.serve
        self.shutdown_requested = threading.Event()
        self.wake: Callable[[], object] = lambda: None  # wakes the main loop (set by main.serve)
        # What goes before Shutdown is answered (main.serve: the socket file, the work dir), so that
        # nothing of the shim is left once containerd has its answer.
        self.before_exit: Callable[[], object] = lambda: None
        self.faults = faults.load()  # test-only (faults.py); empty unless configured

    def register(self, server: ttrpc.Server) -> None:
        for name, request_type in (
            ("State", shim_pb2.StateRequest),
            ("Create", shim_pb2.CreateTaskRequest),
            ("Start", shim_pb2.StartRequest),
            ("Delete", shim_pb2.DeleteRequest),
            ("Pids", shim_pb2.PidsRequest),
            ("Pause", shim_pb2.PauseRequest),
            ("Resume", shim_pb2.ResumeRequest),
            ("Checkpoint", shim_pb2.CheckpointTaskRequest),
            ("Kill", shim_pb2.KillRequest),
            ("Exec", shim_pb2.ExecProcessRequest),
            ("ResizePty", shim_pb2.ResizePtyRequest),
            ("CloseIO", shim_pb2.CloseIORequest),
            ("Update", shim_pb2.UpdateTaskRequest),
            ("Wait", shim_pb2.WaitRequest),
            ("Stats", shim_pb2.StatsRequest),
            ("Connect", shim_pb2.ConnectRequest),
            ("Shutdown", shim_pb2.ShutdownRequest),
        ):
            handler = self._handler(name, getattr(self, name.lower()), request_type)
            if self.faults:
                handler = self.faults.wrap(name, handler, request_type)
            server.register(SERVICE, name, handler)

    def _handler(self, name: str, method: Callable, request_type) -> ttrpc.Handler:
        def handle(payload: bytes) -> bytes:
            request = request_type.FromString(payload)
            started = time.monotonic()
            outcome = "ok"
            try:
                response = method(request)
            except NotFound as err:
                outcome = str(err)
                raise ttrpc.RpcError(ttrpc.NOT_FOUND, str(err)) from None
            except PyruncError as err:
                outcome = str(err)
                raise ttrpc.RpcError(ttrpc.UNKNOWN, str(err)) from None
            except ttrpc.RpcError as err:
                outcome = err.message
                raise
            except BaseException as err:
                outcome = f"{type(err).__name__}: {err}"
                raise
            finally:
                elapsed = (time.monotonic() - started) * 1000
                self.log(f"{name} {request.id}: {elapsed:.1f} ms: {outcome}", debug=True)
            return b"" if response is None else response.SerializeToString()

        return handle

    # -- lookups ------------------------------------------------------------------------------

    def _task(self, container_id: str) -> Task:
        task = self.tasks.get(container_id)
        if task is None:
            raise ttrpc.RpcError(ttrpc.NOT_FOUND, f"container {container_id} not found")
        return task

    def _process(self, container_id: str, exec_id: str) -> Process:
        task = self._task(container_id)
        proc = task.init if not exec_id else task.execs.get(exec_id)
        if proc is None:
            raise ttrpc.RpcError(ttrpc.NOT_FOUND, f"process {exec_id} of {container_id} not found")
        return proc

    # -- processes and exits ----------------------------------------------------------------

    def _spawn_with_stdio(self, fds: tuple[int, int, int], operation: Callable):
        """Run a pyrunc operation whose child inherits `fds` as 0, 1, 2 (the caller holds ops)."""
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        try:
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            return operation()
        finally:
            for target, fd in enumerate(saved):
                os.dup2(fd, target)
                os.close(fd)

    def reap(self) -> None:
        """Collect every exited child (we are the subreaper of the containers' processes)."""
        exited = []
        with self.ops:
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                proc = self.by_pid.pop(pid, None)
                if proc is not None:
                    code = os.waitstatus_to_exitcode(status)
                    proc.exit_status = 128 - code if code < 0 else code
                    proc.exited_ns = _now_ns()
                    exited.append(proc)
        for proc in exited:
            if proc.io is not None and proc.terminal and not proc.io.output_done.is_set():
                # Its exit is reported once its terminal's output is out (EXIT_WAIT_FOR_OUTPUT at
                # most): in a thread of its own, so that other exits are reaped meanwhile.
                threading.Thread(target=self._exited, args=(proc,), name="shim-exit", daemon=True).start()
            else:
                self._exited(proc)

    def _exited(self, proc: Process) -> None:
        if proc.io is not None and proc.terminal:
            proc.io.wait_output(EXIT_WAIT_FOR_OUTPUT)
        task = proc.task
        if not proc.exec_id:
            self._kill_leftovers(task)
        event = events_pb2.TaskExit(
            container_id=task.id, id=proc.exec_id or task.id, pid=proc.pid, exit_status=proc.exit_status
        )
        _stamp(event.exited_at, proc.exited_ns)
        self.publish("/tasks/exit", event)
        proc.exited.set()

    def _kill_leftovers(self, task: Task) -> None:
        """The init is gone: without a pid namespace of its own, what it left in the container's
        cgroup is killed, as the runc shim does (with one, the kernel has killed them)."""
        try:
            state = self.store.read(task.id)
        except PyruncError:
            return
        if state.get("cgroup") and not state.get("pid_ns"):
            from pyrunc.container.kill import kill

            with self.ops:
                try:
                    kill(self.store, task.id, 9, all_processes=True)
                except PyruncError as err:
                    self.log(f"kill the processes {task.id}'s init left: {err}")

    # -- OOM events ---------------------------------------------------------------------------

    def _watch_oom(self, task: Task) -> None:
        """Watch the container's cgroup for OOM kills (an eventfd on cgroup v1, memory.events on
        v2): the main loop polls it with the signals, no thread, no timer."""
        from pyrunc.container.base import load

        try:
            cgroup = load(self.store, task.id).cgroup()
            task.oom = cgroup.oom_events() if cgroup is not None else None
        except PyruncError as err:
            self.log(f"no OOM events for {task.id}: {err}")
            return
        if task.oom is not None:
            self.oom_watchers[task.oom.fileno()] = task
            self.wake()

    def _unwatch_oom(self, task: Task) -> None:
        if task.oom is not None:
            self.oom_watchers.pop(task.oom.fileno(), None)
            task.oom.close()
            task.oom = None
            self.wake()

    def oom_ready(self, fd: int) -> None:
        with self.ops:
            task = self.oom_watchers.get(fd)
            if task is None or task.oom is None:
                return
            count = task.oom.wait(0)
            if count is None:  # the cgroup is gone
                self._unwatch_oom(task)
            elif count:
                self.publish("/tasks/oom", events_pb2.TaskOOM(container_id=task.id))

    # -- the Task service -------------------------------------------------------------------

    def create(self, req):
        from pyrunc.shim import options

        if req.id in self.tasks:
            raise ttrpc.RpcError(ttrpc.ALREADY_EXISTS, f"task {req.id} already exists")
        opts = options.parse(req.options, self.log)
        self._use_root(opts)
        # Before the lock: the output fifos are opened once the client reads them (stdio.py).
        io = ProcessIO(req.stdin, req.stdout, req.stderr, req.terminal, self.log)
        try:
            if opts.io_uid or opts.io_gid:
                _own_stdio(io.child, opts.io_uid, opts.io_gid)
            response = self._create(req, io, opts)
        except BaseException:
            io.close()
            raise
        options.record(req.bundle, opts)
        return response

    def _use_root(self, opts) -> None:
        """options.root (runc's --root) holds the state of this shim's containers: one root per shim
        (a pod's containers come from one runtime entry, so they share it)."""
        from pyrunc.store import Store

        root = store_root(opts.root, self.namespace) if opts.root else self.default_root
        with self.ops:
            if self.store.root == root:
                return
            if self.tasks:
                raise ttrpc.RpcError(
                    ttrpc.INVALID_ARGUMENT,
                    f"options.root {opts.root!r}: this shim's tasks are under {self.store.root}",
                )
            self.store = Store(root)

    def _create(self, req, io: ProcessIO, opts):
        from pyrunc.container.create import CreateRequest
        from pyrunc.container.stdio import console_pair, receive_master
        from pyrunc.shim import rootfs

        with self.ops:
            if req.id in self.tasks:
                raise ttrpc.RpcError(ttrpc.ALREADY_EXISTS, f"task {req.id} already exists")
            task = Task(req.id, req.bundle)
            rootfs_dir = os.path.join(req.bundle, "rootfs")
            if req.rootfs:
                rootfs.mount_all(list(req.rootfs), rootfs_dir)
                task.rootfs_mounted = True
            if self.faults:
                self.faults.hit("Create", "rootfs-mounted", req.id)
            proc = Process(task, "", req.stdin, req.stdout, req.stderr, req.terminal)
            console = theirs = -1
            try:
                proc.io = io
                request = CreateRequest(
                    req.id, req.bundle, no_pivot=opts.no_pivot_root, systemd_cgroup=opts.systemd_cgroup
                )
                task.criu, task.criu_work_path = opts.criu(), opts.criu_work_path
                if req.checkpoint:
                    # As runc's shim: the processes come back from the images at Start.
                    task.restore = (request, self._restore_options(task, req))
                else:
                    if req.terminal:
                        console, theirs = console_pair()
                        request.console_fd = theirs
                    proc.pid = self._create_init(req.id, request, proc.io.child_fds())
                    proc.io.started()
                    if console >= 0:
                        proc.io.attach_console(receive_master(console))
            except BaseException:
                if proc.io is not None:
                    proc.io.close()
                if task.rootfs_mounted:
                    rootfs.unmount_all(rootfs_dir)
                raise
            finally:
                for fd in (console, theirs):
                    if fd >= 0:
                        os.close(fd)
            task.init = proc
            self.tasks[req.id] = task
            if task.restore is None:
                self.by_pid[proc.pid] = proc
                self._watch_oom(task)
            self.publish(
                "/tasks/create",
                events_pb2.TaskCreate(
                    container_id=req.id,
                    bundle=req.bundle,
                    rootfs=list(req.rootfs),
                    io=events_pb2.TaskIO(
                        stdin=req.stdin, stdout=req.stdout, stderr=req.stderr, terminal=req.terminal
                    ),
                    pid=proc.pid,
                ),
            )
        return shim_pb2.CreateTaskResponse(pid=proc.pid)

    def _create_init(self, container_id: str, request, fds: tuple[int, int, int]) -> int:
        """pyrunc's create, in a fork of ours (worker.py): the init's pid. A create killed before it
        answered is undone here as containerd's `delete` undoes one whose shim was killed."""
        from pyrunc.container.create import create
        from pyrunc.shim import worker

        def operation() -> int:
            if self.faults:
                self.faults.hit("Create", "worker", container_id)
            return create(self.store, request).state["pid"]

        try:
            return worker.call(operation, fds, self.log, ttrpc.deadline())
        except worker.Died as died:
            from pyrunc.container.delete import delete

            self.log(f"{died}: force-deleting {container_id}")
            try:
                delete(self.store, container_id, force=True)
            except PyruncError as err:
                self.log(f"force-delete {container_id} after its create died: {err}")
            if isinstance(died, worker.TimedOut):
                raise ttrpc.RpcError(ttrpc.DEADLINE_EXCEEDED, str(died)) from None
            raise

    def start(self, req):
        proc = self._process(req.id, req.exec_id)
        if req.exec_id:
            return self._start_exec(proc)
        from pyrunc.container.start import start

        with self.ops:
            if proc.started:
                raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"task {req.id} is already started")
            if proc.task.restore is not None:
                return self._start_restored(proc)
            start(self.store, req.id)
            proc.started = True
            self.publish("/tasks/start", events_pb2.TaskStart(container_id=req.id, pid=proc.pid))
        return shim_pb2.StartResponse(pid=proc.pid)

    def exec(self, req):
        with self.ops:
            task = self._task(req.id)
            if req.exec_id in task.execs:
                raise ttrpc.RpcError(ttrpc.ALREADY_EXISTS, f"exec {req.exec_id} of {req.id} already exists")
            if task.init is None or task.init.exited.is_set():
                raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"container {req.id} is not running")
            proc = Process(task, req.exec_id, req.stdin, req.stdout, req.stderr, req.terminal)
            proc.spec = req.spec.value
            task.execs[req.exec_id] = proc
            self.publish(
                "/tasks/exec-added", events_pb2.TaskExecAdded(container_id=req.id, exec_id=req.exec_id)
            )

    def _start_exec(self, proc: Process):
        if proc.started or proc.io is not None:
            raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"exec {proc.exec_id} is already started")
        # Before the lock: the output fifos are opened once the client reads them (stdio.py).
        io = ProcessIO(proc.stdin, proc.stdout, proc.stderr, proc.terminal, self.log)
        try:
            return self._spawn_exec(proc, io)
        except BaseException:
            io.close()
            raise

    def _spawn_exec(self, proc: Process, io: ProcessIO):
        import socket

        from pyrunc.container.exec import ExecRequest, execute
        from pyrunc.container.stdio import receive_master

        task = proc.task
        with self.ops:
            if proc.started or proc.io is not None:
                raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"exec {proc.exec_id} is already started")
            spec = os.memfd_create("pyrunc-shim-process")
            tag = f"{os.getpid()}-{id(proc):x}"
            pid_file = os.path.join(self.workdir, f"{tag}.pid")
            listener = None
            console_path = None
            try:
                os.write(spec, proc.spec)
                proc.io = io
                if proc.terminal:
                    console_path = os.path.join(self.workdir, f"{tag}.sock")
                    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    listener.bind(console_path)
                    listener.listen(1)
                request = ExecRequest(
                    task.id,
                    process_file=f"/proc/self/fd/{spec}",
                    detach=True,
                    pid_file=pid_file,
                    console_socket=console_path,
                )
                self._spawn_with_stdio(proc.io.child_fds(), lambda: execute(self.store, request))
                with open(pid_file) as f:
                    proc.pid = int(f.read())
                proc.io.started()
                if listener is not None:
                    listener.settimeout(10)
                    conn, _ = listener.accept()
                    with conn:
                        proc.io.attach_console(receive_master(conn.fileno()))
            except BaseException:
                proc.io = None  # closed by _start_exec
                raise
            finally:
                os.close(spec)
                if listener is not None:
                    listener.close()
                for path in (pid_file, console_path):
                    if path:
                        try:
                            os.unlink(path)
                        except FileNotFoundError:
                            pass
            proc.started = True
            self.by_pid[proc.pid] = proc
            self.publish(
                "/tasks/exec-started",
                events_pb2.TaskExecStarted(container_id=task.id, exec_id=proc.exec_id, pid=proc.pid),
            )
        return shim_pb2.StartResponse(pid=proc.pid)

    def state(self, req):
        proc = self._process(req.id, req.exec_id)
        response = shim_pb2.StateResponse(
            id=proc.exec_id or req.id,
            bundle=proc.task.bundle,
            pid=proc.pid,
            status=proc.status(),
            stdin=proc.stdin,
            stdout=proc.stdout,
            stderr=proc.stderr,
            terminal=proc.terminal,
            exit_status=proc.exit_status,
            exec_id=proc.exec_id,
        )
        if proc.exited.is_set():
            _stamp(response.exited_at, proc.exited_ns)
        return response

    def kill(self, req):
        proc = self._process(req.id, req.exec_id)
        if proc.exited.is_set() and not req.all:
            raise ttrpc.RpcError(ttrpc.NOT_FOUND, "process already finished: not found")
        if req.exec_id:
            if not proc.started:
                raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"exec {req.exec_id} is not started")
            # By pid, safely: under `ops` its exit cannot be collected (reap() holds it), so while
            # by_pid still names it the pid is the exec's own -- running or a zombie -- never reused.
            with self.ops:
                if self.by_pid.get(proc.pid) is not proc:
                    raise ttrpc.RpcError(ttrpc.NOT_FOUND, "process already finished: not found")
                try:
                    os.kill(proc.pid, req.signal)
                except ProcessLookupError:
                    raise ttrpc.RpcError(ttrpc.NOT_FOUND, "process already finished: not found") from None
            return None
        from pyrunc.container.kill import kill

        try:
            kill(self.store, req.id, req.signal, all_processes=req.all)
        except PyruncError as err:
            if "not running" in str(err):
                raise ttrpc.RpcError(ttrpc.NOT_FOUND, "process already finished: not found") from None
            raise
        return None

    def delete(self, req):
        from pyrunc.shim import rootfs

        task = self._task(req.id)
        if req.exec_id:
            proc = self._process(req.id, req.exec_id)
            if proc.started and not proc.exited.is_set():
                raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"exec {req.exec_id} is still running")
            with self.ops:
                task.execs.pop(req.exec_id, None)
                if proc.io is not None:
                    proc.io.close()
            return self._delete_response(proc)
        proc = task.init
        assert proc is not None
        if proc.started and not proc.exited.is_set():
            raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"task {req.id} is still running")
        from pyrunc.container.delete import delete

        with self.ops:
            self._unwatch_oom(task)
            delete(self.store, req.id, force=True)
        if not proc.exited.is_set() and task.restore is not None:
            proc.exited_ns = _now_ns()  # restored at Start, never started: no process to wait for
            proc.exited.set()
        if not proc.exited.is_set():
            # A created task's init was killed by delete: collect its exit like any other.
            self.reap()
            if not proc.exited.wait(10):
                raise PyruncError(f"the init of {req.id} (pid {proc.pid}) did not exit after delete")
        with self.ops:
            for other in list(task.execs.values()):
                if other.io is not None:
                    other.io.close()
            if proc.io is not None:
                proc.io.close()
            if task.rootfs_mounted:
                rootfs.unmount_all(os.path.join(task.bundle, "rootfs"))
                task.rootfs_mounted = False
            self.tasks.pop(req.id, None)
            event = events_pb2.TaskDelete(container_id=req.id, pid=proc.pid, exit_status=proc.exit_status)
            _stamp(event.exited_at, proc.exited_ns)
            self.publish("/tasks/delete", event)
        return self._delete_response(proc)

    @staticmethod
    def _delete_response(proc: Process):
        response = shim_pb2.DeleteResponse(pid=proc.pid, exit_status=proc.exit_status)
        if proc.exited_ns:
            _stamp(response.exited_at, proc.exited_ns)
        return response

    def pids(self, req):
        from pyrunc.container.ps import container_pids

        self._task(req.id)
        return shim_pb2.PidsResponse(
            processes=[task_types_pb2.ProcessInfo(pid=pid) for pid in container_pids(self.store, req.id)]
        )

    def pause(self, req):
        from pyrunc.container.pause import pause

        task = self._task(req.id)
        with self.ops:
            pause(self.store, req.id)
            task.paused = True
            self.publish("/tasks/paused", events_pb2.TaskPaused(container_id=req.id))

    def resume(self, req):
        from pyrunc.container.pause import resume

        task = self._task(req.id)
        with self.ops:
            resume(self.store, req.id)
            task.paused = False
            self.publish("/tasks/resumed", events_pb2.TaskResumed(container_id=req.id))

    # -- checkpoint and restore (CRIU, through pyrunc's own operations) -------------------------

    def checkpoint(self, req):
        """Dump the task into req.path with CRIU (pyrunc's checkpoint); containerd.runc.v1's
        CheckpointOptions say how. Without `exit` the task goes on running, as with runc's shim."""
        from pyrunc.container.checkpoint import checkpoint
        from pyrunc.container.criu import CriuOptions
        from pyrunc.shim.messages import runc_options

        task = self._task(req.id)
        if task.init is None or not task.init.started or task.init.exited.is_set():
            raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, f"task {req.id} is not running")
        given = runc_options.CheckpointOptions()
        if req.options.type_url:
            if req.options.type_url.rpartition("/")[2] != "containerd.runc.v1.CheckpointOptions":
                raise ttrpc.RpcError(
                    ttrpc.INVALID_ARGUMENT,
                    f"options: type {req.options.type_url} is not containerd.runc.v1.CheckpointOptions",
                )
            given = runc_options.CheckpointOptions.FromString(req.options.value)
        image_path = given.image_path or req.path
        if not image_path:
            raise ttrpc.RpcError(ttrpc.INVALID_ARGUMENT, "path: no image path to checkpoint into")
        work_path, ours = self._criu_work_path(task, given.work_path)
        opts = CriuOptions(
            image_path=image_path,
            work_path=work_path,
            leave_running=not given.exit,
            tcp_established=given.open_tcp,
            ext_unix_sk=given.external_unix_sockets,
            shell_job=given.terminal,
            file_locks=given.file_locks,
            empty_ns=list(given.empty_namespaces),
            manage_cgroups_mode=given.cgroups_mode or None,
        )
        with self.ops, self._criu_log_kept(task, work_path, ours, "dump"):
            checkpoint(self.store, req.id, opts, task.criu)

    def _criu_work_path(self, task: Task, given: str) -> tuple[str, bool]:
        """CRIU's work directory: the one asked for, else options.criu_work_path, else one of our
        own in the shim's work directory (ours: True, removed afterwards)."""
        if given or task.criu_work_path:
            return given or task.criu_work_path, False
        import tempfile

        return tempfile.mkdtemp(prefix=f"criu-{task.id[:16]}-", dir=self.workdir), True

    @staticmethod
    @contextlib.contextmanager
    def _criu_log_kept(task: Task, work_path: str, ours: bool, action: str):
        """Our work directory goes afterwards; after a failure its CRIU log is kept in the bundle
        first (criu-dump.log, criu-restore.log, as runc's shim keeps criu-dump.log), and the error
        names that copy."""
        import shutil

        try:
            yield
        except PyruncError as err:
            if not ours:
                raise
            kept = os.path.join(task.bundle, f"criu-{action}.log")
            try:
                shutil.copyfile(os.path.join(work_path, f"{action}.log"), kept)
            except OSError:
                raise err from None
            raise PyruncError(f"{err} (kept as {kept})") from None
        finally:
            if ours:
                shutil.rmtree(work_path, ignore_errors=True)

    def _restore_options(self, task: Task, req):
        from pyrunc.container.criu import CriuOptions

        parent = ""
        if req.parent_checkpoint:
            # CRIU wants the parent relative to the images.
            parent = os.path.relpath(req.parent_checkpoint, req.checkpoint)
        return CriuOptions(
            image_path=req.checkpoint, work_path=task.criu_work_path or None, parent_path=parent or None
        )

    def _start_restored(self, proc: Process):
        """Start of a task created from a checkpoint: pyrunc's restore (the caller holds ops)."""
        from pyrunc.container.restore import restore

        task = proc.task
        assert task.restore is not None and proc.io is not None
        request, opts = task.restore
        work_path, ours = self._criu_work_path(task, "")
        opts.work_path = work_path
        with self._criu_log_kept(task, work_path, ours, "restore"):
            self._spawn_with_stdio(
                proc.io.child_fds(),
                lambda: restore(self.store, request, opts, task.criu, detach=True, no_subreaper=True),
            )
        proc.pid = self.store.read(task.id)["pid"]
        proc.io.started()
        proc.started = True
        task.restore = None
        self.by_pid[proc.pid] = proc
        self._watch_oom(task)
        self.publish("/tasks/start", events_pb2.TaskStart(container_id=task.id, pid=proc.pid))
        return shim_pb2.StartResponse(pid=proc.pid)

    def resizepty(self, req):
        import fcntl
        import struct
        import termios

        proc = self._process(req.id, req.exec_id)
        if proc.io is None or proc.io.master < 0:
            raise ttrpc.RpcError(ttrpc.FAILED_PRECONDITION, "the process has no terminal")
        fcntl.ioctl(proc.io.master, termios.TIOCSWINSZ, struct.pack("HHHH", req.height, req.width, 0, 0))

    def closeio(self, req):
        proc = self._process(req.id, req.exec_id)
        if req.stdin and proc.io is not None:
            proc.io.close_stdin()

    def update(self, req):
        from pyrunc.container.update import update

        self._task(req.id)
        with self.ops:
            resources = os.memfd_create("pyrunc-shim-resources")
            try:
                os.write(resources, req.resources.value)
                update(self.store, req.id, f"/proc/self/fd/{resources}", {})
            finally:
                os.close(resources)

    def wait(self, req):
        proc = self._process(req.id, req.exec_id)
        proc.exited.wait()
        response = shim_pb2.WaitResponse(exit_status=proc.exit_status)
        _stamp(response.exited_at, proc.exited_ns)
        return response

    def stats(self, req):
        """containerd's cgroup v1 Metrics, or v2 Metrics for a container in a cgroup v2 (unified)."""
        from pyrunc.container.base import load
        from pyrunc.shim.metrics import TYPE_URL_V1, v1_metrics

        self._task(req.id)
        cgroup = load(self.store, req.id).cgroup()
        if cgroup is None:
            raise ttrpc.RpcError(ttrpc.NOT_FOUND, f"container {req.id} has no cgroup")
        paths = getattr(cgroup, "paths", None)
        if paths is None:
            return self._stats_v2(cgroup)
        oom_control: dict[str, int] = {}
        if paths.get("memory"):
            try:
                with open(os.path.join(paths["memory"], "memory.oom_control")) as f:
                    oom_control = {k: int(v) for k, v in (line.split() for line in f if line.strip())}
            except (OSError, ValueError):
                pass
        response = shim_pb2.StatsResponse()
        response.stats.type_url = TYPE_URL_V1
        response.stats.value = v1_metrics(cgroup.stats(), oom_control).SerializeToString()
        return response

    @staticmethod
    def _stats_v2(cgroup):
        from pyrunc.cgroups.stats import v2_extras
        from pyrunc.shim.metrics import TYPE_URL_V2, v2_metrics

        response = shim_pb2.StatsResponse()
        response.stats.type_url = TYPE_URL_V2
        response.stats.value = v2_metrics(cgroup.stats(), v2_extras(cgroup)).SerializeToString()
        return response

    def connect(self, req):
        task = self.tasks.get(req.id)
        pid = task.init.pid if task is not None and task.init is not None else 0
        return shim_pb2.ConnectResponse(shim_pid=os.getpid(), task_pid=pid)

    def shutdown(self, req):
        """Exit once no task is left (containerd asks after each Delete)."""
        with self.ops:
            if self.tasks and not req.now:
                return None
            self.shutdown_requested.set()
        self.before_exit()
        self.wake()
        return None
