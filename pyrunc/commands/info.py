"""list, ps, events, spec, features and help (see pyrunc/commands)."""

import sys

from pyrunc.commands import store_for


def cmd_list(g: dict, opts: dict) -> int:
    from pyrunc.container.query import list_states

    states = list_states(store_for(g))
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


def cmd_ps(g: dict, opts: dict) -> int:
    from pyrunc.container.ps import container_pids, ps_table

    pids = container_pids(store_for(g), opts["container_id"])
    if opts.get("format") == "json":
        from pyrunc import jsonio

        sys.stdout.write(jsonio.dumps(pids) + "\n")
    else:
        sys.stdout.write(ps_table(pids, list(opts.get("ps_args") or ())))
    return 0


def cmd_events(g: dict, opts: dict) -> int:
    from pyrunc.container.events import events, parse_duration

    events(
        store_for(g),
        opts["container_id"],
        bool(opts.get("stats")),
        parse_duration(opts.get("interval") or "5s"),
    )
    return 0


def cmd_spec(g: dict, opts: dict) -> int:
    from pyrunc.config.spec import write_default_spec

    write_default_spec(opts.get("bundle") or ".", rootless=bool(opts.get("rootless")))
    return 0


def cmd_features(g: dict, opts: dict) -> int:
    from pyrunc import jsonio
    from pyrunc.features import features

    sys.stdout.write(jsonio.dumps_pretty(features()) + "\n")
    return 0


def cmd_help(g: dict, opts: dict) -> int:
    from pyrunc.cli import help_text

    sys.stdout.write(help_text(opts.get("command")) + "\n")
    return 0
