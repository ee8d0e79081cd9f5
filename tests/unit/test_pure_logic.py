"""Pure logic, no root, no kernel (the plan's format: test_plan_layout.py): the generated CLI table
is current and parses as click does, mount options, signals, JSON, ids."""

from __future__ import annotations

import json
import os
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc import fastcli, jsonio, linux, mounts, plan, signals
from pyrunc.config import ConfigError
from pyrunc.errors import PyruncError, errno_text
from pyrunc.store import check_id

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_generated_cli_table_is_current():
    from pyrunc import _cli_table
    from tools.gen.cli_table import build_table

    assert build_table() == _cli_table.TABLE, "run: python -m tools.gen.cli_table pyrunc/_cli_table.py"


def test_every_command_of_the_cli_has_its_function_in_commands():
    """pyrunc/commands/__init__.py COMMANDS (where each verb's cmd_<verb> is) names the verbs of
    the click CLI, the definition of record, and nothing else; each resolves to its function."""
    from pyrunc import commands
    from pyrunc.cli import cli

    assert set(commands.COMMANDS) == set(cli.commands)
    for name in commands.COMMANDS:
        assert callable(commands.command(name)), name


@pytest.mark.parametrize(
    "argv",
    [
        ["--root", "/r", "state", "c1"],
        ["--log", "l.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "p", "c1"],
        ["create", "c1", "-b", "/b", "--preserve-fds=2"],
        ["kill", "--all", "c1", "KILL"],
        ["delete", "-f", "c1"],
        ["list", "-q"],
        ["exec", "-e", "A=1", "-e", "B=2", "c1", "sh", "-c", "echo -n hi"],
        ["ps", "--format", "json", "c1"],
        ["ps", "c1", "-ef"],
        ["run", "-d", "--keep", "c1"],
        ["update", "--memory", "64m", "-r", "-", "c1"],
    ],
)
def test_fast_parser_agrees_with_click(argv):
    """The generated table and click read a well-formed command line the same way."""
    import click

    from pyrunc import _cli_table
    from pyrunc.cli import cli

    fast = fastcli.parse(argv, _cli_table.TABLE.get)
    assert fast is not None, "the fast parser should handle this command line"
    command, global_opts, opts = fast
    ctx = cli.make_context("pyrunc", list(argv), resilient_parsing=True)
    with warnings.catch_warnings():  # click 8.2+ deprecates protected_args (gone in 9)
        warnings.simplefilter("ignore", DeprecationWarning)
        remaining = list(ctx.protected_args) + list(ctx.args)
    sub = cli.get_command(ctx, remaining[0])
    rest = remaining[1:]
    sub_ctx = sub.make_context(command, rest, parent=ctx, resilient_parsing=True)

    def plain(params: dict) -> dict:
        return {
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in params.items()
            if not isinstance(v, click.core.Sentinel if hasattr(click.core, "Sentinel") else ())
        }

    for key, value in plain(sub_ctx.params).items():
        assert opts.get(key) == value or (value is None and opts.get(key) in ("", None, False)), (
            key,
            value,
            opts,
        )
    for key, value in plain(ctx.params).items():
        assert global_opts.get(key) == value, (key, value, global_opts)


@pytest.mark.parametrize(
    "argv",
    [["kill"], ["state", "--bogus", "c"], ["create", "--preserve-fds", "x", "c"], ["state", "--help"], []],
)
def test_fast_parser_leaves_the_unusual_to_click(argv):
    from pyrunc import _cli_table

    assert fastcli.parse(argv, _cli_table.TABLE.get) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # containerd 1.6's shim (go-runc) restores with "-no-subreaper"; runc takes any long option
        # with one dash (Go's flag package).
        (
            ["--root", "/r", "restore", "--detach", "-no-subreaper", "-bundle=/b", "-b", "/b", "c1"],
            ["--root", "/r", "restore", "--detach", "--no-subreaper", "--bundle=/b", "-b", "/b", "c1"],
        ),
        (
            ["-root", "/r", "-log-format", "json", "state", "c1"],
            ["--root", "/r", "--log-format", "json", "state", "c1"],
        ),
        # Short options, option values, unknown words and a command's own arguments stay as they are.
        (
            ["exec", "-detach", "-e", "-env=1", "c1", "sh", "-detach"],
            ["exec", "--detach", "-e", "-env=1", "c1", "sh", "-detach"],
        ),
        (["create", "-d", "-bogus", "c1"], ["create", "-d", "-bogus", "c1"]),
        (["ps", "c1", "-format"], ["ps", "c1", "-format"]),
        (["-bogus", "state", "-help"], ["-bogus", "state", "-help"]),
        (["kill", "c1", "--", "-all"], ["kill", "c1", "--", "-all"]),
    ],
)
def test_one_dash_long_options_are_taken_as_runc_takes_them(argv, expected):
    from pyrunc import _cli_table

    assert fastcli.go_style(argv, _cli_table.TABLE.get) == expected
    if fastcli.parse(expected, _cli_table.TABLE.get) is not None:
        lookup = _cli_table.spec
        assert fastcli.parse(fastcli.go_style(argv, lookup), lookup) == fastcli.parse(expected, lookup)


@pytest.mark.parametrize(
    ("dest", "clean"),
    [
        ("/proc", "proc"),
        ("proc/", "proc"),
        ("/a/../b", "b"),
        ("/../../etc", "etc"),
        ("a/./b//c", "a/b/c"),
        ("/", ""),
    ],
)
def test_destinations_are_cleaned_inside_the_root(dest, clean):
    assert mounts.clean_dest(dest) == clean


