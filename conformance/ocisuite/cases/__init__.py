"""Importing this package registers every case, section by section, in the order they run."""

from . import (  # noqa: F401
    cgroups,
    compat,
    devices,
    filesystems,
    hooks,
    kernel,
    lifecycle,
    namespaces,
    negative,
    process,
    spec13,
    state,
)
