"""`restore`: bring a checkpointed container back with CRIU, under an id that is free again.

The container is made as create makes it (claimed id and lock, cgroup with the config's limits,
state.json, config.json, --pid-file), but its processes come from the images: CRIU rebuilds the
namespaces, the mounts (the rootfs bound at a mount point of ours, the external mounts mapped to
their sources) and the process tree, with the same pids inside its pid namespace, and puts the
tree into the new cgroup. There is no exec.fifo: the restored container is running.
"""

from __future__ import annotations

import os

from pyrunc import jsonio, log
from pyrunc.config.load import load_bundle
from pyrunc.container import restore_hooks
from pyrunc.container.base import proc_stat
from pyrunc.container.create import CreateRequest, Creation, own_pid_namespace, rootfs_path
from pyrunc.container.criu import (
    STDIO_KEYS,
    CriuOptions,
    cgroup_root_args,
    external_mounts,
    make_directory,
    run_criu,
)
from pyrunc.errors import PyruncError, errno_text
from pyrunc.store import Store, check_id

CRIU_ROOT = "criu-root"  # in the state directory: the rootfs bound where CRIU can pivot into it
PID_FILE = "criu.pid"
HOOKS_INPUT = "restore-hooks.json"  # in the state directory: see restore_hooks


def restore(
    store: Store,
    request: CreateRequest,
    opts: CriuOptions,
    criu: str = "criu",
    detach: bool = False,
    no_subreaper: bool = False,
) -> int:
    """Restore the container; without `detach`, wait for it as `run` does and return its exit
    status (then delete it)."""
    from pyrunc import _core

    check_id(request.container_id)
    config, raw = load_bundle(request.bundle)
    if (config.get("process") or {}).get("terminal"):
        raise PyruncError(
            "cannot restore a container whose process has a terminal (process.terminal): the pty "
            "master comes from CRIU's RPC notifications, which pyrunc does not use"
        )
    if not os.path.isdir(opts.image_path):
        raise PyruncError(f"--image-path {opts.image_path}: no such directory")
    make_directory(opts.work_path, "--work-path")
    if not detach and not no_subreaper:
        _core.set_child_subreaper()
    creation = Creation(store, request, config, raw)
    creation.claim()
    try:
        creation.make_cgroup()
        pid = _restore_processes(creation, opts, criu)
        _record(creation, pid)
    except BaseException:
        creation.undo()
        raise
    creation.release()
    if detach:
        return 0
    from pyrunc.container.delete import delete
    from pyrunc.container.stdio import forward_signals, wait_for

    forward_signals(pid)
    code = wait_for(pid)
    delete(store, request.container_id, force=True)
    return code


def _restore_processes(creation: Creation, opts: CriuOptions, criu: str) -> int:
    """Run CRIU's restore with the rootfs bound at CRIU_ROOT; the host pid of the restored init."""
    store, cid = creation.store, creation.cid
    rootfs = rootfs_path(creation.config, creation.request.bundle)
    creation.state["rootfs"] = rootfs
    root = store.path(cid, CRIU_ROOT)
    pid_file = store.path(cid, PID_FILE)
    argv = [
        criu, "restore",
        "--images-dir", opts.image_path,
        "--work-dir", opts.work_path,
        "--log-file", "restore.log",
        "-v4",
        "--root", root,
        "--pidfile", pid_file,
        # Detached: CRIU exits once the tree runs; sibling: the init becomes our child, not
        # CRIU's, so that we (or whoever reaps our orphans) can wait for it.
        "--restore-detached", "--restore-sibling",
    ]  # fmt: skip
    argv += opts.shared_args()
    argv += cgroup_root_args(creation.state.get("cgroup"))
    for dest, source in external_mounts(
        creation.config, creation.request.bundle, creation.state.get("cgroup")
    ).items():
        argv += ["--external", f"mnt[{dest}]:{source}"]
    argv += inherit_stdio_args(opts.image_path)
    hooks_input = ""
    script_env: dict[str, str] | None = None
    if restore_hooks.wanted(creation.config):
        # prestart and createRuntime, where runc runs them: CRIU's setup-namespaces step.
        hooks_input = store.path(cid, HOOKS_INPUT)
        restore_hooks.write_input(hooks_input, creation.config, creation.state)
        script, script_env = restore_hooks.action_script(hooks_input)
        argv += ["--action-script", script]
    pass_fds = (opts.status_fd,) if opts.status_fd >= 0 else ()
    _bind_root(rootfs, root)
    try:
        run_criu(argv, os.path.join(opts.work_path, "restore.log"), pass_fds, script_env)
        return _read_pid(pid_file)
    except PyruncError:
        failed = restore_hooks.failure(hooks_input) if hooks_input else None
        if failed:
            raise PyruncError(f"restore: {failed}") from None
        raise
    finally:
        _unbind_root(root)
        for path in (pid_file, hooks_input, hooks_input + ".failed"):
            try:
                if path:
                    os.unlink(path)
            except OSError:
                pass


