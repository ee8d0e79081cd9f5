"""pyrunc's own shim under the systemd cgroup driver, in the systemd guest (issue 14): Create's runtime
options carry SystemdCgroup (containerd.runc.v1.Options from `ctr run --runc-systemd-cgroup`, as a
CRI runtime entry of runc's type with `runtime_path` naming this shim and `SystemdCgroup = true`
sends them; `ctr` only sends them to a runtime named io.containerd.runc.v2, so containerd finds
this shim under that name on its PATH). The container's cgroup is a systemd scope in the slice the
cgroupsPath names, Stats answers from it (cgroup v2 Metrics), and nothing is left once it is deleted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.shim.test_options import RuncNamedShimContainerd
from tests.systemd import test_daemons
from tests.systemd.test_daemons import RUNTIME, ctr_scope, private_dir

# test_daemons' fixtures, shared as they are.
image_tar = test_daemons.image_tar
token = test_daemons.token

pytestmark = pytest.mark.systemd


def test_shim_with_systemd_cgroup_makes_a_scope_and_reports_its_stats(image_tar: Path, token: str) -> None:
    daemon = RuncNamedShimContainerd(private_dir("shim-"), RUNTIME, token)
    cid = f"s-{token}"
    daemon.task_ids.add(cid)
    with ctr_scope(daemon, image_tar, token, cid, "--memory-limit", str(64 << 20)) as (pid, _cgroup):
        # The init's parent is this shim (a Python process, not the Go shim), which ran no runtime.
        assert daemon.runtime_calls() == []
        shim = int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
        assert os.path.basename(os.path.realpath(f"/proc/{shim}/exe")).startswith("python"), shim

        metrics = json.loads(daemon.ctr("task", "metrics", "--format", "json", cid).stdout)
        assert metrics["pids"]["current"] == 1, metrics
        assert metrics["memory"]["usage_limit"] == 64 << 20, metrics
        assert metrics["memory"]["usage"] > 0, metrics
