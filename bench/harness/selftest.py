"""bench/selftest: pytest-free check of the harness.

1. Pure logic: statistics, smaps_rollup parsing, ratios and the table on a made-up document.
2. End to end: `bench/run --quick --runtimes runc`, then the results file must hold every
   measurement with sane numbers, the table must render it, and nothing may be left behind
   (containers, cgroups, work directory, child processes).
3. The same for `bench/shims --quick` with the runc handler and the pyrunc shim: the harness is under
   test here, and that the shim's figures can be taken at all (tests/daemons/test_cri_handlers.py
   tests the handlers' behaviour).
"""

import json
import math
import os
import subprocess
import sys
import tempfile

from . import measure, procs, report
from .memory import parse_smaps_rollup
from .stats import summarize

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
STAT_KEYS = ("median", "min", "mean", "stddev", "runs")


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, condition: bool, what: str) -> None:
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"selftest: FAIL: {what}", file=sys.stderr)


SMAPS_SAMPLE = """55d0c0a00000-7ffd2b1fe000 ---p 00000000 00:00 0                          [rollup]
Rss:                9948 kB
Pss:                8930 kB
Pss_Dirty:          1836 kB
Private_Clean:      6992 kB
Private_Dirty:      1836 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
"""


def check_pure_logic(c: Checks) -> None:
    s = summarize([3.0, 1.0, 2.0, 10.0])
    c.check(s["median"] == 2.5 and s["min"] == 1.0 and s["mean"] == 4.0 and s["runs"] == 4, f"summarize: {s}")
    c.check(math.isclose(s["stddev"], math.sqrt(((1**2) + 3**2 + 2**2 + 6**2) / 3)), f"sample stddev: {s}")
    c.check(summarize([5.0])["stddev"] == 0.0, "stddev of one sample is 0")
    m = parse_smaps_rollup(SMAPS_SAMPLE)
    c.check(m == {"rss": 9948 * 1024, "pss": 8930 * 1024, "uss": (6992 + 1836) * 1024}, f"smaps_rollup: {m}")
    results = {"pyrunc": {"median": 0.014, "min": 0.012}, "runc": {"median": 0.02, "min": 0.019}}
    c.check(math.isclose(report.ratio(results, "pyrunc", "runc"), 0.7), "ratio pyrunc/runc")
    c.check(report.ratio(results, "pyrunc", "crun") is None, "ratio with a missing runtime is None")
    c.check(report.target_cell("run", results).endswith("met"), "0.70 meets a 0.7 target")
    results["pyrunc"]["median"] = 0.0141
    c.check(report.target_cell("run", results).endswith("MISSED"), "0.705 misses a 0.7 target")
    doc = {
        "runtimes": {"pyrunc": {}, "runc": {}},
        "measurements": {"run": {"title": "run", "unit": "s", "results": results}},
    }
    table = report.render(doc)
    c.check("| run " in table and "14.1 (12.0)" in table and "0.70x" in table, f"rendered table:\n{table}")
    check_floor_in_rotation(c)


def check_floor_in_rotation(c: Checks) -> None:
    state = {
        "pyrunc": {"median": 0.0101, "min": 0.009},
        "runc": {"median": 0.004, "min": 0.0035},
        "floor": {"median": 0.0092, "min": 0.008},
    }
    c.check(math.isclose(report.above_floor(state, "pyrunc"), 0.0009), "pyrunc above the floor")
    c.check(report.above_floor(state, "crun") is None, "above the floor without the runtime is None")
    c.check(report.floor_target_cell("state", state).endswith(": met"), "floor + 0.9 ms meets floor + 1 ms")
    state["pyrunc"]["median"] = 0.0103
    c.check(report.floor_target_cell("state", state).endswith("MISSED"), "floor + 1.1 ms misses it")
    c.check(report.floor_target_cell("version", state) == "", "--version has no floor target")
    doc = {
        "runtimes": {"pyrunc": {}, "runc": {}},
        "measurements": {"state": {"title": "state (running)", "unit": "s", "results": state}},
    }
    table = report.render(doc)
    row = [line for line in table.splitlines() if line.startswith("| state (running)") and "+1.1" in line]
    c.check(len(row) == 1 and "-5.2" in row[0] and "9.2 (8.0)" in row[0], f"floor rows:\n{table}")
    main_rows = [line for line in table.splitlines() if line.startswith("| state (running)")]
    c.check(not any("9.2 (8.0)" in line for line in main_rows if "+1.1" not in line), "no floor column")
    check_floor_by_round(c)


