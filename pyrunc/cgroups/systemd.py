"""The systemd cgroup driver (--systemd-cgroup), on a cgroup v2 (unified) host.

As runc's: the container's cgroup is a transient scope unit that systemd starts over D-Bus
(StartTransientUnit on org.freedesktop.systemd1, mode "replace", then the job's JobRemoved signal
is awaited) with the init's pid in PIDs, Delegate=yes (the cgroup below the scope is ours),
DefaultDependencies=no, accounting on, and the resources systemd understands as unit properties.
Everything, those included, is then written to cgroupfs in the scope as the cgroupfs driver does
(v2.V2Manager): systemd rounds some values (CPU quota to 10 ms per second) and knows nothing of
others. Delete stops the unit and resets it if it failed.

cgroupsPath is runc's "slice:prefix:name": the scope is "prefix-name.scope" in "slice" (default
system.slice, user.slice when rootless); an empty cgroupsPath is ":runc:<id>". A name ending in
".slice" makes the container's unit that slice, a child of "slice" (see SystemdManager._placement).

Rootless (as runc's --systemd-cgroup without root): the unit is asked of the caller's own systemd
instance (user@UID.service) over the user's bus (DBUS_SESSION_BUS_ADDRESS, else
$XDG_RUNTIME_DIR/bus), so its cgroup is below that manager's (Delegate=yes makes it the user's):
/user.slice/user-UID.slice/user@UID.service/user.slice/runc-ID.scope. Only the controllers
systemd delegated to user@.service (memory, pids, cpu by default) can hold limits; no device
properties (a user manager has no device control, and a user namespace makes no device nodes).

The unit cannot start before the init exists (a scope needs a pid), so create() only checks the
host and apply() only keeps the resources: the unit is started by add(pid) when the init reaches
SETUP, before any of its code runs in the container. A manager reopened from state.json (exec,
update, delete) has its unit already: add() is a cgroupfs write, as in runc.

D-Bus goes through jeepney (pure Python, ~10 ms to import), imported only here, and this module
only under --systemd-cgroup. jeepney's own blocking connection waits for the bus's Hello reply
without a time limit, so _Bus drives jeepney's message layer over a socket of its own, with a
deadline on every wait.
"""

from __future__ import annotations

import errno
import os
import time

from pyrunc.cgroups._fs import CGROUP_ROOT, CgroupError
from pyrunc.cgroups.v2 import V2Manager

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
DEFAULT_SLICE = "system.slice"
DEFAULT_USER_SLICE = "user.slice"  # runc's default slice for a rootless container
DEFAULT_PREFIX = "runc"  # runc's unit name for an empty cgroupsPath: runc-<id>.scope
JOB_TIMEOUT = 30.0  # runc waits as long for a unit's job
CALL_TIMEOUT = 10.0
INFINITY = 2**64 - 1  # systemd's USEC_INFINITY / CGROUP_LIMIT_MAX
UNIT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@")


def systemd_running() -> bool:
    """sd_booted(3): systemd is PID 1 when /run/systemd/system is a directory."""
    return os.path.isdir("/run/systemd/system")


def expand_slice(slice_name: str, where: str = "linux.cgroupsPath") -> str:
    """ "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice" (systemd nests slices by dashes)."""
    stem = slice_name[: -len(".slice")] if slice_name.endswith(".slice") else ""
    if not stem or "/" in slice_name:
        raise CgroupError(f"{where}: {slice_name!r} is not a slice name (NAME.slice, no slashes)")
    if stem == "-":
        return "/"
    path, prefix = "", ""
    for part in stem.split("-"):
        if not part:
            raise CgroupError(f"{where}: {slice_name!r} is not a slice name (empty part between dashes)")
        path += f"/{prefix}{part}.slice"
        prefix += part + "-"
    return path


def check_child_slice(name: str, parent: str, where: str) -> None:
    """A slice's place in the tree comes from its name alone (systemd nests by dashes), whatever
    unit asks for it: runc computes the container's cgroup as parent's path + "/" + name, which is
    where systemd puts it only when name is a child of parent by dashes. Otherwise the cgroup
    would be elsewhere than every later command looks for it: refused."""
    expanded = expand_slice(name, where)
    wanted = expand_slice(parent, where).rstrip("/") + "/" + name
    if expanded != wanted:
        raise CgroupError(
            f"{where}: slice {name!r} is not a child of {parent!r} (the parent's name, a dash and one "
            f"more part): systemd would make its cgroup {expanded}, not {wanted}"
        )


