"""The `pyrunc` command.

Well-formed invocations are parsed with the generated table and dispatched straight to their verb,
so `pyrunc state` or `pyrunc kill` never import click; everything else (help, errors in the command
line) goes through the click CLI, the definition of record.
"""

import sys

# Commands that end once their container is where they put it run without the cyclic garbage
# collector: its passes over the objects their imports make cost `state` or `delete` more than the
# few cycles they leave (the process's end frees them). The others (run, exec and restore wait on
# a container, events streams) may run for days, and keep it.
WITHOUT_COLLECTOR = ("create", "start", "state", "kill", "delete")


def main(argv: list[str] | None = None) -> None:
    import gc

    gc.disable()
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-v"]):
        from pyrunc import version_text

        sys.stdout.write(version_text())
        _exit(0)
    parsed: tuple | None = None
    try:
        from pyrunc._cli_table import spec
    except ImportError:  # not generated (running from a source tree without a build)
        spec = None  # type: ignore[assignment]
    if spec is not None:
        from pyrunc.fastcli import go_style, parse

        argv = go_style(argv, spec)  # for click too: one spelling of each option from here on
        parsed = parse(argv, spec)
    if parsed is None:
        gc.enable()
        _exit(_run_click(argv))
        return  # (not reached: _exit does not return)
    from pyrunc.commands import dispatch

    command, global_opts, opts = parsed
    if command not in WITHOUT_COLLECTOR:
        gc.enable()
    _exit(dispatch(command, global_opts, opts))


def _exit(code: int) -> None:
    """Exit without the interpreter's finalization (tearing down every module, a last GC): a
    command is done once its output is flushed, and that teardown costs more than some commands.
    pyrunc writes its files unbuffered or closes them itself and registers no atexit handlers."""
    import posix  # os._exit, without importing os (--version needs nothing else of it)

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    posix._exit(code)


def _run_click(argv: list[str]) -> int:
    """The click CLI for what the fast path does not handle: help, and malformed command lines,
    which become one error line (and a json log line with --log-format json) with exit status 1,
    as every other error (click itself would print a usage text and exit 2)."""
    import click

    from pyrunc.cli import cli

    try:
        return cli.main(args=argv, prog_name="pyrunc", standalone_mode=False) or 0
    except SystemExit as done:  # a command's own exit status (pyrunc/cli.py _invoke)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except click.exceptions.ClickException as err:
        from pyrunc import log

        _configure_log_from(argv)
        ctx = getattr(err, "ctx", None)  # UsageError has one, other ClickExceptions do not
        where = ctx.command_path if ctx else "pyrunc"
        log.error(f"{where}: {err.format_message()}")
        return 1
    except click.exceptions.Abort:
        return 130


def _configure_log_from(argv: list[str]) -> None:
    """--log and --log-format, read from a command line click refused."""
    from pyrunc import log

    values = {}
    for i, word in enumerate(argv):
        name, eq, value = word.partition("=")
        if name in ("--log", "--log-format"):
            values[name] = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
    fmt = values.get("--log-format", "text")
    log.configure(values.get("--log") or None, fmt if fmt in ("text", "json") else "text")


if __name__ == "__main__":
    main()
