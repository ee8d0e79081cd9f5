"""Fixtures of the reliability suite (issue 9): a rig (temporary --root + a `sleep` bundle), the
figures every test reports (tries, kills, problems), and a leak check around every test.

Figures are printed at the end of the run and, when RELIABILITY_FIGURES names a file, written
there as JSON (tests/reliability/soak reads it for its summary).
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tests.conftest import PYRUNC, base_config
from tests.reliability import harness
from tests.reliability import machine as m

SLEEP_ARGS = ["sleep", "3600"]

_FIGURES: dict[str, dict] = {}


class Figures:
    """Counters of one category, e.g. figures("kill create (every step)").add(tries=1)."""

    def __call__(self, category: str) -> Figures:
        self.current = _FIGURES.setdefault(category, {"tries": 0, "problems": 0})
        return self

    def add(self, **counts: float) -> None:
        for name, value in counts.items():
            self.current[name] = self.current.get(name, 0) + value

    def set(self, **values: object) -> None:
        self.current.update(values)

    def problems(self, problems: list[str]) -> None:
        self.add(problems=len(problems))


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for category in sorted(_FIGURES):
        values = dict(_FIGURES[category])
        values.pop("known", None)  # figures files of runs before the bugs were fixed
        text = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        terminalreporter.write_line(f"{category}: {text}")
    out = os.environ.get("RELIABILITY_FIGURES")
    if out:
        with open(out, "w") as f:
            json.dump(_FIGURES, f, indent=2, sort_keys=True)


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@pytest.fixture(scope="package", autouse=True)
def reaper():
    """Only while this directory's tests run: the suites after it reap their own children."""
    thread = harness.Reaper()
    thread.start()
    yield thread
    thread.stopping.set()
    thread.join(5)


@pytest.fixture(scope="session")
def sleep_bundle(tmp_path_factory, rootfs_template) -> str:
    """A bundle whose process is `sleep 3600`, shared by the tests that never change it."""
    path = str(tmp_path_factory.mktemp("rel-bundle"))
    shutil.copytree(rootfs_template, os.path.join(path, "rootfs"), symlinks=True)
    write_config(path, sleep_config())
    return path


def sleep_config() -> dict:
    config = base_config()
    config["process"]["args"] = list(SLEEP_ARGS)
    return config


def write_config(bundle: str, config: object) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


@pytest.fixture
def rig(tmp_path, sleep_bundle):
    root = str(tmp_path / "root")
    rig = harness.Rig(PYRUNC, root, sleep_bundle)
    yield rig
    for cid in os.listdir(root) if os.path.isdir(root) else []:
        if not cid.startswith("#"):
            harness.run(rig.cmd("delete", "--force", cid), timeout=60)
    harness.reap_orphans()


@pytest.fixture(autouse=True)
def leak_check(tmp_path):
    """No process, cgroup (ours all start with harness.SESSION), mount or state directory may
    outlive a test. A leak fails the test and is then removed."""
    ours = harness.SESSION + "-"
    cgroups_before = m.cgroup_dirs(lambda d: d.startswith(ours))
    yield
    harness.reap_orphans()
    problems = []
    leaked = m.live_descendants(os.getpid())
    if leaked:
        time.sleep(0.2)  # a killed command's setup child exits on EOF a moment later
        harness.reap_orphans()
        leaked = m.live_descendants(os.getpid())
    if leaked:
        problems.append(f"processes left: {[(p, m.cmdline(p)) for p in leaked]}")
    cgroups = m.cgroup_dirs(lambda d: d.startswith(ours)) - cgroups_before
    if cgroups:
        problems.append(f"cgroups left: {sorted(cgroups)}")
    for name in {os.path.basename(c) for c in cgroups}:
        harness.scrub_container(name)
    for pid in leaked:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    mounts = m.mount_points_under([str(tmp_path)])
    if mounts:
        problems.append(f"mounts left: {sorted(mounts)}")
    root = tmp_path / "root"
    if root.is_dir():
        dirs = [p.name for p in root.iterdir() if not p.name.startswith("#")]
        if dirs:
            problems.append(f"state directories left: {dirs}")
    harness.reap_orphans()
    if problems:
        pytest.fail("leak: " + "; ".join(problems))