def parse_cgroups_path(
    cgroups_path: str | None, container_id: str, default_slice: str = DEFAULT_SLICE
) -> tuple[str, str, str]:
    """runc's "slice:prefix:name" -> (slice, unit, name): the unit is "prefix-name.scope" in that
    slice, or the slice "name" itself when name ends in ".slice"."""
    where = "linux.cgroupsPath"
    text = cgroups_path or f":{DEFAULT_PREFIX}:{container_id}"
    parts = text.split(":")
    if len(parts) != 3:
        raise CgroupError(f'{where}: expected "slice:prefix:name" for systemd cgroups, got {text!r}')
    slice_name, prefix, name = parts
    slice_name = slice_name or default_slice
    expand_slice(slice_name, where)
    if not name:
        raise CgroupError(f'{where}: "slice:prefix:name" with an empty name: {text!r}')
    if name.endswith(".slice"):
        # runc's rule: the container's unit is then that slice itself (the prefix is unused).
        check_child_slice(name, slice_name, where)
        unit = name
    else:
        unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    bad = sorted(set(unit) - UNIT_CHARS)
    if bad or len(unit) > 255:
        raise CgroupError(f"{where}: {unit!r} is not a valid systemd unit name")
    return slice_name, unit, name


class SystemdManager(V2Manager):
    """The container's scope (or slice) unit; its cgroup is handled as the cgroupfs v2 driver does."""

    def __init__(
        self, unit: str, slice_name: str, path: str, mount: str = CGROUP_ROOT, user_manager: str = ""
    ) -> None:
        super().__init__(path, mount)
        self.unit = unit
        self.slice = slice_name
        # Rootless: the user manager's own cgroup (delegated to the user), else "" (the system's).
        self.user_manager = user_manager
        self.pending: dict | None = None  # resources to apply once the unit runs (see add)
        self.starting = False  # True from create() until add() has started the unit
        self.requested = False  # StartTransientUnit was sent: the unit may exist from then on
        self.annotated: list = []  # properties from org.systemd.property.* annotations
        self.description = f"libcontainer container {unit}"
        # Ours to kill and stop: reopened from state.json, or once create() found no unit of that
        # name (a create refused because the unit exists must not stop someone else's).
        self.owned = True

    @classmethod
    def for_config(
        cls,
        cgroups_path: str | None,
        container_id: str,
        mount: str = CGROUP_ROOT,
        annotations: dict | None = None,
        user: bool = False,
    ) -> SystemdManager:
        """`user`: rootless, the unit is the caller's own systemd instance's (see the module's doc)."""
        default_slice = DEFAULT_USER_SLICE if user else DEFAULT_SLICE
        slice_name, unit, name = parse_cgroups_path(cgroups_path, container_id, default_slice)
        base = mount
        user_manager = ""
        if user:
            with _Bus("find the user manager's cgroup", user=True) as bus:
                user_manager = os.path.join(mount, bus.manager_cgroup().lstrip("/"))
            base = user_manager
        path = os.path.join(base, expand_slice(slice_name).lstrip("/"), unit)
        manager = cls(unit, slice_name, path, mount, user_manager)
        manager.owned = False
        manager.description = f"libcontainer container {name}"  # runc's
        manager.annotated = annotation_properties(annotations or {})
        return manager

    @classmethod
    def from_state(cls, d: dict) -> SystemdManager:
        return cls(d["unit"], d["slice"], d["path"], d.get("mount", CGROUP_ROOT), d.get("userManager") or "")

    def to_state(self) -> dict:
        state = {
            "version": 2,
            "driver": "systemd",
            "unit": self.unit,
            "slice": self.slice,
            "path": self.dir,
            "mount": self.mount,
        }
        if self.user_manager:
            state["userManager"] = self.user_manager
        return state

    def _bus(self, purpose: str) -> _Bus:
        return _Bus(purpose, user=bool(self.user_manager))

    # ------------------------------------------------------------ lifecycle

    def create(self) -> None:
        if not systemd_running():
            raise CgroupError(
                "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)"
            )
        if not os.path.exists(os.path.join(self.mount, "cgroup.controllers")):
            raise CgroupError("--systemd-cgroup: only a cgroup v2 (unified) host is supported")
        if os.path.isdir(self.dir):
            raise CgroupError(f"systemd unit {self.unit} already exists (cgroup {self.dir})")
        self.owned = self.starting = True
        self.pending = {}

    def apply(self, resources: dict, *, default_devices: bool = True, where: str = "linux.resources") -> None:
        if not self.starting:
            super().apply(resources, default_devices=default_devices, where=where)
            return
        unit_properties(resources, where, default_devices=self._devices(default_devices))  # refused now
        self.pending = {"resources": resources, "default_devices": default_devices, "where": where}

    def open_for_clone(self) -> int:
        return -1  # the scope, and so its cgroup, is made by systemd once the init's pid exists

    def add(self, pid: int) -> None:
        if not self.starting:
            self._join(pid)  # exec: join the running unit's cgroup
            return
        pending = self.pending or {}
        resources = pending.get("resources") or {}
        where = pending.get("where", "linux.resources")
        default_devices = pending.get("default_devices", True)
        properties = [
            ("Description", ("s", self.description)),
            *self._placement(pid),
            ("MemoryAccounting", ("b", True)),
            ("CPUAccounting", ("b", True)),
            ("IOAccounting", ("b", True)),
            ("TasksAccounting", ("b", True)),
            ("DefaultDependencies", ("b", False)),
            *unit_properties(resources, where, default_devices=self._devices(default_devices)),
            *self.annotated,  # last: the user's word wins, as in runc
        ]
        with self._bus(f"start unit {self.unit}") as bus:
            self.requested = True
            bus.start_transient_unit(self.unit, properties)
        self.starting = False
        self.pending = None
        # systemd enables only the controllers the unit's settings need: enable the rest down to
        # the scope, as runc does, so that every resource can be written below.
        from pyrunc.cgroups._fs import retry_if_a_parent_vanishes

        retry_if_a_parent_vanishes(lambda: self._make_path([]), self.dir)
        if self.is_slice:
            super().add(pid)  # systemd puts no pid in a slice (see _placement)
        super().apply(resources, default_devices=default_devices, where=where)

    def _join(self, pid: int) -> None:
        """A cgroup v2 move needs write access to the common ancestor's cgroup.procs: a user's
        exec from outside its manager (a login session's scope, a system service) is refused
        it, and then asks the manager to move the process (AttachProcessesToUnit, as runc)."""
        if not self.user_manager:
            super().add(pid)
            return
        from pyrunc.cgroups._fs import write_pid

        try:
            write_pid(self._file("cgroup.procs"), pid)
            return
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM):
                raise CgroupError(f"cannot add pid {pid} to cgroup {self.dir}: {e.strerror}") from None
        with self._bus(f"attach pid {pid} to unit {self.unit}") as bus:
            bus.attach_processes(self.unit, [pid])

    def _devices(self, default_devices: bool) -> bool | None:
        """Device properties only for the system's manager: a user manager has no device control."""
        return None if self.user_manager else default_devices

    def _make_path(self, made: list[str]) -> None:
        # Rootless: only the user manager's cgroup and below are ours; the controllers systemd
        # delegated to it are enabled from there down.
        self._make_path_below(self.user_manager or self.mount, made)

    @property
    def is_slice(self) -> bool:
        return self.unit.endswith(".slice")

    def _placement(self, pid: int) -> list:
        """A scope is put in its slice with the init's pid, and delegated. A container in a slice
        unit of its own (cgroupsPath's name ends in ".slice") is, as in runc, a slice that Wants=
        its parent and is not delegated (systemd refuses Delegate for slices); runc also passes
        PIDs, which systemd refuses for a slice ("Cannot set property PIDs"), so the init is put
        in the slice's cgroup through cgroupfs once the slice is up."""
        if self.is_slice:
            return [("Wants", ("as", [self.slice]))]
        return [("Slice", ("s", self.slice)), ("Delegate", ("b", True)), ("PIDs", ("au", [pid]))]

    def kill_all(self, signal: int) -> None:
        if self.owned:
            super().kill_all(signal)

    def destroy(self) -> None:
        if not self.owned:
            return
        if self.starting and not self.requested:
            self.starting = False  # a create that failed before asking systemd for the unit
        else:
            self.starting = False
            with self._bus(f"stop unit {self.unit}") as bus:
                bus.stop_unit(self.unit)
        super().destroy()  # whatever systemd left (sub-cgroups the container made)

    def remove_made(self) -> None:
        """Undo a failed create: the unit is this create's own exactly when it is owned (create()
        found no unit of that name), so stopping it is undoing only what it made."""
        self.destroy()

    def update(self, resources: dict, *, where: str = "resources") -> None:
        properties = unit_properties(resources, where)
        if properties:
            with self._bus(f"update unit {self.unit}") as bus:
                bus.set_unit_properties(self.unit, properties)
        super().update(resources, where=where)


