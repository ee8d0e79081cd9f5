"""create, run and exec: the verbs that start a container's processes (see pyrunc/commands)."""

from pyrunc import log
from pyrunc.commands import rootless_for, store_for
from pyrunc.errors import PyruncError


def check_preserve_fds(value: object) -> int:
    """--preserve-fds N: 0 <= N and 3+N within the fd limit."""
    count = value or 0
    if count == 0:
        return 0  # stdio only: within any limit this interpreter runs under (no `resource` to load)
    import resource

    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if not isinstance(count, int) or count < 0 or 3 + count > limit:
        raise PyruncError(f"--preserve-fds {value}: must be between 0 and {limit - 3} (fd limit {limit})")
    return count


def create_request(g: dict, opts: dict):
    from pyrunc.container.create import CreateRequest

    if opts.get("no_new_keyring"):
        log.debug("--no-new-keyring: pyrunc never creates a session keyring")
    return CreateRequest(
        opts["container_id"],
        opts.get("bundle") or ".",
        pid_file=opts.get("pid_file") or None,
        console_socket=opts.get("console_socket") or None,
        no_pivot=bool(opts.get("no_pivot")),
        preserve_fds=check_preserve_fds(opts.get("preserve_fds")),
        systemd_cgroup=bool(g.get("systemd_cgroup")),
        pidfd_socket=opts.get("pidfd_socket") or None,
        rootless=rootless_for(g),
    )


def cmd_create(g: dict, opts: dict) -> int:
    from pyrunc.container.create import create

    create(store_for(g), create_request(g, opts)).release()
    return 0


def cmd_run(g: dict, opts: dict) -> int:
    from pyrunc.container.run import run

    return run(
        store_for(g), create_request(g, opts), detach=bool(opts.get("detach")), keep=bool(opts.get("keep"))
    )


def cmd_exec(g: dict, opts: dict) -> int:
    from pyrunc.container.exec import ExecRequest, execute

    fields = {k: v for k, v in opts.items() if k != "container_id"}
    fields["preserve_fds"] = check_preserve_fds(fields.get("preserve_fds"))
    return execute(store_for(g), ExecRequest(opts["container_id"], **fields))
