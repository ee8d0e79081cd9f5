"""bench/run and bench/table: argument parsing, set-up, the measurements in order, teardown."""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys

from tools import crun_hugetlb

from . import cgroups, measure, procs, report, runtimes
from .runtimes import Runtime, Unusable
from .workspace import REPO, Workspace

DEFAULT_PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def parse_run_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Time and size pyrunc, runc and crun side by side (issue 8)."
    )
    parser.add_argument("--quick", action="store_true", help="few runs and fewer containers: a smoke test")
    parser.add_argument(
        "--out", metavar="FILE.json", help="results file (default: results/bench-<date>.json)"
    )
    parser.add_argument(
        "--runtimes", metavar="LIST", help="comma-separated, from pyrunc,runc,crun (default: all)"
    )
    for name in runtimes.KNOWN:
        parser.add_argument(
            f"--{name}", metavar="PATH", default=runtimes.DEFAULT_PATHS[name], help=f"{name} binary"
        )
    parser.add_argument("--python", metavar="PATH", default=DEFAULT_PYTHON, help="interpreter for the floor")
    parser.add_argument("--only", metavar="LIST", help="comma-separated measurement names (default: all)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per timed measurement")
    parser.add_argument("--runs", type=int, help="timed runs per runtime per round")
    parser.add_argument("--warmup", type=int, help="warm-up runs per runtime per round")
    parser.add_argument("--tmpdir", metavar="DIR", help="parent of the temporary work directory")
    return parser.parse_args(argv)


class BadArgument(Exception):
    pass


def settings_from(args: argparse.Namespace) -> measure.Settings:
    settings = measure.QUICK if args.quick else measure.FULL
    overrides = {
        key: getattr(args, key) for key in ("rounds", "runs", "warmup") if getattr(args, key) is not None
    }
    for key, value in overrides.items():
        if value < (0 if key == "warmup" else 1):
            raise BadArgument(f"--{key}: must be at least {0 if key == 'warmup' else 1}, got {value}")
    # Given, they apply to the single verbs' shorter rounds too.
    verbs = {f"verb_{key}": value for key, value in overrides.items()}
    return settings._replace(**overrides, **verbs)


def selected_measurements(only: str | None) -> list[str]:
    if not only:
        return [m.name for m in measure.MEASUREMENTS]
    names = [name.strip() for name in only.split(",") if name.strip()]
    for name in names:
        if name not in measure.BY_NAME:
            raise BadArgument(
                f"--only: unknown measurement {name!r} (choose from {', '.join(measure.BY_NAME)})"
            )
    return [m.name for m in measure.MEASUREMENTS if m.name in names]


def check_writable(out: str, tmpdir: str | None) -> None:
    """Fail before measuring, not after, if the results cannot be written."""
    if tmpdir is not None and not os.path.isdir(tmpdir):
        raise BadArgument(f"--tmpdir: {tmpdir} is not a directory")
    if os.path.isdir(out):
        raise BadArgument(f"--out: {out} is a directory")
    try:
        os.makedirs(os.path.dirname(out), exist_ok=True)
    except OSError as failure:
        raise BadArgument(f"--out: cannot create {os.path.dirname(out)}: {failure.strerror}") from None
    if not os.access(os.path.dirname(out), os.W_OK):
        raise BadArgument(f"--out: {os.path.dirname(out)} is not writable")


def default_out() -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return os.path.join(REPO, "results", f"bench-{stamp}.json")


def loud(message: str) -> None:
    bar = "!" * min(100, len(message) + 8)
    print(f"\n{bar}\n!!! {message}\n{bar}\n", file=sys.stderr, flush=True)


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def machine_info() -> dict:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_total = int(f.readline().split()[1]) * 1024
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_total": mem_total,
        "cgroup_layout": cgroups.layout(),
        "loadavg_start": list(os.getloadavg()),
    }


def tool_versions(python: str | None) -> dict:
    tools = {"hyperfine": procs.run(["hyperfine", "--version"]).stdout.strip()}
    if python:
        done = procs.run([python, "--version"])
        tools["python_floor"] = (done.stdout or done.stderr).strip()
    return tools


def containers_in(root: str) -> list[str]:
    """Ids of the containers a runtime keeps state for under `root` (one directory each)."""
    if not os.path.isdir(root):
        return []
    return sorted(entry.name for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False))