# ---------------------------------------------------------------- resources as unit properties


def unit_properties(
    resources: dict, where: str, *, default_devices: bool | None = None
) -> list[tuple[str, tuple[str, object]]]:
    """The linux.resources that systemd knows as unit properties (runc's choice), from values
    checked before (config/: the schema and semantic.check_resources). Device rules only when
    `default_devices` is given (create: runc's default devices are added when True); update
    leaves them alone."""
    from pyrunc.cgroups import resources as res
    from pyrunc.cgroups.resources import common, values

    top = values.top_level(resources, where)
    props: list[tuple[str, tuple[str, object]]] = []
    if default_devices is not None:
        state = common.device_state(top, where, default_devices)
        if state is not None:
            props += device_properties(state)
    memory = values.section(top.get("memory"), f"{where}.memory", values.MEMORY_FIELDS)
    limit = values.limit(memory, "limit")
    swap = values.limit(memory, "swap")
    reservation = values.limit(memory, "reservation")
    if limit:
        props.append(("MemoryMax", ("t", _max(limit))))
    if reservation:
        props.append(("MemoryLow", ("t", _max(reservation))))
    if swap is not None and limit is not None:
        try:
            swap_only = res.convert_swap(swap, limit)
        except CgroupError as e:
            raise CgroupError(f"{where}.memory.swap: {e}") from None
        if swap_only is not None:
            props.append(("MemorySwapMax", ("t", _max(swap_only))))
    cpu_section = top.get("cpu")
    if cpu_section:
        cpu = values.cpu_common(cpu_section, f"{where}.cpu")
        if cpu["shares"]:
            props.append(("CPUWeight", ("t", res.convert_shares_to_weight(cpu["shares"]))))
        props += _cpu_quota(cpu["quota"] or 0, cpu["period"] or 0)
        for field, name in (("cpus", "AllowedCPUs"), ("mems", "AllowedMemoryNodes")):
            text = cpu_section.get(field)
            if text:
                props.append((name, ("ay", _bitmask(values.parse_id_list(text, f"{where}.cpu.{field}")))))
    pids = values.section(top.get("pids"), f"{where}.pids", {"limit"})
    tasks = values.limit(pids, "limit")
    if tasks:
        props.append(("TasksMax", ("t", _max(tasks))))
    blkio = values.section(top.get("blockIO"), f"{where}.blockIO", values.BLOCKIO_FIELDS)
    # 0 is "not set", as for the cgroupfs driver: dockerd sends blockIO.weight 0 with every container.
    weight = blkio.get("weight") or None
    if weight:
        props.append(("IOWeight", ("t", res.convert_blkio_weight(weight))))
    props += _unified_properties(top.get("unified"), f"{where}.unified")
    return props


