"""The harness end to end with synthetic cases (no runtime needed; root for the subreaper and cgroups):

/usr/bin/python3 -m unittest discover -s conformance/tests
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ocisuite import harness, probes, sysutil
from ocisuite.registry import Case


def passes(t) -> None:
    t.check(os.path.isdir(t.root), "no --root dir")
    t.check(os.path.isabs(t.root), "--root is not absolute")


def fails(t) -> None:
    t.eq(1, 2, "one")


def crashes(t) -> None:
    raise RuntimeError("boom")


def hangs(t) -> None:
    time.sleep(60)


def leaves_a_mount_and_an_orphan(t) -> None:
    point = t.path("mnt")
    os.makedirs(point)
    sysutil.mount("tmpfs", point, "tmpfs", 0, "size=1m")
    if os.fork() == 0:  # an orphan the harness must kill and reap
        os.setsid()
        time.sleep(60)
        os._exit(0)


@unittest.skipUnless(os.geteuid() == 0, "needs root (subreaper, mounts)")
class HarnessTests(unittest.TestCase):
    def test_statuses_tap_results_and_cleanup(self) -> None:
        probes.REQUIREMENTS["never"] = (lambda h: False, "this host never has it")
        self.addCleanup(probes.REQUIREMENTS.pop, "never")
        cases = [
            Case("t/passes", passes, (), 10, ""),
            Case("t/fails", fails, (), 10, ""),
            Case("t/skips", passes, ("never",), 10, ""),
            Case("t/crashes", crashes, (), 10, ""),
            Case("t/hangs", hangs, (), 1, ""),
            Case("t/leaves", leaves_a_mount_and_an_orphan, (), 10, ""),
        ]
        with tempfile.TemporaryDirectory() as out:
            buf = io.StringIO()
            with redirect_stdout(buf):
                rc = harness.run_suite("/bin/true", out, cases)
            tap = buf.getvalue().splitlines()
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
            with open(os.path.join(out, "tap.txt")) as f:
                self.assertEqual(f.read().splitlines(), tap)
        self.assertEqual(rc, 1)
        self.assertEqual(tap[0], "1..6")
        self.assertIn("ok 1 - t/passes", tap)
        self.assertIn("not ok 2 - t/fails", tap)
        self.assertIn("#   one: got 1, want 2", tap)
        self.assertIn("ok 3 - t/skips # SKIP this host never has it", tap)
        self.assertIn("not ok 4 - t/crashes", tap)
        self.assertIn("not ok 5 - t/hangs", tap)
        self.assertIn("ok 6 - t/leaves", tap)
        self.assertEqual(tap[-1], "2 passed, 3 failed, 1 skipped")
        cases_out = results["cases"]
        self.assertEqual(cases_out["t/hangs"]["reason"], "timed out after 1s")
        self.assertIn("RuntimeError: boom", cases_out["t/crashes"]["reason"])
        self.assertEqual(results["totals"], {"pass": 2, "fail": 3, "skip": 1})
        self.assertTrue(any("leftover process" in n for n in cases_out["t/leaves"].get("cleanup", [])))
        mine = f"/ocisuite-{os.getpid()}-"
        self.assertFalse([m for m in sysutil.read_mountinfo() if mine in m.mountpoint])
        self.assertFalse([p for p in sysutil.children_of(os.getpid()) if sysutil.alive(p)])


if __name__ == "__main__":
    unittest.main()
