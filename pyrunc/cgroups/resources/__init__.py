"""linux.resources -> a validated list of cgroupfs operations -> written with rollback.

Every value is checked and every target file located *before* the first write
(bad input never leaves a half-configured cgroup). If the kernel still rejects
a write, the operations already done are undone in reverse order, as far as
the kernel allows, and the error names the field and the file.

v1 values are mapped to v2 files as runc and crun do (cpu.shares -> cpu.weight,
blkio weight -> io.bfq.weight or io.weight, memory+swap -> memory.swap.max);
fields that only exist on one version are refused clearly on the other
(crun's choice: `unified` on v1; swappiness, kernel memory, disableOOMKiller,
realtime CPU, leafWeight and network on v2).

The package's modules: values (field checks), transaction (the operations and their rollback),
common (what both versions share), v1 and v2 (the mapping per version).
"""

from pyrunc.cgroups._fs import read_keyed, read_text
from pyrunc.cgroups.resources import common as _common
from pyrunc.cgroups.resources import values as _values
from pyrunc.cgroups.resources.transaction import commit
from pyrunc.cgroups.resources.v1 import apply_v1
from pyrunc.cgroups.resources.v2 import (
    apply_v2,
    convert_blkio_weight,
    convert_shares_to_weight,
    convert_swap,
)
from pyrunc.cgroups.resources.values import parse_id_list

# cgroups/systemd.py maps the same values to unit properties with these checks (it predates
# the split; the names stay until it imports them from .values and .common).
BLOCKIO_FIELDS = _values.BLOCKIO_FIELDS
MEMORY_FIELDS = _values.MEMORY_FIELDS
_check_top = _values.top_level
_cpu_common = _values.cpu_common
_device_state = _common.device_state
_limit = _values.limit
_object = _values.checked_object
_unsigned = _values.unsigned


def read_setting(path: str) -> str:
    """A cgroup file's value (tests and `events` use it)."""
    return read_text(path).strip()


__all__ = [
    "apply_v1",
    "apply_v2",
    "commit",
    "convert_blkio_weight",
    "convert_shares_to_weight",
    "convert_swap",
    "parse_id_list",
    "read_keyed",
    "read_setting",
]