def inherit_stdio_args(image_path: str) -> list[str]:
    """The init's stdio that checkpoint left out of the images (pipes, files from outside the
    container) become ours, as runc does with pipes: whoever restores gives the new ones."""
    path = os.path.join(image_path, STDIO_KEYS)
    try:
        with open(path, "rb") as f:
            keys = jsonio.loads(f.read())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        text = errno_text(err) if isinstance(err, OSError) else "not valid JSON"
        raise PyruncError(f"{path}: {text}") from None
    args = []
    for fd, key in enumerate(keys if isinstance(keys, list) else []):
        if isinstance(key, str) and key:
            args += ["--inherit-fd", f"fd[{fd}]:{key}"]
    return args


def _bind_root(rootfs: str, root: str) -> None:
    """CRIU wants the new root to be a mount point: bind the rootfs, privately (nothing mounted
    later under either side shows on the other)."""
    from pyrunc import libc
    from pyrunc import linux as L

    try:
        os.mkdir(root, 0o700)
    except OSError as err:
        raise PyruncError(f"cannot make {root}: {errno_text(err)}") from None
    for source, flags in ((rootfs, L.MS_BIND | L.MS_REC), (None, L.MS_PRIVATE | L.MS_REC)):
        try:
            libc.mount(source, root, None, flags)
        except OSError as err:
            _unbind_root(root)
            raise PyruncError(f"bind the rootfs {rootfs} at {root}: {err.strerror}") from None


def _unbind_root(root: str) -> None:
    # Whether it is mounted: a bind within one filesystem keeps st_dev, so os.path.ismount cannot
    # tell; an unmount of what is not mounted fails with EINVAL, harmlessly.
    from pyrunc import libc
    from pyrunc import linux as L

    try:
        libc.umount2(root, L.MNT_DETACH)
    except OSError:
        pass
    try:
        os.rmdir(root)
    except FileNotFoundError:
        pass
    except OSError as err:
        log.warning(f"cannot remove {root}: {errno_text(err)}")


def _read_pid(path: str) -> int:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError as err:
        raise PyruncError(f"criu restore left no pid file {path}: {errno_text(err)}") from None
    if not text.isdigit():
        raise PyruncError(f"criu restore's pid file {path} holds {text!r}, not a pid")
    return int(text)


def _record(creation: Creation, pid: int) -> None:
    """state.json, config.json and --pid-file for the restored init, as create writes them."""
    stat = proc_stat(pid)
    if stat is None:
        raise PyruncError(f"the restored init (pid {pid}) exited at once (see the restore log)")
    state = creation.state
    state["pid"] = pid
    state["init_start"] = stat[1]
    if state.get("cgroup"):
        state["pid_ns"] = own_pid_namespace(creation.config, pid)
    creation.ready(pid)
    log.debug(f"restore {creation.cid}: restored; init pid {pid}")