def device_properties(state) -> list:
    """DevicePolicy and DeviceAllow for the devices cgroup state the rules make (devices.emulate).
    systemd has no deny list: a state that allows by default is DevicePolicy=auto with no entries,
    as in runc, and pyrunc's own BPF program in the scope enforces the rules either way. An
    allow list is DevicePolicy=strict with one entry per rule: /dev/char/M:m for one device,
    char-NAME (NAME from /proc/devices) for a whole major, char-* for all; a device or major the
    host does not know is left out (systemd could not resolve it either)."""
    from pyrunc.cgroups.devices import WILDCARD, access_text

    if state.default_allow:
        return [("DevicePolicy", ("s", "auto")), ("DeviceAllow", ("a(ss)", []))]
    kinds = {"c": "char", "b": "block"}
    groups = None
    allow = []
    for (dtype, major, minor), bits in sorted(state.exceptions.items()):
        kind = kinds.get(dtype)
        if kind is None or not bits:
            continue
        if major == WILDCARD:
            name = f"{kind}-*"
        elif minor == WILDCARD:
            groups = _device_groups() if groups is None else groups
            if (kind, major) not in groups:
                continue
            name = f"{kind}-{groups[kind, major]}"
        else:
            if not os.path.exists(f"/sys/dev/{kind}/{major}:{minor}"):
                continue
            name = f"/dev/{kind}/{major}:{minor}"
        allow.append((name, access_text(bits)))
    return [("DevicePolicy", ("s", "strict")), ("DeviceAllow", ("a(ss)", allow))]


