"""One function per verb, called with the parsed options as plain dicts, by both the click CLI
(pyrunc/cli.py) and the fast dispatcher (pyrunc/main.py). Each imports only what its verb needs."""

import sys

from pyrunc import log, version_text  # noqa: F401 (version_text: for pyrunc/cli.py)
from pyrunc.errors import PyruncError


def _store(g: dict):
    from pyrunc.store import Store

    if g.get("root"):
        return Store(g["root"])
    from pyrunc.rootless import default_root

    return Store(default_root())


def _rootless(g: dict) -> bool:
    from pyrunc.rootless import rootless

    return rootless(g.get("rootless") or "auto")


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


def _create_request(g: dict, opts: dict):
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
        rootless=_rootless(g),
    )


def cmd_create(g: dict, opts: dict) -> int:
    from pyrunc.container.create import create

    create(_store(g), _create_request(g, opts)).release()
    return 0


def cmd_run(g: dict, opts: dict) -> int:
    from pyrunc.container.run import run

    return run(
        _store(g), _create_request(g, opts), detach=bool(opts.get("detach")), keep=bool(opts.get("keep"))
    )


def cmd_start(g: dict, opts: dict) -> int:
    from pyrunc.container.start import start

    start(_store(g), opts["container_id"])
    return 0


def cmd_state(g: dict, opts: dict) -> int:
    from pyrunc import jsonio
    from pyrunc.container.query import state

    sys.stdout.write(jsonio.dumps_pretty(state(_store(g), opts["container_id"])) + "\n")
    return 0


def cmd_kill(g: dict, opts: dict) -> int:
    from pyrunc import linux
    from pyrunc.container.kill import kill

    try:
        sig = linux.parse_signal(opts.get("signal") or "SIGTERM")
    except ValueError as err:
        raise PyruncError(str(err)) from None
    kill(_store(g), opts["container_id"], sig, all_processes=bool(opts.get("all")))
    return 0


def cmd_delete(g: dict, opts: dict) -> int:
    from pyrunc.container.delete import delete

    delete(_store(g), opts["container_id"], force=bool(opts.get("force")))
    return 0


def cmd_list(g: dict, opts: dict) -> int:
    from pyrunc.container.query import list_states

    states = list_states(_store(g))
    if opts.get("quiet"):
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif opts.get("format") == "json":
        from pyrunc import jsonio

        sys.stdout.write(jsonio.dumps(states) + "\n")
    else:
        sys.stdout.write(format_table(states))
    return 0


def format_table(states: list[dict]) -> str:
    """runc's list table: tabwriter with a minimum cell width of 12 and 3 spaces of padding."""
    header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = [header] + [
        [s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]] for s in states
    ]
    widths = [max(12, max(len(row[i]) for row in rows) + 3) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("".join(cells).rstrip() + "\n")
    return "".join(lines)


def cmd_spec(g: dict, opts: dict) -> int:
    from pyrunc.config.spec import write_default_spec

    write_default_spec(opts.get("bundle") or ".", rootless=bool(opts.get("rootless")))
    return 0


def cmd_features(g: dict, opts: dict) -> int:
    from pyrunc import jsonio
    from pyrunc.features import features

    sys.stdout.write(jsonio.dumps_pretty(features()) + "\n")
    return 0


def cmd_exec(g: dict, opts: dict) -> int:
    from pyrunc.container.exec import ExecRequest, execute

    fields = {k: v for k, v in opts.items() if k != "container_id"}
    fields["preserve_fds"] = check_preserve_fds(fields.get("preserve_fds"))
    return execute(_store(g), ExecRequest(opts["container_id"], **fields))


def cmd_pause(g: dict, opts: dict) -> int:
    from pyrunc.container.pause import pause

    pause(_store(g), opts["container_id"])
    return 0


def cmd_resume(g: dict, opts: dict) -> int:
    from pyrunc.container.pause import resume

    resume(_store(g), opts["container_id"])
    return 0


def cmd_ps(g: dict, opts: dict) -> int:
    from pyrunc.container.ps import container_pids, ps_table

    pids = container_pids(_store(g), opts["container_id"])
    if opts.get("format") == "json":
        from pyrunc import jsonio

        sys.stdout.write(jsonio.dumps(pids) + "\n")
    else:
        sys.stdout.write(ps_table(pids, list(opts.get("ps_args") or ())))
    return 0


def cmd_update(g: dict, opts: dict) -> int:
    from pyrunc.cgroups.update_flags import CLI_FLAGS
    from pyrunc.container.update import update

    given = ((name, opts.get(name.replace("-", "_"))) for name, _help in CLI_FLAGS)
    flags = {name: value for name, value in given if value not in (None, "")}
    update(_store(g), opts["container_id"], opts.get("resources") or None, flags)
    return 0


def cmd_events(g: dict, opts: dict) -> int:
    from pyrunc.container.events import events, parse_duration

    events(
        _store(g), opts["container_id"], bool(opts.get("stats")), parse_duration(opts.get("interval") or "5s")
    )
    return 0


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

    checkpoint(_store(g), opts["container_id"], _criu_options(opts), g.get("criu") or "criu")
    return 0


def cmd_restore(g: dict, opts: dict) -> int:
    from pyrunc.container.restore import restore

    return restore(
        _store(g),
        _create_request(g, opts),
        _criu_options(opts),
        g.get("criu") or "criu",
        detach=bool(opts.get("detach")),
        no_subreaper=bool(opts.get("no_subreaper")),
    )


def cmd_help(g: dict, opts: dict) -> int:
    from pyrunc.cli import help_text

    sys.stdout.write(help_text(opts.get("command")) + "\n")
    return 0


COMMANDS = {
    "exec": cmd_exec,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "ps": cmd_ps,
    "update": cmd_update,
    "events": cmd_events,
    "create": cmd_create,
    "run": cmd_run,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "list": cmd_list,
    "spec": cmd_spec,
    "features": cmd_features,
    "help": cmd_help,
    "checkpoint": cmd_checkpoint,
    "restore": cmd_restore,
}


# As runc: exec exits 255 when it fails before its process runs (bad --pid-file, paused or missing
# container, bad --process, a command that cannot be executed, ...), with "exec failed: " before the
# message, so that callers can tell the runtime's failure from the process's own exit status.
# Usage errors (an unknown flag, no id) stay 1: click reports them before any verb runs.
_FAILED = {"exec": (255, "exec failed: ")}


def dispatch(name: str, g: dict, opts: dict) -> int:
    """Run one verb; errors become a log line and exit status 1 (255 for exec, see _FAILED)."""
    log.configure(g.get("log") or None, g.get("log_format") or "text", bool(g.get("debug")))
    status, prefix = _FAILED.get(name, (0, ""))
    try:
        return COMMANDS[name](g, opts) or 0
    except PyruncError as err:
        log.error(prefix + str(err))
        return status or err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: still one line for the user and the shim, details on --debug
        log.error(f"{prefix}internal error in {name}: {type(err).__name__}: {err}")
        if g.get("debug"):
            import traceback

            traceback.print_exc()
        return status or 1
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
