"""`update`: change a live container's resources, from runc's flags and/or `--resources FILE|-`
(a LinuxResources JSON document, which is what dockerd sends on stdin)."""

from __future__ import annotations

import os
import sys

from pyrunc.config import ConfigError
from pyrunc.container.base import load
from pyrunc.errors import PyruncError, errno_text
from pyrunc.store import Store


def read_resources(source: str) -> dict:
    from pyrunc import jsonio

    try:
        raw = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()  # noqa: SIM115
    except OSError as err:
        raise PyruncError(f"--resources {source}: {errno_text(err)}") from None
    try:
        doc = jsonio.loads(raw)
    except ValueError as err:
        raise ConfigError("", f"not valid JSON: {err}", "resources") from None
    if not isinstance(doc, dict):
        raise ConfigError("", "must be a JSON object (LinuxResources)", "resources")
    from pyrunc.config.validate import validate_resources

    validate_resources(doc)
    return doc


def merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for section, fields in overlay.items():
        if isinstance(fields, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **fields}
        else:
            out[section] = fields
    return out


def update(store: Store, container_id: str, resources_source: str | None, flags: dict) -> None:
    from pyrunc.cgroups import update_flags_to_resources

    lock = store.lock(container_id)
    try:
        container = load(store, container_id, locked=True)
        if container.status in ("stopped", "creating"):
            raise PyruncError("container not running")
        resources = read_resources(resources_source) if resources_source else {}
        from_flags, intel_rdt = update_flags_to_resources(flags)
        if intel_rdt:
            raise PyruncError("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported on this host")
        if from_flags:
            from pyrunc.config.validate import validate_resources

            resources = merge(resources, from_flags)
            validate_resources(resources)  # the flags' values, with the document's they join
        cgroup = container.cgroup()
        if cgroup is None:
            raise PyruncError(f"container {container_id} has no cgroup to update")
        cgroup.update(resources)
    finally:
        os.close(lock)
