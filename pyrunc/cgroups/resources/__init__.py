"""linux.resources -> a list of cgroupfs operations -> written with rollback.

The values come checked (config/: the schema and semantic.check_resources, by `create` and
`update` alike): this package maps them only. What it still refuses, before the first write, is
what the target cgroup cannot take: a CPU or node the parent does not offer, a block device the
host lacks, a controller or file missing, a field of the other cgroup version, a limit below the
current usage (checkBeforeUpdate). If the kernel still rejects a write, the operations already done
are undone in reverse order, as far as the kernel allows, and the error names the field and file.

v1 values are mapped to v2 files as runc and crun do (cpu.shares -> cpu.weight,
blkio weight -> io.bfq.weight or io.weight, memory+swap -> memory.swap.max);
fields that only exist on one version are refused clearly on the other
(crun's choice: `unified` on v1; swappiness, kernel memory, disableOOMKiller,
realtime CPU, leafWeight and network on v2).

The package's modules: values (reading the sections; the CPUs, nodes and block devices the host
offers), transaction (the operations and their rollback), common (what both versions share:
pids, hugetlb, rdma, cpuset, devices), v1 and v2 (the mapping per version).
"""

from pyrunc.cgroups._fs import read_keyed, read_text
from pyrunc.cgroups.resources.transaction import commit
from pyrunc.cgroups.resources.v1 import apply_v1
from pyrunc.cgroups.resources.v2 import (
    apply_v2,
    convert_blkio_weight,
    convert_shares_to_weight,
    convert_swap,
)
from pyrunc.cgroups.resources.values import parse_id_list


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