def test_mount_options_flags_propagation_and_data():
    flags, propagation, data = mounts.parse_options(["ro", "nosuid", "rw", "rslave", "mode=755", "size=1m"])
    assert flags == linux.MS_NOSUID  # ro then rw
    assert propagation == linux.MS_SLAVE | linux.MS_REC
    assert data == ["mode=755", "size=1m"]


def test_recursive_options_later_ones_win():
    attr_set, attr_clear = mounts.recursive_attributes(["rro", "rnosuid", "rrw"])
    assert attr_set == mounts.MOUNT_ATTR_NOSUID
    assert attr_clear & mounts.MOUNT_ATTR_RDONLY


def test_bind_flags_as_attributes():
    attr_set, attr_clear = mounts.flags_as_attributes(linux.MS_RDONLY | linux.MS_NOEXEC | linux.MS_NOATIME)
    assert attr_set == mounts.MOUNT_ATTR_RDONLY | mounts.MOUNT_ATTR_NOEXEC | mounts.MOUNT_ATTR_NOATIME
    assert attr_clear == mounts.MOUNT_ATTR__ATIME


@pytest.mark.parametrize(
    ("mount", "allowed"),
    [
        ({"destination": "/proc", "type": "proc", "source": "proc"}, True),
        ({"destination": "/proc", "type": "tmpfs", "source": "t"}, False),
        (
            {"destination": "/proc/cpuinfo", "type": "bind", "source": "/etc/hostname", "options": ["bind"]},
            True,
        ),
        ({"destination": "/proc/sys/kernel/core_pattern", "type": "bind", "source": "/etc/hostname"}, False),
        ({"destination": "/proc/self/attr/exec", "type": "tmpfs", "source": "t"}, False),
    ],
)
def test_mounts_inside_proc(mount, allowed, tmp_path):
    if allowed:
        mounts.build(mount, 0, str(tmp_path))
    else:
        with pytest.raises(ConfigError, match=r"mounts\[0\]\.destination"):
            mounts.build(mount, 0, str(tmp_path))


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("9", 9),
        ("0", 0),
        ("term", 15),
        ("RTMIN", 34),
        ("RTMIN+3", 37),
        ("SIGRTMAX-1", 63),
    ],
)
def test_signals(text, number):
    assert signals.parse_signal(text) == number


@pytest.mark.parametrize("text", ["NOPE", "SIG0", "65", "RTMIN+40", "", "-9"])
def test_bad_signals(text):
    with pytest.raises(ValueError):
        signals.parse_signal(text)


@pytest.mark.parametrize("doc", ['{"a": [1, 2.5, true, null, "x\\u00e9"], "b": {}}', "[]", '"s"', "3", "{}"])
def test_jsonio_reads_what_json_reads(doc):
    assert jsonio.loads(doc) == json.loads(doc)
    assert json.loads(jsonio.dumps(json.loads(doc))) == json.loads(doc)


@pytest.mark.parametrize("doc", ["{", '{"a":1,}', "[1 2]", "{} x", "", "NaN", '{"a":"\x01"}'])
def test_jsonio_errors_name_line_and_column(doc):
    with pytest.raises(jsonio.DecodeError, match=r"line \d+ column \d+"):
        jsonio.loads(doc)


def test_pretty_json_has_gos_layout():
    assert jsonio.dumps_pretty({"a": [1], "b": {}}) == '{\n  "a": [\n    1\n  ],\n  "b": {}\n}'


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(_json_values)
def test_pretty_json_writes_every_value_as_json_does(value):
    """dumps_pretty writes plain values itself, without _json (jsonio._leaf): each as json.dumps
    writes it, escapes included."""
    assert json.loads(jsonio.dumps_pretty(value)) == value
    if not isinstance(value, (dict, list)) or not value:
        assert jsonio.dumps_pretty(value) == json.dumps(value, separators=(",", ":"))
    else:
        assert jsonio.dumps_pretty(value) == json.dumps(value, indent=2, separators=(",", ": "))


@pytest.mark.parametrize("good", ["a", "A-b_c.d+e", "x" * 255, "..a", "a..b"])
def test_valid_ids(good):
    check_id(good)


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "/x", "a b", "é", "a\0b", "x" * 1025, "a:b", "x" * 256]
)
def test_invalid_ids(bad):
    with pytest.raises(PyruncError):
        check_id(bad)


def test_errno_text_is_gos_spelling():
    assert errno_text(2) == "no such file or directory"
    assert errno_text(1) == "operation not permitted"
    assert errno_text(OSError(13, "x")) == "permission denied"


def test_cpu_mask():
    mask = plan.cpu_mask("0-2,5")
    assert int.from_bytes(mask, "little") == 0b100111
    assert len(mask) == 128


def test_list_table_has_runcs_layout():
    from pyrunc.commands.info import format_table

    rows = format_table(
        [{"id": "c1", "pid": 7, "status": "running", "bundle": "/b", "created": "t", "owner": ""}]
    )
    header, line = rows.splitlines()
    assert header.startswith("ID          PID         STATUS      BUNDLE      CREATED     OWNER")
    assert line.split() == ["c1", "7", "running", "/b", "t"]


def test_default_spec_capability_sets_are_independent():
    # They once shared one list: dropping a capability from one set dropped it from all three.
    from pyrunc.config.spec import default_spec

    caps = default_spec()["process"]["capabilities"]
    caps["effective"].remove("CAP_KILL")
    assert "CAP_KILL" in caps["bounding"] and "CAP_KILL" in caps["permitted"]
    assert "CAP_KILL" in default_spec()["process"]["capabilities"]["effective"]
