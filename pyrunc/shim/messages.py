"""The shim's protobuf message classes, one namespace per .proto file of pyrunc/shim/proto.

Both come from the build (setup.py generate_protos): the generated `*_pb2` modules, and the same files
as one descriptor set (`messages.desc`). The shim loads the descriptor set straight into protobuf's
upb core when that core is there: the `*_pb2` modules go through protobuf's Python descriptor pool
and builder, whose imports (typing, re, text_format, python_message...) cost every shim about 30 ms of
CPU more at start. `google._upb._message` is protobuf's own, not public: where it is missing or
refuses, the `*_pb2` modules are used, with the same messages (tests/unit compare the two).
"""

from __future__ import annotations

import os

DESCRIPTOR_SET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proto", "messages.desc")
FILES = (
    "ttrpc",
    "types",
    "task_types",
    "shim",
    "events",
    "events_service",
    "cgroups_v1",
    "cgroups_v2",
    "runc_options",
    "runtime_options",
)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Namespace:
    """Message classes (and enums, as classes of ints) of one .proto file, by their names."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


def _file_descriptors(data: bytes) -> list[bytes]:
    """The FileDescriptorProtos of a FileDescriptorSet (field 1, repeated), split by hand."""
    from pyrunc.shim.wire import decode

    fields = decode(data)
    if set(fields) - {1}:
        raise ValueError(f"{DESCRIPTOR_SET}: unexpected fields {sorted(set(fields) - {1})}")
    return fields.get(1, [])


def from_upb() -> dict[str, Namespace]:
    from google._upb import _message
    from google.protobuf import message

    with open(DESCRIPTOR_SET, "rb") as f:
        data = f.read()
    pool = _message.DescriptorPool()
    for serialized in _file_descriptors(data):
        pool.AddSerializedFile(serialized)
    spaces = {}
    for name in FILES:
        space = spaces[name] = Namespace(name)
        descriptor = pool.FindFileByName(f"pyrunc/shim/proto/{name}.proto")
        for message_name, message_type in descriptor.message_types_by_name.items():
            cls = _message.MessageMeta(
                message_name, (message.Message,), {"DESCRIPTOR": message_type, "__module__": __name__}
            )
            setattr(space, message_name, cls)
        for enum_name, enum_type in descriptor.enum_types_by_name.items():
            setattr(space, enum_name, type(enum_name, (), {v.name: v.number for v in enum_type.values}))
    return spaces


def from_modules() -> dict[str, Namespace]:
    import importlib

    spaces = {}
    for name in FILES:
        module = importlib.import_module(f"pyrunc.shim.proto.{name}_pb2")
        space = spaces[name] = Namespace(name)
        for message_name in module.DESCRIPTOR.message_types_by_name:
            setattr(space, message_name, getattr(module, message_name))
        for enum_name, enum_type in module.DESCRIPTOR.enum_types_by_name.items():
            setattr(space, enum_name, type(enum_name, (), {v.name: v.number for v in enum_type.values}))
    return spaces


def load() -> dict[str, Namespace]:
    if os.environ.get("PYRUNC_SHIM_PB2") != "1":  # 1: the *_pb2 modules (tests compare both)
        try:
            return from_upb()
        except (ImportError, AttributeError, TypeError, ValueError, OSError):
            pass
    return from_modules()


_spaces = load()
ttrpc = _spaces["ttrpc"]
types = _spaces["types"]
task_types = _spaces["task_types"]
shim = _spaces["shim"]
events = _spaces["events"]
events_service = _spaces["events_service"]
cgroups_v1 = _spaces["cgroups_v1"]
cgroups_v2 = _spaces["cgroups_v2"]
runc_options = _spaces["runc_options"]
runtime_options = _spaces["runtime_options"]