def _device_groups() -> dict[tuple[str, int], str]:
    """/proc/devices: (char|block, major) -> the first driver name (systemd's char-NAME groups)."""
    groups: dict[tuple[str, int], str] = {}
    kind = None
    try:
        with open("/proc/devices") as f:
            lines = f.read().splitlines()
    except OSError:
        return groups
    for line in lines:
        if line.startswith("Character devices"):
            kind = "char"
        elif line.startswith("Block devices"):
            kind = "block"
        else:
            number, _, name = line.strip().partition(" ")
            if kind and number.isdigit() and name and not name.startswith("/"):
                groups.setdefault((kind, int(number)), name)
    return groups


def _max(value: int) -> int:
    return INFINITY if value == -1 else value


def _cpu_quota(quota: int, period: int) -> list:
    """CPUQuotaPerSecUSec (and CPUQuotaPeriodUSec) from cpu.max's quota and period. systemd keeps
    a quota in whole percents of a CPU: round up to 10 ms per second, so that the exact value
    written to cpu.max afterwards is not above the unit's."""
    props: list = []
    if period:
        props.append(("CPUQuotaPeriodUSec", ("t", period)))
    if quota or period:
        per_sec = INFINITY
        if quota > 0:
            per_sec = quota * 1_000_000 // (period or 100_000)
            if per_sec % 10_000:
                per_sec = (per_sec // 10_000 + 1) * 10_000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    return props


def _bitmask(ids: set[int]) -> bytes:
    """A CPU/node set as systemd's AllowedCPUs wants it: bit N of byte N//8 is id N."""
    mask = bytearray(max(ids) // 8 + 1 if ids else 0)
    for i in ids:
        mask[i // 8] |= 1 << (i % 8)
    return bytes(mask)


_UNIFIED_MEMORY = {
    "memory.high": "MemoryHigh",
    "memory.low": "MemoryLow",
    "memory.min": "MemoryMin",
    "memory.max": "MemoryMax",
    "memory.swap.max": "MemorySwapMax",
}


def _unified_properties(unified, where: str) -> list:
    """The linux.resources.unified files systemd has properties for (as runc converts them); the
    others only go to cgroupfs."""
    if not isinstance(unified, dict):
        return []  # absent; a bad value is reported by the cgroupfs driver's checks
    props: list = []
    for key, raw in unified.items():
        value = raw.strip() if isinstance(raw, str) else raw
        try:
            if key in _UNIFIED_MEMORY or key == "pids.max":
                name = _UNIFIED_MEMORY.get(key, "TasksMax")
                props.append((name, ("t", INFINITY if value == "max" else int(value))))
            elif key == "cpu.weight":
                props.append(("CPUWeight", ("t", int(value))))
            elif key == "cpu.max":
                fields = value.split()
                quota = 0 if fields[0] == "max" else int(fields[0])
                props += _cpu_quota(quota, int(fields[1]) if len(fields) > 1 else 100_000)
            elif key in ("cpuset.cpus", "cpuset.mems"):
                from pyrunc.cgroups.resources import parse_id_list

                name = "AllowedCPUs" if key == "cpuset.cpus" else "AllowedMemoryNodes"
                props.append((name, ("ay", _bitmask(parse_id_list(value, f"{where}.{key}")))))
        except (ValueError, IndexError, AttributeError):
            raise CgroupError(f"{where}.{key}: {raw!r} is not a value systemd can take for it") from None
    return props


# ---------------------------------------------------------------- annotations

ANNOTATION_PREFIX = "org.systemd.property."
_NUMBER_TYPES = {
    "byte": "y",
    "int16": "n",
    "uint16": "q",
    "int32": "i",
    "uint32": "u",
    "int64": "x",
    "uint64": "t",
    "double": "d",
}
_RANGES = {
    "y": (0, 2**8 - 1),
    "n": (-(2**15), 2**15 - 1),
    "q": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1),
    "u": (0, 2**32 - 1),
    "x": (-(2**63), 2**63 - 1),
    "t": (0, 2**64 - 1),
}


def annotation_properties(annotations: dict) -> list:
    """org.systemd.property.NAME annotations as unit properties, as runc passes them: the value in
    GVariant text form ("uint64 123", "'text'", "true", "[1, 2]"), and a NAME ending in a lowercase
    letter + "Sec" becomes NAMEUSec with the number converted from seconds."""
    props = []
    for key in sorted(annotations):
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        where = f"annotations[{key!r}]"
        name = key[len(ANNOTATION_PREFIX) :]
        if len(name) < 3 or not name.isascii() or not name.isalpha():
            raise CgroupError(f"{where}: {name!r} is not a systemd property name (3 or more latin letters)")
        value = annotations[key]
        if not isinstance(value, str):
            raise CgroupError(f"{where}: must be a string")
        try:
            signature, parsed = parse_gvariant(value)
        except ValueError as e:
            raise CgroupError(f"{where}: {value!r} is not a GVariant value this runtime reads: {e}") from None
        if name.endswith("Sec") and name[-4].islower():
            if signature not in "ynqiuxtd" or (signature != "d" and parsed < 0):  # type: ignore[operator]  # a number
                raise CgroupError(f"{where}: {name} takes a number of seconds, got {value!r}")
            name, signature, parsed = name[:-3] + "USec", "t", int(parsed * 1_000_000)  # type: ignore[operator]
        props.append((name, (signature, parsed)))
    return props


def parse_gvariant(text: str) -> tuple[str, object]:
    """The GVariant text forms of basic values and arrays of them -> (D-Bus signature, value).
    An untyped integer is an int32 and a number with a point a double, as in GVariant."""
    parser = _GVariantText(text)
    result = parser.value()
    parser.skip()
    if parser.pos != len(text):
        raise ValueError(f"unexpected {text[parser.pos :]!r}")
    return result


class _GVariantText:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word(self) -> str:
        self.skip()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "+-._@"):
            self.pos += 1
        return self.text[start : self.pos]

    def value(self, want: str | None = None) -> tuple[str, object]:
        self.skip()
        if self.pos >= len(self.text):
            raise ValueError("a value is missing")
        c = self.text[self.pos]
        if c == "[":
            return self.array(want)
        if c in "'\"":
            return "s", self.string()
        if c == "@":
            self.pos += 1
            signature = self.word()
            return self.value(signature)
        word = self.word()
        if word in _NUMBER_TYPES:
            return self.number(self.word(), _NUMBER_TYPES[word])
        if word in ("true", "false"):
            return "b", word == "true"
        if word == "objectpath":
            self.skip()
            return "o", self.string()
        if not word or word[0].isalpha():
            raise ValueError(f"unexpected {word or self.text[self.pos :]!r}")
        return self.number(word, want or ("d" if any(ch in word for ch in ".eE") else "i"))

    @staticmethod
    def number(word: str, signature: str) -> tuple[str, object]:
        if not word:
            raise ValueError("a number is missing")
        if signature == "d":
            return "d", float(word)
        if signature not in _RANGES:
            raise ValueError(f"type {signature!r} is not a number type")
        value = int(word, 0)
        low, high = _RANGES[signature]
        if not low <= value <= high:
            raise ValueError(f"{word} is out of range for type {signature!r}")
        return signature, value

    def string(self) -> str:
        quote = self.text[self.pos]
        if quote not in "'\"":
            raise ValueError("a quoted string is expected")
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == quote:
                return "".join(out)
            if c == "\\" and self.pos < len(self.text):
                c = self.text[self.pos]
                self.pos += 1
                c = {"n": "\n", "t": "\t"}.get(c, c)
            out.append(c)
        raise ValueError("a string is not closed")

    def array(self, want: str | None) -> tuple[str, object]:
        self.pos += 1  # [
        element = want[1:] if want and want.startswith("a") else None
        items = []
        self.skip()
        while self.pos < len(self.text) and self.text[self.pos] != "]":
            signature, item = self.value(element)
            if element is not None and signature != element:
                raise ValueError("array items of different types")
            element = signature
            items.append(item)
            self.skip()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
                self.skip()
        if self.pos >= len(self.text):
            raise ValueError("an array is not closed")
        self.pos += 1  # ]
        if element is None:
            raise ValueError("the type of an empty array must be given (@as [])")
        return "a" + element, items


# ---------------------------------------------------------------- D-Bus


def user_bus_address() -> str:
    """The caller's own bus, where its systemd instance is, as runc (and sd-bus) find it:
    DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus (logind's /run/user/UID when unset)."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return f"unix:path={runtime_dir}/bus"


class _Bus:
    """One connection to the system bus (or, with `user`, the caller's own bus) for a few calls to
    systemd's manager, every wait bounded."""

    def __init__(self, purpose: str, timeout: float = CALL_TIMEOUT, user: bool = False) -> None:
        try:
            from jeepney import DBusAddress
            from jeepney.bus import get_bus
            from jeepney.bus_messages import message_bus
            from jeepney.io.blocking import prep_socket
            from jeepney.low_level import Parser
        except ImportError:
            raise CgroupError(
                f"systemd: cannot {purpose}: the jeepney package (D-Bus) is not installed"
            ) from None

        self.timeout = timeout
        self.manager = DBusAddress(MANAGER_PATH, bus_name=SYSTEMD, interface=MANAGER)
        self.parser = Parser()
        self.serial = 0
        self.signals: list = []  # signals received while waiting for a reply
        address = "?"
        which = "the user's bus" if user else "the system bus"
        try:
            address = get_bus(user_bus_address() if user else "SYSTEM")
            # connect and authenticate, bounded
            self.sock = _connect_as_peer(address, timeout) if user else prep_socket(address, timeout=timeout)
        except (OSError, ValueError, RuntimeError, TimeoutError) as e:
            raise CgroupError(f"systemd: cannot reach {which} ({address}) to {purpose}: {e}") from None
        try:
            self.call(message_bus.Hello())
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> _Bus:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def _receive(self, deadline: float):
        while True:
            message = self.parser.get_next_message()
            if message is not None:
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the bus closed the connection")
            self.parser.add_data(data)

    def call(self, message, what: str = "D-Bus call", timeout: float | None = None) -> tuple:
        """Send a method call and return its reply's body; an error reply raises DBusErrorResponse."""
        from jeepney import HeaderFields, MessageType
        from jeepney.wrappers import unwrap_msg

        self.serial += 1
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            self.sock.settimeout(timeout or self.timeout)
            self.sock.sendall(message.serialise(serial=self.serial))
            while True:
                reply = self._receive(deadline)
                if reply.header.fields.get(HeaderFields.reply_serial) == self.serial:
                    return unwrap_msg(reply)
                if reply.header.message_type == MessageType.signal:
                    self.signals.append(reply)
        except TimeoutError:
            raise CgroupError(f"systemd: no answer to {what} within {timeout or self.timeout:g}s") from None
        except OSError as e:
            raise CgroupError(f"systemd: {what}: {e}") from None

    def _manager_call(self, method: str, signature: str, body: tuple, what: str) -> tuple:
        from jeepney import new_method_call

        return self.call(new_method_call(self.manager, method, signature, body), what)

    def _watch_jobs(self) -> None:
        """JobRemoved comes only to subscribed clients that match it: both, before the job starts."""
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus

        rule = MatchRule(
            type="signal", sender=SYSTEMD, interface=MANAGER, member="JobRemoved", path=MANAGER_PATH
        )
        self.call(message_bus.AddMatch(rule), "AddMatch")
        self._manager_call("Subscribe", "", (), "Subscribe")

    def _job_result(self, job: str, unit: str, timeout: float = JOB_TIMEOUT) -> str:
        """Wait for job's JobRemoved signal and return its result ("done" when it worked)."""
        from jeepney import HeaderFields

        deadline = time.monotonic() + timeout
        while True:
            for i, signal in enumerate(self.signals):
                if signal.header.fields.get(HeaderFields.member) == "JobRemoved" and signal.body[1] == job:
                    del self.signals[i]
                    return signal.body[3]
            self.signals.clear()
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise CgroupError(f"systemd: unit {unit}'s job did not finish within {timeout:g}s") from None
            except OSError as e:
                raise CgroupError(f"systemd: waiting for unit {unit}'s job: {e}") from None
            self.signals.append(message)

    def start_transient_unit(self, unit: str, properties: list) -> None:
        from jeepney.wrappers import DBusErrorResponse

        self._watch_jobs()
        for attempt in (1, 2):
            try:
                (job,) = self._manager_call(
                    "StartTransientUnit",
                    "ssa(sv)a(sa(sv))",
                    (unit, "replace", properties, []),
                    f"StartTransientUnit {unit}",
                )
                break
            except DBusErrorResponse as e:
                if e.name == "org.freedesktop.systemd1.UnitExists" and attempt == 1:
                    # Perhaps a failed unit left by an earlier container of that name: reset it
                    # (systemd then unloads it) and try once more, as runc does.
                    self.reset_failed_unit(unit)
                    continue
                raise CgroupError(f"systemd: cannot start unit {unit}: {_dbus_error(e)}") from None
        result = self._job_result(job, unit)
        if result != "done":
            self.reset_failed_unit(unit)
            raise CgroupError(f"systemd: starting unit {unit} ended with {result!r}")

    def attach_processes(self, unit: str, pids: list[int]) -> None:
        from jeepney.wrappers import DBusErrorResponse

        try:
            what = f"AttachProcessesToUnit {unit}"
            self._manager_call("AttachProcessesToUnit", "ssau", (unit, "", pids), what)
        except DBusErrorResponse as e:
            raise CgroupError(f"systemd: cannot attach {pids} to unit {unit}: {_dbus_error(e)}") from None

    def manager_cgroup(self) -> str:
        """The manager's own cgroup ("/" for PID 1; /user.slice/user-UID.slice/user@UID.service
        for a user's instance): its units' cgroups are below it."""
        from jeepney.wrappers import DBusErrorResponse, Properties

        try:
            ((_, value),) = self.call(Properties(self.manager).get("ControlGroup"), "Get ControlGroup")
        except DBusErrorResponse as e:
            raise CgroupError(f"systemd: cannot read the manager's ControlGroup: {_dbus_error(e)}") from None
        return value

    def stop_unit(self, unit: str) -> None:
        """Stop the unit and wait for it; a unit that is gone already is fine. A failed unit is
        reset so that systemd forgets it."""
        from jeepney.wrappers import DBusErrorResponse

        self._watch_jobs()
        try:
            (job,) = self._manager_call("StopUnit", "ss", (unit, "replace"), f"StopUnit {unit}")
        except DBusErrorResponse as e:
            if e.name != "org.freedesktop.systemd1.NoSuchUnit":
                raise CgroupError(f"systemd: cannot stop unit {unit}: {_dbus_error(e)}") from None
        else:
            self._job_result(job, unit)
        self.reset_failed_unit(unit)

    def reset_failed_unit(self, unit: str) -> None:
        from jeepney.wrappers import DBusErrorResponse

        try:
            self._manager_call("ResetFailedUnit", "s", (unit,), f"ResetFailedUnit {unit}")
        except DBusErrorResponse as e:
            if e.name not in (
                "org.freedesktop.systemd1.NoSuchUnit",
                "org.freedesktop.systemd1.UnitNotLoaded",
            ):
                raise CgroupError(f"systemd: cannot reset unit {unit}: {_dbus_error(e)}") from None

    def set_unit_properties(self, unit: str, properties: list) -> None:
        from jeepney.wrappers import DBusErrorResponse

        try:
            self._manager_call(
                "SetUnitProperties", "sba(sv)", (unit, True, properties), f"SetUnitProperties {unit}"
            )
        except DBusErrorResponse as e:
            raise CgroupError(f"systemd: cannot set properties of unit {unit}: {_dbus_error(e)}") from None


def _connect_as_peer(path: str, timeout: float):
    """Connect to a bus and authenticate with EXTERNAL without naming a uid, as sd-bus does: the
    bus takes the socket's peer credentials. jeepney names our euid, which root in a user
    namespace (rootless podman's runtime) has as 0, and the bus (seeing the host uid) refuses."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    deadline = time.monotonic() + timeout
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(b"\0AUTH EXTERNAL\r\nDATA\r\n")
        reply = b""
        while b"OK " not in reply:
            if b"REJECTED" in reply or b"ERROR" in reply:
                raise ConnectionError(f"the bus refused EXTERNAL authentication: {reply!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no authentication within {timeout:g}s")
            sock.settimeout(left)
            data = sock.recv(1024)
            if not data:
                raise ConnectionError("the bus closed the connection while authenticating")
            reply += data
        sock.sendall(b"BEGIN\r\n")
    except BaseException:
        sock.close()
        raise
    return sock


def _dbus_error(e) -> str:
    text = " ".join(str(x) for x in (e.data or ()))
    return f"{text} ({e.name})" if text else str(e.name)
