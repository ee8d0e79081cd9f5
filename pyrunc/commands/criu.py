"""checkpoint and restore, through criu (see pyrunc/commands)."""

from pyrunc.commands import store_for
from pyrunc.commands.launch import create_request

CRIU_FLAGS = (
    "image_path", "work_path", "parent_path", "leave_running", "pre_dump", "page_server", "tcp_established",
    "ext_unix_sk", "shell_job", "file_locks", "lazy_pages", "status_fd", "manage_cgroups_mode", "empty_ns",
    "auto_dedup", "external",
)  # fmt: skip


def _criu_options(opts: dict):
    from pyrunc.container.criu import CriuOptions

    return CriuOptions(**{name: opts.get(name) for name in CRIU_FLAGS})


def cmd_checkpoint(g: dict, opts: dict) -> int:
    from pyrunc.container.checkpoint import checkpoint

    checkpoint(store_for(g), opts["container_id"], _criu_options(opts), g.get("criu") or "criu")
    return 0


def cmd_restore(g: dict, opts: dict) -> int:
    from pyrunc.container.restore import restore

    return restore(
        store_for(g),
        create_request(g, opts),
        _criu_options(opts),
        g.get("criu") or "criu",
        detach=bool(opts.get("detach")),
        no_subreaper=bool(opts.get("no_subreaper")),
    )
