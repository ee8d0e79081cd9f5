"""/proc/PID/mountinfo, parsed once for all of pyrunc (cgroups/discovery.py).

Imports nothing: the cgroup hot paths read it. The tests keep a parser of their own
(tests/mountinfo.py), so a mistake here cannot hide in both.
"""


class Mount:
    """One line of mountinfo (proc(5)): paths unescaped, optional fields kept as given."""

    __slots__ = (
        "fstype",
        "mount_id",
        "optional",
        "options",
        "parent_id",
        "point",
        "root",
        "source",
        "super_options",
    )

    def __init__(self, line: str) -> None:
        fields = line.split()
        sep = fields.index("-", 6)  # the optional fields (shared:N, master:N...) end at "-"
        self.mount_id = int(fields[0])
        self.parent_id = int(fields[1])
        self.root = unescape(fields[3])
        self.point = unescape(fields[4])
        self.options = fields[5]
        self.optional = fields[6:sep]
        self.fstype = fields[sep + 1]
        self.source = unescape(fields[sep + 2])
        self.super_options = fields[sep + 3]


def unescape(text: str) -> str:
    """The kernel writes space, tab, newline and backslash in paths as octal \\NNN."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        code = text[i + 1 : i + 4]
        if text[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[Mount]:
    return [Mount(line) for line in text.splitlines() if line]


def read(path: str = "/proc/self/mountinfo") -> list[Mount]:
    with open(path) as f:
        return parse(f.read())
