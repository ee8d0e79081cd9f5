"""The `pyrunc` command.

Well-formed invocations are parsed with the generated table and dispatched straight to their verb,
so `pyrunc state` or `pyrunc kill` never import click; everything else (help, errors in the command
line) goes through the click CLI, the definition of record.
"""

import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-v"]):
        from pyrunc.commands import version_text

        sys.stdout.write(version_text())
        sys.exit(0)
    parsed = None
    try:
        from pyrunc._cli_table import TABLE
    except ImportError:  # not generated (running from a source tree without a build)
        TABLE = None
    if TABLE is not None:
        from pyrunc.fastcli import parse

        parsed = parse(argv, TABLE)
    if parsed is None:
        from pyrunc.cli import cli

        cli.main(args=argv, prog_name="pyrunc")
        return
    from pyrunc.commands import dispatch

    command, global_opts, opts = parsed
    sys.exit(dispatch(command, global_opts, opts))


if __name__ == "__main__":
    main()
