"""The user's bus, as rootless --systemd-cgroup reaches it (issues 12 and 13), on any host: a real
dbus-daemon of an ordinary user, and pyrunc's connection to it from root of a user namespace that
user made (what rootless podman's runtime is). Not marked `systemd`: no systemd is needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from tests.support import REPO

NOBODY = "65534"
AS_NOBODY = ["setpriv", "--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"]
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path={path}</listen><auth>EXTERNAL</auth>
<!-- the policy of dbus's own session.conf -->
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>
<allow own="*"/></policy></busconfig>
"""
PROBE = """
import os
from pyrunc.cgroups.systemd import _Bus
print(os.geteuid())
with _Bus("probe", user=True) as bus:
    print("connected")
"""


@pytest.fixture
def users_bus():
    """A session bus daemon run by nobody; its address."""
    if os.geteuid() != 0 or not shutil.which("dbus-daemon") or not shutil.which("setpriv"):
        pytest.skip("needs root, dbus-daemon (apt-get install dbus) and setpriv")
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        path = os.path.join(d, "bus")
        with open(os.path.join(d, "bus.conf"), "w") as f:
            f.write(CONFIG.format(path=path))
        daemon = subprocess.Popen(
            [*AS_NOBODY, "dbus-daemon", "--nofork", f"--config-file={d}/bus.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(path):
                assert daemon.poll() is None, "dbus-daemon exited"
                assert time.monotonic() < deadline, f"no {path} within 30s"
                time.sleep(0.05)
            yield f"unix:path={path}"
        finally:
            daemon.kill()
            daemon.wait(timeout=30)


def test_root_of_the_users_own_user_namespace_reaches_the_users_bus(users_bus: str) -> None:
    # jeepney's own EXTERNAL names euid 0 here, which the bus (seeing nobody) rejects.
    argv = [*AS_NOBODY, "unshare", "--map-root-user"]
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": users_bus}
    out = subprocess.run(
        [*argv, sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    if out.returncode != 0 and "unshare failed" in out.stderr:
        pytest.skip(f"no unprivileged user namespaces here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "connected"]
