"""Self-tests of the suite's pure logic, no containers:

/usr/bin/python3 -m unittest discover -s conformance/tests
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ocisuite import cli, config, probes, registry, report, sysutil
from ocisuite.ctx import Report, errno_of

RUNC = {"a": "pass", "b": "pass", "c": "fail", "d": "skip"}
CRUN = {"a": "pass", "b": "pass", "c": "pass", "d": "skip"}


def write_results(directory: str, name: str, cases: dict[str, str]) -> str:
    os.makedirs(directory, exist_ok=True)
    doc = {
        "runtime_name": name,
        "cases": {case: {"status": status, "reason": f"why {case}"} for case, status in cases.items()},
    }
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump(doc, f)
    return directory


class CompareTests(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        base = self.tmp.name
        self.runc = write_results(f"{base}/runc", "runc 1.1.5", {"a/x": "pass", "a/y": "fail", "b/z": "skip"})
        self.crun = write_results(f"{base}/crun", "crun 1.8.1", {"a/x": "pass", "a/y": "pass", "b/z": "skip"})

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_table_marks_disagreement_and_totals(self) -> None:
        table = report.compare_table([report.ResultSet(self.runc), report.ResultSet(self.crun)])
        lines = table.splitlines()
        self.assertIn("runc 1.1.5", lines[0])
        self.assertIn("crun 1.8.1", lines[0])
        row_y = next(line for line in lines if "a/y" in line)
        row_x = next(line for line in lines if "a/x" in line)
        self.assertTrue(row_y.startswith("* "), row_y)
        self.assertTrue(row_x.startswith("  "), row_x)
        self.assertEqual(row_y.split()[-2:], ["FAIL", "pass"])
        totals = {line.split()[1]: line.split()[2:] for line in lines if line.strip().startswith("total")}
        self.assertEqual(totals, {"pass": ["1", "2"], "fail": ["1", "0"], "skip": ["1", "1"]})

    def test_diff_only(self) -> None:
        sets = [report.ResultSet(self.runc), report.ResultSet(self.crun)]
        table = report.compare_table(sets, only_diff=True)
        self.assertIn("a/y", table)
        self.assertNotIn("a/x", table)

    def test_same_runtime_twice_gets_distinct_headers(self) -> None:
        other = write_results(f"{self.tmp.name}/runc-again", "runc 1.1.5", {"a/x": "pass"})
        headers = report._unique_headers([report.ResultSet(self.runc), report.ResultSet(other)])
        self.assertEqual(len(set(headers)), 2)

    def test_missing_results_is_a_clear_error(self) -> None:
        with self.assertRaises(ValueError) as err:
            report.ResultSet(f"{self.tmp.name}/nowhere")
        self.assertIn("results.json", str(err.exception))


class CiGateTests(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        base = self.tmp.name
        self.runc = write_results(f"{base}/runc", "runc", RUNC)
        self.crun = write_results(f"{base}/crun", "crun", CRUN)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_gate(self, pyrunc_cases: dict[str, str], with_crun: bool = True) -> tuple[int, str]:
        pyrunc = write_results(f"{self.tmp.name}/pyrunc", "pyrunc", pyrunc_cases)
        args = [pyrunc, self.runc] + ([self.crun] if with_crun else [])
        out = io.StringIO()
        with redirect_stdout(out):
            rc = cli.main_ci_check(args)
        return rc, out.getvalue()

    def test_passes_when_every_runc_pass_is_a_pyrunc_pass(self) -> None:
        rc, out = self.run_gate({"a": "pass", "b": "pass", "c": "fail", "d": "skip"})
        self.assertEqual(rc, 0, out)
        self.assertIn("warning: c: crun pass", out)

    def test_fails_on_a_failed_or_skipped_or_missing_case(self) -> None:
        rc, out = self.run_gate({"a": "fail", "d": "pass"})
        self.assertEqual(rc, 1)
        self.assertIn("a: runc pass, pyrunc FAIL", out)
        self.assertIn("b: runc pass, pyrunc -: not run", out)

    def test_skip_counts_as_not_passing(self) -> None:
        rc, out = self.run_gate({"a": "skip", "b": "pass"}, with_crun=False)
        self.assertEqual(rc, 1)
        self.assertIn("a: runc pass, pyrunc skip", out)


class ParsingTests(unittest.TestCase):
    def test_mountinfo_line(self) -> None:
        line = (
            "105 60 254:0 /tmp/b\\040x/rootfs / ro,relatime shared:3 master:7 - ext4 /dev/vda rw,discard\n"
            "106 105 0:52 / /proc rw,relatime - proc proc rw\n"
        )
        entries = sysutil.parse_mountinfo(line)
        self.assertEqual(entries[0].root, "/tmp/b x/rootfs")
        self.assertEqual(entries[0].mountpoint, "/")
        self.assertIn("ro", entries[0].opts)
        self.assertEqual(entries[0].propagation(), "shared+slave")
        self.assertEqual(entries[1].propagation(), "private")
        self.assertEqual(entries[1].fstype, "proc")
        self.assertEqual(entries[0].super_opts, {"rw", "discard"})

    def test_report_keeps_repeated_keys_in_order(self) -> None:
        r = Report("env=A=1\nenv=B=2\nuid=0\nnot a pair\n")
        self.assertEqual(r.all("env"), ["A=1", "B=2"])
        self.assertEqual(r.get("uid"), "0")
        self.assertIsNone(r.get("gid"))

    def test_errno_names(self) -> None:
        self.assertEqual(errno_of("err:30"), "EROFS")
        self.assertEqual(errno_of("ok"), "ok")
        self.assertEqual(errno_of(None), "missing")

    def test_cap_masks_round_trip(self) -> None:
        caps = {"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"}
        self.assertEqual(probes.cap_names(probes.cap_mask(caps)), caps)
        self.assertEqual(probes.cap_names(0x1), {"CAP_CHOWN"})


class ConfigAndRegistryTests(unittest.TestCase):
    def test_base_config_is_a_fresh_copy(self) -> None:
        a = config.base_config(["x"])
        a["process"]["env"].append("MUTATED=1")
        self.assertNotIn("MUTATED=1", config.base_config()["process"]["env"])
        self.assertEqual(a["process"]["args"], ["x"])

    def test_set_namespace_replaces_same_type(self) -> None:
        cfg = config.base_config()
        config.set_namespace(cfg, "network", "/proc/1/ns/net")
        nets = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] == "network"]
        self.assertEqual(nets, [{"type": "network", "path": "/proc/1/ns/net"}])

    def test_every_case_has_a_section_and_known_needs(self) -> None:
        cases = registry.load_all()
        self.assertGreater(len(cases), 80)
        names = [c.name for c in cases]
        self.assertEqual(len(names), len(set(names)))
        for c in cases:
            self.assertIn(c.section, registry.SECTION_ORDER, c.name)
            for need in c.needs:
                self.assertIn(need, probes.REQUIREMENTS, c.name)

    def test_select_by_section_and_glob(self) -> None:
        cases = registry.load_all()
        self.assertTrue(all(c.section == "hooks" for c in registry.select(cases, ["hooks/"])))
        picked = registry.select(cases, ["process/capabilities-*"])
        self.assertIn("process/capabilities-ambient", {c.name for c in picked})
        self.assertTrue(all(c.name.startswith("process/capabilities-") for c in picked))
        self.assertEqual(registry.select(cases, []), cases)


if __name__ == "__main__":
    unittest.main()
