"""The command line, defined with click: runc's global flags and one command per verb.

This is the definition of record. At build time tools/gen/cli_table.py turns it into the table
that pyrunc/main.py parses hot invocations with (without importing click); anything that table
does not handle (help, a malformed option) comes here, so click's messages stay the errors.
Each command only forwards its options to pyrunc.commands.
"""

from __future__ import annotations

import sys

import click

from pyrunc import commands
from pyrunc.store import DEFAULT_ROOT

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _invoke(name: str, ctx: click.Context, opts: dict) -> None:
    sys.exit(commands.dispatch(name, ctx.obj, opts))


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(commands.version_text(), nl=False)
        ctx.exit(0)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--root",
    default="",
    help=f"Directory for the containers' state (default: {DEFAULT_ROOT}; "
    "$XDG_RUNTIME_DIR/pyrunc when rootless).",
)
@click.option("--log", default="", help="Log file (default: stderr).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log line format.",
)
@click.option("--debug", is_flag=True, help="Log debug messages.")
@click.option(
    "--systemd-cgroup",
    is_flag=True,
    help="Put each container in a systemd scope unit (cgroupsPath is slice:prefix:name).",
)
@click.option(
    "--rootless",
    default="auto",
    show_default=True,
    help="true, false or auto: no cgroup needed without limits (auto: not root, or root in "
    "another's user namespace).",
)
@click.option("--criu", default="criu", help="The CRIU binary for checkpoint and restore.")
@click.option(
    "-v",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version.",
)
@click.pass_context
def cli(ctx: click.Context, **global_opts: object) -> None:
    """pyrunc: an OCI container runtime with runc's command line."""
    ctx.obj = global_opts
    if ctx.invoked_subcommand is None:
        # As runc: without a command, the help on stdout and exit status 0 (not a usage error).
        click.echo(ctx.get_help())
        ctx.exit(0)


def _bundle_option(f):
    return click.option("--bundle", "-b", default=".", help="Bundle directory (default: current).")(f)