def check_floor_by_round(c: Checks) -> None:
    """Two rounds of 2 runs: a fast one (floor 10, pyrunc 10.5 ms) and a slow one (13, 13.5): by
    round, pyrunc is at the floor + 0.5 whatever the pooled medians (given as 12.0 and 11.5)."""
    ms = 1e-3
    results = {
        "pyrunc": {"median": 12.0 * ms, "times": [10.4 * ms, 10.6 * ms, 13.4 * ms, 13.6 * ms]},
        "floor": {"median": 11.5 * ms, "times": [9.9 * ms, 10.1 * ms, 12.9 * ms, 13.1 * ms]},
    }
    paired = report.paired_above_floor(results, "pyrunc", 2)
    c.check(paired is not None and math.isclose(paired, 0.5 * ms), f"by round: {paired}")
    c.check(report.paired_above_floor(results, "pyrunc", 0) is None, "by round without a block size")
    no_times = {"pyrunc": {"median": 1}, "floor": {"median": 1}}
    c.check(report.paired_above_floor(no_times, "pyrunc", 4) is None, "by round without times")


def run_quick(out: str) -> subprocess.CompletedProcess:
    # the harness is a subreaper and must leave no child behind: we are one too, to catch leaks
    return subprocess.run([os.path.join(HERE, "run"), "--quick", "--runtimes", "runc", "--out", out])


def check_results(c: Checks, doc: dict) -> None:
    for key in ("kernel", "cpus", "cgroup_layout", "loadavg_start", "loadavg_end"):
        c.check(key in doc.get("machine", {}), f"machine.{key} recorded")
    c.check(bool(doc.get("date")) and doc.get("mode") == "quick", "date and mode recorded")
    c.check(
        "runc version" in doc.get("runtimes", {}).get("runc", {}).get("version", ""), "runc version recorded"
    )
    measurements = doc.get("measurements", {})
    for m in measure.MEASUREMENTS:
        entry = measurements.get(m.name)
        c.check(entry is not None, f"measurement {m.name} present")
        if entry is None:
            continue
        keys = ["python -S", "python -I -S"] if m.kind == "floor" else ["runc"]
        for key in keys:
            result = entry["results"].get(key, {})
            c.check("error" not in result, f"{m.name}/{key} without error: {result.get('error')}")
            c.check(
                all(isinstance(result.get(k), int | float) for k in STAT_KEYS),
                f"{m.name}/{key} has {STAT_KEYS}",
            )
            if "median" in result:
                c.check(
                    0 < result["min"] <= result["median"] <= result.get("max", math.inf),
                    f"{m.name}/{key} order",
                )
    for name in measure.FLOOR_IN:
        floor = measurements.get(name, {}).get("results", {}).get(measure.FLOOR_KEY, {})
        c.check("median" in floor, f"{name}: the floor timed in its rotation ({floor.get('error')})")
    runs = measurements.get("create", {}).get("results", {}).get("runc", {}).get("runs")
    settings = doc.get("settings", {})
    c.check(
        runs == settings.get("rounds", 0) * settings.get("runs", 0), f"create: rounds x runs samples ({runs})"
    )
    runs = measurements.get("state", {}).get("results", {}).get("runc", {}).get("runs")
    expected = settings.get("verb_rounds", 0) * settings.get("verb_runs", 0)
    c.check(runs == expected, f"state: verb_rounds x verb_runs samples ({runs})")
    containers = measurements.get("memory_uss", {}).get("results", {}).get("runc", {}).get("runs")
    c.check(
        containers == settings.get("memory_containers"), f"memory: one sample per container ({containers})"
    )


