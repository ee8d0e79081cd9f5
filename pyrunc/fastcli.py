"""Parse a well-formed command line with the table generated from the click CLI.

`lookup(name)` gives a command's entry of that table ("" for pyrunc's own options), or None for a
name that is no command: pyrunc/_cli_table.py's `spec` (one entry unmarshalled per command line),
or a whole table's `.get`.

Returns (command, global options, command options), or None for anything it does not handle
exactly (help, unknown or malformed options, missing arguments): those go to click, whose errors
and help texts are the reference.
"""


def _convert(value: str, type_name: str) -> object:
    if type_name == "int":
        return int(value)  # ValueError -> not ours to handle
    if type_name.startswith("choice:") and value not in type_name[7:].split(","):
        raise ValueError(value)
    return value


def _take_option(argv: list[str], i: int, spec: dict, out: dict) -> int | None:
    """Consume the option at argv[i]; the next index, or None if it is not clean."""
    word = argv[i]
    name, eq, inline = word.partition("=")
    entry = spec["options"].get(name)
    if entry is None:
        return None
    dest, kind, type_name = entry
    if kind == "flag":
        if eq:
            return None
        out[dest] = True
        return i + 1
    if eq:
        value, nxt = inline, i + 1
    elif i + 1 < len(argv):
        value, nxt = argv[i + 1], i + 2
    else:
        return None
    try:
        converted = _convert(value, type_name)
    except ValueError:
        return None
    if kind == "multiple":
        out[dest] = (*out.get(dest, ()), converted)
    else:
        out[dest] = converted
    return nxt


def _assign_arguments(spec: dict, positionals: list[str], out: dict) -> bool:
    for name, required, nargs in spec["arguments"]:
        if nargs == -1:
            out[name] = tuple(positionals)
            positionals = []
            continue
        if not positionals:
            if required:
                return False
            continue
        out[name] = positionals.pop(0)
    return not positionals


def _long_form(word: str, spec: dict) -> str:
    """`-name` or `-name=value` as `--name...` when --name is a long option of `spec`: runc's
    parser (Go's flag package) takes every long option with one dash too, and go-runc sends
    some that way (`restore -no-subreaper`, from containerd's shim)."""
    if word.startswith("--") or len(word) < 3 or not word.startswith("-"):
        return word
    name = word.partition("=")[0]
    return "-" + word if "-" + name in spec["options"] else word


def go_style(argv: list[str], lookup) -> list[str]:
    """argv with the one-dash long options of pyrunc and of its command written with two
    dashes; everything else as it was (short options, option values, the command's arguments
    after its options)."""
    out = list(argv)
    spec, i, command_seen = lookup(""), 0, False
    while i < len(out):
        word = out[i]
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            if not command_seen:
                found = lookup(word) if word else None
                if found is None:
                    break
                spec, command_seen = found, True
            elif not spec["interspersed"]:
                break  # exec's and ps's: what follows the first argument is theirs
            i += 1
            continue
        out[i] = word = _long_form(word, spec)
        entry = spec["options"].get(word.partition("=")[0])
        # An option's value is never rewritten ("--env -foo=1" stays).
        i += 2 if entry and entry[1] != "flag" and "=" not in word else 1
    return out


def parse(argv: list[str], lookup) -> tuple[str, dict, dict] | None:
    top = lookup("")
    global_opts = dict(top["defaults"])
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        nxt = _take_option(argv, i, top, global_opts)
        if nxt is None:
            return None
        i = nxt
    spec = lookup(argv[i]) if i < len(argv) and argv[i] else None
    if spec is None:
        return None
    command = argv[i]
    opts = dict(spec["defaults"])
    positionals: list[str] = []
    i += 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            positionals += argv[i + 1 :]
            break
        if word.startswith("-") and word != "-" and (spec["interspersed"] or not positionals):
            if word in ("-h", "--help"):
                return None
            nxt = _take_option(argv, i, spec, opts)
            if nxt is None:
                return None
            i = nxt
            continue
        if not spec["interspersed"] and positionals:
            positionals += argv[i:]
            break
        positionals.append(word)
        i += 1
    if not _assign_arguments(spec, positionals, opts):
        return None
    return command, global_opts, opts