class Session:
    """Everything set up for one bench/run, and its teardown."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws: Workspace | None = None
        self.candidates: list[Runtime] = []  # resolved, whether or not usable: all get cleaned up
        self.usable: list[Runtime] = []
        self.skipped: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.hugetlb_mounted = False
        self.hugetlb_dir_created = False
        self.leftovers: list[str] = []
        self.machine: dict = {}

    def set_up(self, names: list[str], explicit: bool) -> None:
        self.ws = Workspace(self.args.tmpdir)
        note(f"work directory {self.ws.dir}, cgroups under {self.ws.cgroup_parent}")
        self.ws.compile_shim()
        self.ws.build_rootfs()
        for name in names:
            self._add_runtime(name, explicit)
        if not self.usable:
            raise BadArgument("no usable runtime: " + "; ".join(f"{k}: {v}" for k, v in self.skipped.items()))

    def _add_runtime(self, name: str, explicit: bool) -> None:
        assert self.ws is not None
        try:
            path = runtimes.resolve(name, getattr(self.args, name))
            rt = Runtime(name, path, self.ws.root(name))
            self.candidates.append(rt)
            if name == "crun" and crun_hugetlb.needed():
                self.hugetlb_dir_created = crun_hugetlb.mount()
                self.hugetlb_mounted = True
                note(f"mounted hugetlb as v1 at {crun_hugetlb.HUGETLB_V1} for crun 1.8.1 (undone at exit)")
            self.versions[name] = runtimes.version(path)
            runtimes.probe(rt, self.ws)
        except Unusable as why:
            if explicit:
                raise BadArgument(f"--runtimes: {name}: {why}") from None
            self.skipped[name] = str(why)
            loud(f"{name} SKIPPED: {why}")
            return
        self.usable.append(rt)

    def tear_down(self) -> None:
        """Delete every container in our roots, kill and remove our cgroups, reap, unmount, rm -rf.
        Each step runs even if an earlier one failed; what could not be undone is reported."""
        if self.ws is None:
            return
        for rt in self.candidates:
            for cid in containers_in(rt.root):
                self._undo(f"delete {rt.name} {cid}", lambda rt=rt, cid=cid: self._force_delete(rt, cid))
        cgroup_parent = self.ws.cgroup_parent
        self._undo("cgroups", lambda: self._remove_cgroups(cgroup_parent))
        self._undo("reaping", self._reap)
        if self.hugetlb_mounted:
            self._undo("hugetlb", self._unmount_hugetlb)
        self.ws.remove()
        if self.leftovers:
            loud("cleanup left: " + "; ".join(self.leftovers))

    def _undo(self, what: str, step) -> None:
        try:
            step()
        except (OSError, subprocess.CalledProcessError, procs.CommandTimeout) as failure:
            self.leftovers.append(f"{what}: {failure}")

    def _force_delete(self, rt: Runtime, cid: str) -> None:
        done = procs.run(rt.argv("delete", "--force", cid), timeout=30)
        if done.returncode != 0:
            self.leftovers.append(f"{rt.name} delete --force {cid}: {runtimes.last_line(done.stderr)}")

    def _remove_cgroups(self, cgroup_parent: str) -> None:
        left = cgroups.remove_tree(cgroup_parent, procs.reap_exited)
        self.leftovers += [f"cgroup {path} could not be removed" for path in left]

    def _reap(self) -> None:
        if not procs.reap_until_childless(timeout=10):
            self.leftovers.append(f"child processes still alive: {procs.live_children()}")

    def _unmount_hugetlb(self) -> None:
        why = crun_hugetlb.unmount(self.hugetlb_dir_created)
        if why:
            note(why)


def progress_printer(total_blocks: int):
    done = [0]

    def progress(measurement, key, round_index, rounds, times, error) -> None:
        done[0] += 1
        where = f"[{done[0]:3d}/{total_blocks}] {measurement:<22} {key:<13} round {round_index + 1}/{rounds}"
        if error:
            note(f"{where}  FAILED: {error}")
        else:
            times = sorted(times)
            note(f"{where}  median {times[len(times) // 2] * 1e3:9.1f} ms  ({len(times)} runs)")

    return progress


def count_blocks(names: list[str], n_runtimes: int, settings: measure.Settings, has_floor: bool) -> int:
    total = 0
    for name in names:
        kind = measure.BY_NAME[name].kind
        if kind in ("command", "scale"):
            keys = n_runtimes + (has_floor and name in measure.FLOOR_IN)
            total += measure.blocks(name, settings)[0] * keys
        elif kind == "floor" and has_floor:
            total += settings.rounds * 2
    return total


def measure_all(session: Session, names: list[str], settings: measure.Settings) -> dict:
    ws, rts = session.ws, session.usable
    assert ws is not None
    python = session.args.python if os.access(session.args.python, os.X_OK) else None
    if "floor" in names and python is None:
        loud(f"interpreter floor SKIPPED: {session.args.python} not found (pass --python PATH)")
    progress = progress_printer(count_blocks(names, len(rts), settings, python is not None))
    results: dict[str, dict] = {}
    memory_done = False
    for name in names:
        kind = measure.BY_NAME[name].kind
        if kind in ("command", "scale"):
            results[name] = measure.timed(name, rts, ws, settings, progress, python)
        elif kind == "floor" and python:
            results[name] = measure.floor(python, ws, settings, progress)
        elif kind == "memory" and not memory_done:
            note(f"memory: {settings.memory_containers} created containers per runtime")
            memory = measure.memory_results(rts, ws, settings)
            results.update({key: value for key, value in memory.items() if key in names})
            memory_done = True
    return {
        name: {
            "title": measure.BY_NAME[name].title,
            "unit": measure.BY_NAME[name].unit,
            "results": results[name],
        }
        for name in names
        if name in results
    }


def document(session: Session, settings: measure.Settings, measurements: dict, started: str) -> dict:
    ws = session.ws
    assert ws is not None
    machine = {**session.machine}
    machine["loadavg_end"] = list(os.getloadavg())
    python = session.args.python if os.access(session.args.python, os.X_OK) else None
    return {
        "format": "pyrunc-bench/1",
        "date": started,
        "mode": "quick" if session.args.quick else "full",
        "machine": machine,
        "tools": tool_versions(python),
        "settings": {
            **settings._asdict(),
            "workdir": ws.dir,
            "cgroup_parent": ws.cgroup_parent,
            "roots_fs": ws.roots_fs,
        },
        "runtimes": {
            rt.name: {"path": rt.path, "version": session.versions.get(rt.name, ""), "root": rt.root}
            for rt in session.usable
        },
        "skipped": session.skipped,
        "measurements": measurements,
    }


def interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_main(argv: list[str]) -> int:
    args = parse_run_args(argv)
    try:
        settings = settings_from(args)
        names = selected_measurements(args.only)
        explicit = args.runtimes is not None
        chosen = runtimes.parse_names(args.runtimes) if explicit else list(runtimes.KNOWN)
        out = os.path.abspath(args.out or default_out())
        check_writable(out, args.tmpdir)
    except (BadArgument, ValueError) as bad:
        print(f"bench/run: {bad}", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("bench/run: must run as root (containers, cgroups, mounts)", file=sys.stderr)
        return 1
    if shutil.which("hyperfine") is None:
        print("bench/run: hyperfine not found (apt-get install hyperfine)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    procs.become_subreaper()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    session = Session(args)
    status = 0
    try:
        session.machine = machine_info()
        session.set_up(chosen, explicit)
        measurements = measure_all(session, names, settings)
        doc = document(session, settings, measurements, started)
        with open(out, "w") as f:
            json.dump(doc, f, indent=1)
        print(report.render(doc))
        note(f"results written to {out}")
        if report.errors_in(doc):
            status = 1
    except BadArgument as bad:
        print(f"bench/run: {bad}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        note("interrupted: cleaning up")
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the cleanup
        session.tear_down()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if session.leftovers and status == 0:
        status = 1
    return status


def table_main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: bench/table FILE.json", file=sys.stderr)
        return 1
    try:
        with open(argv[0]) as f:
            doc = json.load(f)
    except (OSError, ValueError) as bad:
        print(f"bench/table: {argv[0]}: {bad}", file=sys.stderr)
        return 1
    if not isinstance(doc, dict) or "measurements" not in doc:
        print(f"bench/table: {argv[0]}: not a bench/run results file (no 'measurements')", file=sys.stderr)
        return 1
    if str(doc.get("format", "")).startswith("pyrunc-bench-shims/"):
        from . import shims

        print(shims.render(doc), end="")
        return 0
    print(report.render(doc), end="")
    return 0