def check_nothing_left(c: Checks, doc: dict) -> None:
    settings = doc.get("settings", {})
    workdir, parent = settings.get("workdir"), settings.get("cgroup_parent")
    c.check(bool(workdir) and not os.path.exists(workdir), f"work directory {workdir} removed")
    with open("/proc/self/mountinfo") as f:
        mounted = [line.split()[4] for line in f if workdir and line.split()[4].startswith(workdir)]
    c.check(settings.get("roots_fs") == "tmpfs", f"the roots on a tmpfs ({settings.get('roots_fs')})")
    c.check(not mounted, f"the roots' tmpfs unmounted ({mounted})")
    leftover = [
        d for d in os.listdir("/sys/fs/cgroup") if parent and os.path.exists(f"/sys/fs/cgroup/{d}{parent}")
    ]
    c.check(bool(parent) and not leftover, f"cgroup {parent} removed (left in: {leftover})")
    c.check(procs.reap_exited() == 0 and not procs.has_children(), "no orphan reparented to the selftest")


def check_table_command(c: Checks, out: str) -> None:
    done = subprocess.run([os.path.join(HERE, "table"), out], capture_output=True, text=True)
    c.check(done.returncode == 0, f"bench/table exited {done.returncode}: {done.stderr}")
    for m in measure.MEASUREMENTS:
        if m.kind != "floor":
            c.check(m.title in done.stdout, f"table has a row for {m.name}")
    c.check("Interpreter floor" in done.stdout, "table has the interpreter floor")
    c.check("in each verb's own rotation" in done.stdout, "table has the floor of each verb's rotation")
    bad = subprocess.run([os.path.join(HERE, "table"), "/nonexistent.json"], capture_output=True, text=True)
    c.check(
        bad.returncode == 1 and bad.stderr.count("\n") == 1,
        f"bad file: one-line error, exit 1 ({bad.stderr!r})",
    )


def check_shims(c: Checks, tmp: str) -> None:
    from . import shims

    out = os.path.join(tmp, "shims.json")
    handlers = ["runc", "pyrunc-shim"]
    argv = [os.path.join(HERE, "shims"), "--quick", "--handlers", ",".join(handlers), "--out", out]
    done = subprocess.run(argv)
    c.check(done.returncode == 0, f"bench/shims --quick exited {done.returncode}")
    if not os.path.exists(out):
        c.check(False, f"{out} written")
        return
    with open(out) as f:
        doc = json.load(f)
    c.check(sorted(doc.get("handlers", {})) == sorted(handlers), f"handlers measured: {doc.get('handlers')}")
    settings = doc.get("settings", {})
    for m in shims.MEASUREMENTS:
        results = doc.get("measurements", {}).get(m.name, {}).get("results", {})
        for handler in handlers:
            if shims.HANDLER_ONLY.get(m.name, handler) != handler:
                continue
            result = results.get(handler, {})
            c.check("error" not in result, f"shims {m.name}/{handler} without error: {result.get('error')}")
            c.check(
                0 < result.get("min", 0) <= result.get("median", 0) <= result.get("max", 0),
                f"shims {m.name}/{handler}: positive, ordered min/median/max",
            )
    runs = doc.get("measurements", {}).get("ctr_run", {}).get("results", {}).get("runc", {}).get("runs")
    c.check(runs == settings.get("rounds", 0) * settings.get("ctr_runs", 0), f"ctr_run samples ({runs})")
    check_nothing_left(c, doc)
    table = subprocess.run([os.path.join(HERE, "table"), out], capture_output=True, text=True)
    c.check(table.returncode == 0 and "| ExecSync" in table.stdout, f"bench/table of shims: {table.stderr}")


def main() -> int:
    procs.become_subreaper()
    c = Checks()
    check_pure_logic(c)
    with tempfile.TemporaryDirectory(prefix="pyrunc-bench-selftest-") as tmp:
        check_shims(c, tmp)
        out = os.path.join(tmp, "quick.json")
        done = run_quick(out)
        c.check(done.returncode == 0, f"bench/run --quick exited {done.returncode}")
        if os.path.exists(out):
            with open(out) as f:
                doc = json.load(f)
            check_results(c, doc)
            check_nothing_left(c, doc)
            check_table_command(c, out)
        else:
            c.check(False, f"{out} written")
    if c.failures:
        print(f"selftest: {len(c.failures)} of {c.passed + len(c.failures)} checks FAILED", file=sys.stderr)
        return 1
    print(f"selftest: ok ({c.passed} checks)")
    return 0
