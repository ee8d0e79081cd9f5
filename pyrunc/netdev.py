"""linux.netDevices (runtime-spec 1.3): move host interfaces into the container's network namespace.

Done by the parent at the init's SETUP (its namespaces exist, nothing of the container runs yet),
through iproute2's `ip`, one netlink request per move so the rename and the move cannot be split:

- the interface must exist on the host; its permanent addresses of global scope are read first,
  since the kernel drops every address when an interface changes namespace, and added back inside;
- a name already taken in the container's namespace is an error (EEXIST from the kernel), unless
  the config gives a `%d` template, which the kernel fills with a free number;
- the interface is set up inside.

On delete nothing is moved back: the spec says the namespace's owner manages the interface from
then on, and when the namespace goes the kernel returns physical devices to the host and destroys
virtual ones (a veth takes its peer with it), as runc does. A create that fails after a move puts
what it moved back, under its host name, with its addresses: that undoes the create's own work.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pyrunc.errors import PyruncError

IP_TIMEOUT = 10.0  # seconds for one `ip` command: netlink answers at once unless the host is wedged


class Moved:
    """One interface this create moved: enough to put it back."""

    __slots__ = ("addresses", "host_name", "ifindex", "name", "was_up")

    def __init__(self, host_name: str, name: str, ifindex: int, addresses: list[dict], was_up: bool) -> None:
        self.host_name = host_name
        self.name = name
        self.ifindex = ifindex
        self.addresses = addresses
        self.was_up = was_up


def _ip_binary() -> str:
    path = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if os.access(p, os.X_OK)), None
    )
    if not path:
        raise PyruncError(
            "linux.netDevices: moving network devices needs iproute2's ip, which is not installed"
        )
    return path


def _ip(args: list[str], where: str, netns_pid: int = 0) -> str:
    """Run `ip ARGS` (inside the network namespace of netns_pid when given); stdout, or an error
    naming `where` with ip's own message."""
    argv = [_ip_binary(), *args]
    if netns_pid:
        nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        argv = [nsenter, f"--net=/proc/{netns_pid}/ns/net", "--", *argv]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PyruncError(f"{where}: `ip {' '.join(args)}` did not answer in {IP_TIMEOUT:g} s") from None
    except OSError as err:
        raise PyruncError(f"{where}: cannot run {argv[0]}: {err.strerror}") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise PyruncError(f"{where}: {message}")
    return done.stdout


def _link(name: str, where: str, netns_pid: int = 0) -> dict:
    import json

    out = _ip(["-j", "address", "show", "dev", name], where, netns_pid)
    links = json.loads(out or "[]")
    if not links:
        raise PyruncError(f"{where}: no interface {name!r}")
    return links[0]


def kept_addresses(link: dict) -> list[dict]:
    """The addresses the spec says survive the move: permanent (ip marks the others dynamic) and
    of global scope."""
    return [a for a in link.get("addr_info") or [] if a.get("scope") == "global" and not a.get("dynamic")]


def _add_addresses(name: str, addresses: list[dict], where: str, netns_pid: int) -> None:
    for addr in addresses:
        args = ["address", "add", f"{addr['local']}/{addr['prefixlen']}"]
        if addr.get("address"):  # the peer of a point-to-point address
            args += ["peer", addr["address"]]
        if addr.get("broadcast"):
            args += ["broadcast", addr["broadcast"]]
        _ip([*args, "dev", name], where, netns_pid)


def _links_in(pid: int, where: str) -> list[dict]:
    import json

    return json.loads(_ip(["-j", "link", "show"], where, pid) or "[]")


def _find_in(pid: int, link: dict, where: str) -> str | None:
    """The name the host's `link` has in pid's network namespace, found by its hardware address
    and, among equals, the index (the kernel keeps it when it is free there); None if absent."""
    links = _links_in(pid, where)
    same = [c for c in links if link.get("address") and c.get("address") == link["address"]] or links
    for candidate in sorted(same, key=lambda c: c.get("ifindex") != link.get("ifindex")):
        if len(same) == 1 or candidate.get("ifindex") == link.get("ifindex"):
            return candidate["ifname"]
    return None


def move_one(pid: int, host_name: str, device: dict) -> Moved:
    """Move host_name into the network namespace of `pid`, renamed to device["name"] if given."""
    where = f"linux.netDevices[{host_name!r}]"
    link = _link(host_name, where)
    addresses = kept_addresses(link)
    wanted = device.get("name") or host_name
    # Checked first: this kernel moves the interface and then fails the rename with EEXIST.
    if "%" not in wanted and any(other.get("ifname") == wanted for other in _links_in(pid, where)):
        raise PyruncError(f"{where}: {wanted!r} already exists in the container's network namespace")
    moved = Moved(host_name, wanted, link.get("ifindex", 0), addresses, "UP" in (link.get("flags") or ()))
    try:
        _ip(["link", "set", "dev", host_name, "netns", str(pid), "name", wanted], where)
    except PyruncError:
        name = _find_in(pid, link, where)  # moved all the same (a lost race on the name)?
        if name:
            moved.name = name
            move_back(pid, [moved])
        raise
    try:
        if "%" in wanted:
            moved.name = _find_in(pid, link, where) or ""
            if not moved.name:
                raise PyruncError(f"{where}: moved, but not found in the container's network namespace")
        _add_addresses(moved.name, addresses, where, pid)
        _ip(["link", "set", "dev", moved.name, "up"], where, pid)
    except PyruncError:
        if moved.name:
            move_back(pid, [moved])
        raise
    return moved


def move_into(pid: int, devices: dict) -> list[Moved]:
    """Every entry of linux.netDevices, in the config's order; on a failure, the ones already
    moved go back before the error is raised."""
    moved: list[Moved] = []
    try:
        for host_name, device in devices.items():
            moved.append(move_one(pid, host_name, device or {}))
    except PyruncError:
        move_back(pid, moved)
        raise
    return moved


def move_back(pid: int, moved: list[Moved]) -> None:
    """Undo of move_into for a create that failed: each interface back to this process's network
    namespace under its host name, with its addresses and its up state. Best effort: a failure is
    logged, and the create's own error is what the caller sees."""
    from pyrunc import log

    for item in reversed(moved):
        where = f"linux.netDevices[{item.host_name!r}]"
        try:
            _ip(["link", "set", "dev", item.name, "down"], where, pid)
            _ip(
                ["link", "set", "dev", item.name, "netns", str(os.getpid()), "name", item.host_name],
                where,
                pid,
            )
            _add_addresses(item.host_name, item.addresses, where, 0)
            if item.was_up:
                _ip(["link", "set", "dev", item.host_name, "up"], where)
        except PyruncError as err:
            log.warning(f"cleaning up after a failed create: {err}")
