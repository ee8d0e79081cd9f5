"""`checkpoint`: dump a running (or paused) container with CRIU into --image-path.

As runc: the container is deleted afterwards (its processes are gone: CRIU killed them), unless
--leave-running or --pre-dump, so that `restore` can bring it back under the same id.
"""

from __future__ import annotations

import os

from pyrunc import jsonio, log
from pyrunc.container.base import Container, load
from pyrunc.container.criu import (
    DESCRIPTORS,
    STDIO_KEYS,
    CriuOptions,
    external_mounts,
    freezer_path,
    make_directory,
    run_criu,
)
from pyrunc.errors import PyruncError, errno_text
from pyrunc.store import Store


def checkpoint(store: Store, container_id: str, opts: CriuOptions, criu: str = "criu") -> None:
    lock = store.lock(container_id)
    try:
        container = load(store, container_id, locked=True)
        if container.status not in ("running", "paused"):
            raise PyruncError(f"container {container_id} cannot be checkpointed in {container.status} state")
        make_directory(opts.image_path, "--image-path")
        make_directory(opts.work_path, "--work-path")
        _check_parent(opts)
        stdio = write_descriptors(opts.image_path, container.pid)
        action = "pre-dump" if opts.pre_dump else "dump"
        log_path = os.path.join(opts.work_path, f"{action}.log")
        pass_fds = (opts.status_fd,) if opts.status_fd >= 0 else ()
        argv = dump_argv(criu, action, container, opts)
        argv += [arg for key in stdio if key.startswith("file[") for arg in ("--external", key)]
        run_criu(argv, log_path, pass_fds)
        log.debug(f"checkpoint {container_id}: {action} written to {opts.image_path}")
        if not (opts.leave_running or opts.pre_dump):
            _destroy(store, container_id)
    finally:
        os.close(lock)


def _check_parent(opts: CriuOptions) -> None:
    """--parent-path names the previous (pre-)dump, relative to --image-path, as CRIU wants it."""
    if not opts.parent_path:
        return
    parent = os.path.join(opts.image_path, str(opts.parent_path))
    if not os.path.isdir(parent):
        raise PyruncError(f"--parent-path {opts.parent_path}: {parent} is not a directory")


def dump_argv(criu: str, action: str, container: Container, opts: CriuOptions) -> list[str]:
    config = stored_config(container)
    argv = [
        criu, action,
        "--tree", str(container.pid),
        "--images-dir", opts.image_path,
        "--work-dir", opts.work_path,
        "--log-file", f"{action}.log",
        "-v4",
    ]  # fmt: skip
    argv += opts.shared_args()
    if opts.leave_running and action == "dump":
        argv.append("--leave-running")
    if opts.pre_dump or opts.parent_path:
        argv.append("--track-mem")  # a later dump then writes only the pages changed since
    if opts.parent_path:
        argv += ["--prev-images-dir", str(opts.parent_path)]
    if opts.page_server:
        host, _, port = str(opts.page_server).rpartition(":")
        argv += ["--page-server", "--address", host, "--port", port]
    freezer = freezer_path(container.state.get("cgroup"))
    if freezer:
        argv += ["--freeze-cgroup", freezer]
    mounts = external_mounts(
        config, container.state.get("bundle", ""), container.state.get("cgroup"), container.pid
    )
    for dest in mounts:
        argv += ["--external", f"mnt[{dest}]:{dest}"]
    return argv


def stored_config(container: Container) -> dict:
    """The config the container was created with (create keeps a copy in its state directory)."""
    path = container.store.path(container.id, "config.json")
    try:
        with open(path, "rb") as f:
            return jsonio.loads(f.read())
    except (OSError, ValueError) as err:
        text = errno_text(err) if isinstance(err, OSError) else "not valid JSON"
        raise PyruncError(f"cannot read the container's config {path}: {text}") from None


def write_descriptors(image_path: str, pid: int) -> list[str]:
    """Where the init's stdio lead ("pipe:[123]", "/dev/null", ...), in runc's file; returns the
    CRIU keys of those restore must give again: pipes (their other end is not in the images) and
    files on mounts the container does not have (the host's /dev/null or a log file, which CRIU
    cannot name inside the container: dumped as external files)."""
    links, keys = [], []
    own_mounts = _mount_ids(pid)
    for fd in range(3):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            link = ""  # closed
        links.append(link)
        keys.append(_stdio_key(pid, fd, link, own_mounts))
    for name, data in ((DESCRIPTORS, links), (STDIO_KEYS, keys)):
        path = os.path.join(image_path, name)
        try:
            with open(path, "w") as f:
                f.write(jsonio.dumps(data))
        except OSError as err:
            raise PyruncError(f"cannot write {path}: {errno_text(err)}") from None
    return keys


def _mount_ids(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            return {int(line.split(maxsplit=1)[0]) for line in f}
    except OSError:
        return set()


def _stdio_key(pid: int, fd: int, link: str, own_mounts: set[int]) -> str:
    if link.startswith("pipe:"):
        return link
    if not link.startswith("/"):
        return ""  # a socket, an anonymous inode: CRIU's own business
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        mnt_id = int(fields["mnt_id"])
        inode = os.stat(f"/proc/{pid}/fd/{fd}").st_ino
    except (OSError, KeyError, ValueError):
        return ""
    return "" if mnt_id in own_mounts else f"file[{mnt_id:x}:{inode:x}]"


def _destroy(store: Store, container_id: str) -> None:
    """What delete --force does, under the lock we already hold: CRIU has killed the processes."""
    from pyrunc.container.delete import destroy, stop_processes

    container = Container(store, container_id, locked=True)
    stop_processes(container)
    destroy(container)
