"""/proc/PID/mountinfo for the tests: their own parser, apart from pyrunc's (pyrunc/mountinfo.py), so
that a mistake in one cannot hide in both."""

from __future__ import annotations


class MountEntry:
    """One line of /proc/PID/mountinfo (proc(5))."""

    def __init__(self, line: str) -> None:
        fields = line.split()
        sep = fields.index("-")
        self.mount_id = int(fields[0])
        self.parent_id = int(fields[1])
        self.dev = fields[2]
        self.root = unescape(fields[3])
        self.point = unescape(fields[4])
        self.options = set(fields[5].split(","))
        self.optional = fields[6:sep]  # shared:N, master:N, propagate_from:N, unbindable
        self.fstype = fields[sep + 1]
        self.source = unescape(fields[sep + 2])
        self.super_options = set(fields[sep + 3].split(","))

    @property
    def shared(self) -> bool:
        return any(tag.startswith("shared:") for tag in self.optional)

    @property
    def slave(self) -> bool:
        return any(tag.startswith("master:") for tag in self.optional)

    @property
    def unbindable(self) -> bool:
        return "unbindable" in self.optional

    @property
    def private(self) -> bool:
        return not (self.shared or self.slave or self.unbindable)

    def __repr__(self) -> str:
        return f"<mount {self.point} {self.fstype} {sorted(self.options)} {self.optional}>"


def unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal \\NNN."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def mounts(pid: int | str = "self") -> list[MountEntry]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return [MountEntry(line) for line in f]
