"""The runtime options of a Create (CreateTaskRequest.options), as containerd sends them.

- `containerd.runc.v1.Options`: a runc-type runtime's options -- a CRI runtime entry with
  `runtime_type = "io.containerd.runc.v2"`, `runtime_path` naming this shim and an `options` table
  (SystemdCgroup, Root...), or ctr's --runc-* flags.
- `runtimeoptions.v1.Options`: what CRI sends any other runtime type (our io.containerd.pyrunc.v1)
  from its `options` table, and `ctr run --runtime-config-path`: a path to a TOML file, which this
  shim reads with runc's option names (`SystemdCgroup = true`, as in a runc runtime's table).

What applies to pyrunc is honoured: SystemdCgroup (--systemd-cgroup), Root (the state root, as
runc's --root; the shim's own default otherwise), NoPivotRoot (--no-pivot), NoNewKeyring (pyrunc
never makes a session keyring: nothing to do), IoUid/IoGid (owner of the process's stdio fifos and
pipes), CriuPath, CriuWorkPath (checkpoint and restore). BinaryName selects runc's binary in runc's
shim: here the shim is the runtime, so it is ignored with a log line. ShimCgroup and CriuImagePath
are refused (InvalidArgument naming the field).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pyrunc.shim import ttrpc

TYPE_RUNC = "containerd.runc.v1.Options"
TYPE_RUNTIME = "runtimeoptions.v1.Options"
OPTIONS_FILE = "pyrunc-shim-options.json"  # in the bundle: what `delete` (main.py) needs to know
REFUSED = {
    "shim_cgroup": "the shim's own cgroup is not supported by this shim",
    "criu_image_path": "a default checkpoint image path is not supported by this shim",
}


class RuncOptions:
    """The options that apply, with runc's defaults."""

    def __init__(self) -> None:
        self.systemd_cgroup = False
        self.root = ""
        self.no_pivot_root = False
        self.no_new_keyring = False
        self.io_uid = 0
        self.io_gid = 0
        self.criu_path = ""
        self.criu_work_path = ""

    def criu(self) -> str:
        return self.criu_path or "criu"


def _bad(message: str) -> ttrpc.RpcError:
    return ttrpc.RpcError(ttrpc.INVALID_ARGUMENT, message)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _from_toml(path: str):
    """A runc Options message from a TOML file of runc's option names (SystemdCgroup...)."""
    import tomllib

    from pyrunc.shim.messages import runc_options

    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as err:
        raise _bad(f"options.config_path {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise _bad(f"options.config_path {path}: {err}") from None
    message = runc_options.Options()
    fields = {}
    for field in message.DESCRIPTOR.fields:
        fields[field.name] = fields[_camel(field.name)] = field
    for key, value in table.items():
        field = fields.get(key)
        if field is None:
            raise _bad(f"options.config_path {path}: {key}: not a runc option")
        expected = {field.TYPE_BOOL: bool, field.TYPE_STRING: str, field.TYPE_UINT32: int}[field.type]
        if type(value) is not expected or (isinstance(value, int) and not 0 <= value < 1 << 32):
            raise _bad(f"options.config_path {path}: {key}: {value!r} is not of type {expected.__name__}")
        setattr(message, field.name, value)
    return message


def parse(options, log: Callable[..., None]) -> RuncOptions:
    """CreateTaskRequest.options (a google.protobuf.Any, maybe empty) -> what applies to pyrunc;
    a ttrpc.RpcError (InvalidArgument, naming the field) for what cannot apply."""
    result = RuncOptions()
    type_name = options.type_url.rpartition("/")[2]
    if not type_name:
        return result
    if type_name == TYPE_RUNTIME:
        from pyrunc.shim.messages import runtime_options

        outer = runtime_options.Options.FromString(options.value)
        if not outer.config_path:
            return result
        message = _from_toml(outer.config_path)
    elif type_name == TYPE_RUNC:
        from pyrunc.shim.messages import runc_options

        message = runc_options.Options.FromString(options.value)
    else:
        raise _bad(f"options: type {options.type_url} is not {TYPE_RUNC} or {TYPE_RUNTIME}")
    for name, why in REFUSED.items():
        if getattr(message, name):
            raise _bad(f"options.{name} {getattr(message, name)!r}: {why}")
    if message.binary_name and os.path.basename(message.binary_name) != "pyrunc":
        log(f"options.binary_name {message.binary_name!r} ignored: this shim runs pyrunc in-process")
    if message.no_new_keyring:
        log("options.no_new_keyring: pyrunc never creates a session keyring", debug=True)
    if message.root and not os.path.isabs(message.root):
        raise _bad(f"options.root {message.root!r}: must be an absolute path")
    for name in ("criu_path", "criu_work_path"):
        if getattr(message, name) and not os.path.isabs(getattr(message, name)):
            raise _bad(f"options.{name} {getattr(message, name)!r}: must be an absolute path")
    for name in vars(result):
        setattr(result, name, getattr(message, name))
    return result


def store_root(root: str, namespace: str) -> str:
    """The state directory of a namespace's containers under a runtime root."""
    return os.path.join(root, namespace)


def record(bundle: str, opts: RuncOptions) -> None:
    """Keep the state root in the bundle for containerd's `delete` after the shim is gone."""
    if not opts.root:
        return
    # pyrunc's jsonio, not json: a zygote's child that imports json (its modules, their regexes)
    # makes ~0.7 MiB of its own for it (bench/shims' memory).
    from pyrunc import jsonio

    with open(os.path.join(bundle, OPTIONS_FILE), "w") as f:
        f.write(jsonio.dumps({"root": opts.root}))


def recorded_root(bundle: str) -> str | None:
    from pyrunc import jsonio

    try:
        with open(os.path.join(bundle, OPTIONS_FILE), "rb") as f:
            root = jsonio.loads(f.read()).get("root")
    except (OSError, ValueError, AttributeError):
        return None
    return root if isinstance(root, str) and root else None