def _create_options(f):
    for option in reversed(
        [
            _bundle_option,
            click.option("--console-socket", default="", help="AF_UNIX socket that receives the pty master."),
            click.option("--pid-file", default="", help="File to write the init's pid to."),
            click.option(
                "--pidfd-socket", default="", help="AF_UNIX socket that receives a pidfd of the init."
            ),
            click.option("--no-pivot", is_flag=True, help="Use MS_MOVE and chroot instead of pivot_root."),
            click.option(
                "--no-new-keyring", is_flag=True, help="Do not create a session keyring (the default)."
            ),
            click.option(
                "--preserve-fds", type=int, default=0, help="Pass this many fds after stdio to the container."
            ),
        ]
    ):
        f = option(f)
    return f


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@_create_options
@click.pass_context
def create(ctx: click.Context, **opts: object) -> None:
    """Create a container; its process waits for `start`."""
    _invoke("create", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@_create_options
@click.option("--detach", "-d", is_flag=True, help="Do not wait for the container.")
@click.option("--keep", is_flag=True, help="Do not delete the container after it exits.")
@click.pass_context
def run(ctx: click.Context, **opts: object) -> None:
    """Create and start a container; wait for it unless --detach."""
    _invoke("run", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.pass_context
def start(ctx: click.Context, **opts: object) -> None:
    """Start the process of a created container."""
    _invoke("start", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.pass_context
def state(ctx: click.Context, **opts: object) -> None:
    """Print a container's state as JSON."""
    _invoke("state", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.argument("signal", required=False, default="SIGTERM")
@click.option("--all", "-a", "all", is_flag=True, help="Signal every process of the container.")
@click.pass_context
def kill(ctx: click.Context, **opts: object) -> None:
    """Send a signal (name or number, default SIGTERM) to a container."""
    _invoke("kill", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.option("--force", "-f", is_flag=True, help="Kill the container first if it is running.")
@click.pass_context
def delete(ctx: click.Context, **opts: object) -> None:
    """Delete a container and everything it holds."""
    _invoke("delete", ctx, opts)


@cli.command(name="list", context_settings=CONTEXT)
@click.option("--format", "-f", "format", type=click.Choice(["table", "json"]), default="table")
@click.option("--quiet", "-q", is_flag=True, help="Print the ids only.")
@click.pass_context
def list_(ctx: click.Context, **opts: object) -> None:
    """List the containers under --root."""
    _invoke("list", ctx, opts)


@cli.command(name="exec", context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.argument("container_id")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--process", "-p", "process_file", default=None, help="process.json to run instead of ARGS.")
@click.option("--env", "-e", multiple=True, help="Add an environment variable (NAME=VALUE).")
@click.option("--cwd", default=None, help="Working directory in the container.")
@click.option("--user", "-u", default=None, help="uid[:gid] to run as.")
@click.option("--additional-gids", "-g", multiple=True, type=int, help="Additional gid (repeatable).")
@click.option("--cap", "-c", "caps", multiple=True, help="Add a capability (repeatable).")
@click.option("--no-new-privs", is_flag=True, help="Set no_new_privs for the process.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a pseudo-terminal.")
@click.option("--console-socket", default="", help="AF_UNIX socket that receives the pty master.")
@click.option("--detach", "-d", is_flag=True, help="Do not wait for the process.")
@click.option("--pid-file", default="", help="File to write the process's pid to.")
@click.option("--pidfd-socket", default="", help="AF_UNIX socket that receives a pidfd of the process.")
@click.option(
    "--cgroup",
    multiple=True,
    help="Join this sub-cgroup of the container's: PATH, or CONTROLLER[,...]:PATH (cgroup v1, repeatable).",
)
@click.option("--preserve-fds", type=int, default=0, help="Pass this many fds after stdio to the process.")
@click.option("--ignore-paused", is_flag=True, help="Allow exec into a paused container.")
@click.option("--apparmor", default="", help="AppArmor profile (refused: not enabled on this host).")
@click.option("--process-label", default="", help="SELinux label (refused: not enabled on this host).")
@click.pass_context
def exec_(ctx: click.Context, **opts: object) -> None:
    """Run another process in a running container."""
    _invoke("exec", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.pass_context
def pause(ctx: click.Context, **opts: object) -> None:
    """Freeze every process of a container."""
    _invoke("pause", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.pass_context
def resume(ctx: click.Context, **opts: object) -> None:
    """Thaw a paused container."""
    _invoke("resume", ctx, opts)


@cli.command(context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--format", "-f", "format", type=click.Choice(["table", "json"]), default="table")
@click.argument("container_id")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ps(ctx: click.Context, **opts: object) -> None:
    """List a container's processes (json: an array of host pids; table: ps output, options after
    the id, default -ef)."""
    _invoke("ps", ctx, opts)


def _update_options(f):
    from pyrunc.cgroups.update_flags import CLI_FLAGS

    for name, text in reversed(CLI_FLAGS):
        f = click.option(f"--{name}", default=None, help=text)(f)
    return click.option("--resources", "-r", default=None, help="LinuxResources JSON file, or - for stdin.")(
        f
    )


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@_update_options
@click.pass_context
def update(ctx: click.Context, **opts: object) -> None:
    """Change a running container's resource limits."""
    _invoke("update", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@click.option("--interval", default="5s", help="Time between stats (Go duration, e.g. 5s).")
@click.option("--stats", is_flag=True, help="Print the stats once and exit.")
@click.pass_context
def events(ctx: click.Context, **opts: object) -> None:
    """Print the container's stats and OOM events as JSON lines."""
    _invoke("events", ctx, opts)


def _criu_options(dump: bool):
    """The CRIU flags of runc's checkpoint (dump=True) or restore."""
    options = [
        click.option(
            "--image-path", default="", help="Directory of the CRIU images (default: ./checkpoint)."
        ),
        click.option("--work-path", default="", help="Directory for CRIU's work files and log."),
    ]
    if dump:
        options += [
            click.option("--parent-path", default="", help="Previous pre-dump, relative to --image-path."),
            click.option("--leave-running", is_flag=True, help="Leave the container running after the dump."),
            click.option("--pre-dump", is_flag=True, help="Dump memory only; the container keeps running."),
            click.option("--page-server", default="", help="ADDRESS:PORT of a CRIU page server."),
        ]
    options += [
        click.option("--tcp-established", is_flag=True, help="Allow open TCP connections."),
        click.option("--ext-unix-sk", is_flag=True, help="Allow external unix sockets."),
        click.option("--shell-job", is_flag=True, help="Allow shell jobs."),
        click.option("--file-locks", is_flag=True, help="Handle file locks."),
        click.option("--lazy-pages", is_flag=True, help="Restore memory pages lazily (userfaultfd)."),
        click.option(
            "--status-fd", type=int, default=-1, help="CRIU writes \\0 to this fd once lazy pages are ready."
        ),
        click.option(
            "--manage-cgroups-mode",
            default="",
            help="CRIU's cgroup mode: soft (default), full, strict, ignore.",
        ),
        click.option(
            "--empty-ns", multiple=True, help="Create this namespace (network) but do not restore it."
        ),
        click.option("--auto-dedup", is_flag=True, help="Deduplicate memory images."),
        click.option("--external", multiple=True, help="Passed to CRIU as --external (repeatable)."),
    ]

    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f

    return apply


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@_criu_options(dump=True)
@click.pass_context
def checkpoint(ctx: click.Context, **opts: object) -> None:
    """Checkpoint a running container with CRIU (it is deleted after, unless --leave-running)."""
    _invoke("checkpoint", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.argument("container_id")
@_criu_options(dump=False)
@_create_options
@click.option("--detach", "-d", is_flag=True, help="Do not wait for the container.")
@click.option("--no-subreaper", is_flag=True, help="Do not become a subreaper while waiting.")
@click.pass_context
def restore(ctx: click.Context, **opts: object) -> None:
    """Restore a container from a CRIU checkpoint; wait for it unless --detach."""
    _invoke("restore", ctx, opts)


@cli.command(context_settings=CONTEXT)
@_bundle_option
@click.option("--rootless", is_flag=True, help="A spec for a container run by a non-root user.")
@click.pass_context
def spec(ctx: click.Context, **opts: object) -> None:
    """Write a default config.json into the bundle."""
    _invoke("spec", ctx, opts)


@cli.command(context_settings=CONTEXT)
@click.pass_context
def features(ctx: click.Context, **opts: object) -> None:
    """Print the runtime-spec features document: what this runtime and host support."""
    _invoke("features", ctx, opts)


@cli.command(name="help", context_settings=CONTEXT)
@click.argument("command", required=False)
@click.pass_context
def help_(ctx: click.Context, **opts: object) -> None:
    """Show the help of pyrunc, or of one command."""
    _invoke("help", ctx, opts)


def help_text(name: str | None) -> str:
    """The help of the whole CLI, or of one command (PyruncError if there is no such command)."""
    from pyrunc.errors import PyruncError

    top = click.Context(cli, info_name="pyrunc")
    if not name:
        return cli.get_help(top)
    command = cli.get_command(top, name)
    if command is None:
        raise PyruncError(f"no help topic for {name!r}: no such command")
    return command.get_help(click.Context(command, info_name=name, parent=top))


def main() -> None:
    cli.main(prog_name="pyrunc")
