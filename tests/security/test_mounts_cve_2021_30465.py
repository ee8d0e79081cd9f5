"""CVE-2021-30465 and CVE-2024-45310: a mount destination in a hostile rootfs is a symlink, or is
swapped for one by a racing process while the runtime resolves it, so that the runtime mounts (or
creates an empty file or directory) outside the rootfs, on the host.

pyrunc resolves every destination with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), creates
what is missing through the fds that resolution gave, and mounts onto /proc/self/fd/N of the final
fd. Here a racer (attack swap, renameat2(RENAME_EXCHANGE) in a tight loop on the host) keeps
exchanging a directory on the destination's path with a symlink out of the rootfs while the
container is created again and again. Whatever wins a given round, nothing may appear on the host
and every mount the container got must be inside it (a mount outside its root would be missing
from the container's own mountinfo). The static symlink cases are in tests/environment/test_mounts.py.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from tests.mountinfo import MountEntry
from tests.security.helpers import host_mount_points

TRIES = 15

# Where the swapped-in symlink points: the container's / (host's / if followed on the host), up
# and out of the rootfs, a magic link to the runtime's own root, and an absolute host directory.
TARGETS = {
    "root": "/",
    "dotdot": "../../../../../../../../..",
    "proc-self-root": "/proc/self/root",
    "host-dir": None,  # the host directory made for the test
}


@pytest.fixture
def escape_name():
    """A name that must never appear on the host; its directory under /tmp is the host target."""
    name = f"pyrunc-race-{uuid.uuid4().hex[:10]}"
    host_dir = f"/tmp/{name}"
    os.mkdir(host_dir)
    yield name
    for path in (f"/{name}", f"{host_dir}/{name}"):
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", path], capture_output=True)
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)
    os.rmdir(host_dir)


@pytest.fixture
def racer(attacker):
    """racer(a, b): exchange two paths until the test ends."""
    procs = []

    def start(a: str, b: str) -> None:
        procs.append(subprocess.Popen([attacker, "swap", a, b], stdout=subprocess.DEVNULL))

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def host_traces(name: str) -> list[str]:
    """Anything named `name` the runtime could have made or mounted on the host."""
    found = [p for p in (f"/{name}", f"/tmp/{name}/{name}") if os.path.lexists(p)]
    found += [p for p in host_mount_points() if name in p]
    return found


@pytest.mark.parametrize("kind", ["dir", "file"])
@pytest.mark.parametrize("target", TARGETS)
def test_destination_swapped_for_a_symlink_never_leaves_the_rootfs(
    runtime, make_bundle, cid, escape_name, racer, tmp_path, kind, target
):
    bundle = make_bundle(args=["cat", "/proc/self/mountinfo"])
    race = os.path.join(bundle.rootfs, "race")
    os.makedirs(os.path.join(race, "dir"))
    os.symlink(TARGETS[target] or f"/tmp/{escape_name}", os.path.join(race, "link"))
    destination = f"/race/dir/{escape_name}"
    if kind == "dir":
        mount = {
            "destination": destination,
            "type": "tmpfs",
            "source": f"src-{escape_name}",
            "options": ["size=1m"],
        }
    else:
        payload = tmp_path / f"payload-{escape_name}"
        payload.write_text("payload\n")
        mount = {"destination": destination, "type": "bind", "source": str(payload), "options": ["bind"]}
    bundle.config["mounts"].append(mount)
    bundle.write()
    racer(os.path.join(race, "dir"), os.path.join(race, "link"))
    outcomes = set()
    # At least TRIES attempts, and more (up to 4x) until the swaps have shown in the outcomes: on a
    # loaded 2-core machine the racer can lose every one of 15 attempts the same way.
    for attempt in range(4 * TRIES):
        if attempt >= TRIES and len(outcomes) > 1:
            break
        result = runtime(
            "run", "--bundle", bundle.path, f"{cid}-{attempt}", check=False, stdin=subprocess.DEVNULL
        )
        assert host_traces(escape_name) == [], f"attempt {attempt}: {result.stderr}"
        assert os.listdir(f"/tmp/{escape_name}") == []
        if result.returncode == 0:
            mounts = [MountEntry(line) for line in result.stdout.splitlines()]
            ours = [m for m in mounts if m.point.endswith(f"/{escape_name}")]
            assert len(ours) == 1, f"attempt {attempt}: the mount is not inside the container: {mounts}"
            assert ours[0].source == mount["source"] or ours[0].root.endswith(mount["source"]), ours
            outcomes.add(f"mounted at {ours[0].point.replace(escape_name, 'NAME')}")
        else:
            assert result.stderr.count("\n") == 1 and "level=error" in result.stderr, result.stderr
            outcomes.add("refused")
    # The race did happen: the swaps changed where (or whether) the destination resolved.
    assert len(outcomes) > 1, f"every attempt ended the same way: {outcomes}"
