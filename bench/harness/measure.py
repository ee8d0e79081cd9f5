"""The five measurements of issue 8, as hyperfine specs (timings) or direct probes (memory)."""

import json
from typing import NamedTuple

from . import memory, procs
from .runtimes import Runtime
from .stats import summarize
from .timing import Progress, Spec, interleaved
from .workspace import SLEEP_ARGS, TRUE_ARGS, Workspace


class Settings(NamedTuple):
    rounds: int  # interleaved rounds per timed measurement
    runs: int  # timed runs per runtime per round
    warmup: int  # warm-up runs per runtime per round
    # The single verbs (FLOOR_IN), compared with the floor in their rotation: more, shorter rounds,
    # the same number of runs. Load here comes in bursts of a few runs (kernel work after cgroup
    # removals, other users): a block of 4 runs is about as long as one.
    verb_rounds: int
    verb_runs: int
    verb_warmup: int
    scale_rounds: int  # rounds (one run each) of the 100-lifecycle measurements
    scale_count: int  # lifecycles per scale run
    scale_workers: int  # parallel workers of the parallel scale run
    memory_containers: int  # created containers measured at once


FULL = Settings(
    rounds=5,
    runs=20,
    warmup=2,
    verb_rounds=25,
    verb_runs=4,
    verb_warmup=1,
    scale_rounds=3,
    scale_count=100,
    scale_workers=8,
    memory_containers=20,
)
QUICK = Settings(
    rounds=2,
    runs=3,
    warmup=1,
    verb_rounds=2,
    verb_runs=3,
    verb_warmup=1,
    scale_rounds=1,
    scale_count=16,
    scale_workers=8,
    memory_containers=5,
)


class Measurement(NamedTuple):
    name: str
    title: str
    unit: str  # "s" or "bytes"
    kind: str  # "command", "floor", "scale", "memory"


MEASUREMENTS = [
    Measurement("run", "run /bin/true (auto-deleted)", "s", "command"),
    Measurement("lifecycle", "create + start + wait + delete", "s", "command"),
    Measurement("create", "create", "s", "command"),
    Measurement("start", "start (created /bin/true)", "s", "command"),
    Measurement("state", "state (running)", "s", "command"),
    Measurement("kill", "kill 9 (running)", "s", "command"),
    Measurement("delete", "delete (stopped)", "s", "command"),
    Measurement("version", "--version", "s", "command"),
    Measurement("floor", "interpreter floor", "s", "floor"),
    Measurement("memory_rss", "RSS per created container", "bytes", "memory"),
    Measurement("memory_pss", "PSS per created container", "bytes", "memory"),
    Measurement("memory_uss", "USS per created container", "bytes", "memory"),
    Measurement("memory_cgroup", "cgroup charge per created container", "bytes", "memory"),
    Measurement("lifecycles_sequential", "lifecycles, sequential", "s", "scale"),
    Measurement("lifecycles_parallel", "lifecycles, in parallel", "s", "scale"),
]
BY_NAME = {m.name: m for m in MEASUREMENTS}
MEMORY_METRICS = {"memory_rss": "rss", "memory_pss": "pss", "memory_uss": "uss", "memory_cgroup": "cgroup"}


def command_spec(name: str, rt: Runtime, ws: Workspace) -> Spec:
    """The timed command of measurement `name` and the fixtures that put its container in the
    state the command expects (built by the shim, which reaps like a real shim)."""
    true_bundle = ws.bundle("true", TRUE_ARGS)
    sleep_bundle = ws.bundle("sleep", SLEEP_ARGS)
    cid = ws.container_id(rt.name, name)
    pid_file = ws.pid_file(cid)
    shim = [ws.shim]

    def fixture(stage: str, bundle: str) -> list[str]:
        return [*shim, stage, rt.path, rt.root, bundle, cid, pid_file]

    reset = [*shim, "reset", rt.path, rt.root, cid]
    specs = {
        "run": Spec(rt.argv("run", "--bundle", true_bundle, cid), cleanup=reset),
        "lifecycle": Spec(fixture("lifecycle", true_bundle), cleanup=reset),
        "create": Spec(
            rt.argv("create", "--bundle", true_bundle, "--pid-file", pid_file, cid),
            prepare=reset,
            cleanup=reset,
        ),
        "start": Spec(rt.argv("start", cid), prepare=fixture("created", true_bundle), cleanup=reset),
        "state": Spec(rt.argv("state", cid), setup=fixture("running", sleep_bundle), cleanup=reset),
        "kill": Spec(rt.argv("kill", cid, "9"), prepare=fixture("running", sleep_bundle), cleanup=reset),
        "delete": Spec(rt.argv("delete", cid), prepare=fixture("stopped", true_bundle), cleanup=reset),
        "version": Spec([rt.path, "--version"]),
    }
    return specs[name]


def scale_spec(name: str, rt: Runtime, ws: Workspace, settings: Settings) -> Spec:
    workers = 1 if name == "lifecycles_sequential" else settings.scale_workers
    for index in range(workers):
        ws.bundle(f"lc{index}", TRUE_ARGS)
    prefix = ws.container_id(rt.name, "lc")
    command = [ws.shim, "batch", rt.path, rt.root, ws.bundle_prefix("lc"), prefix, ws.pid_dir]
    return Spec([*command, str(settings.scale_count), str(workers)])


# The single verbs also time the interpreter floor in their own rotation (issue 15: each at the
# floor + 1 ms, median against median in the same run): a block of `python -I -S -c pass` beside
# each runtime's, under the same fixtures as the first runtime's (pyrunc's when it is measured), so
# the floor sees the same load, the same caches and the same preparation as the command.
FLOOR_KEY = "floor"
FLOOR_IN = ("start", "state", "kill", "delete", "version")


def floor_in_rotation(name: str, runtimes: list[Runtime], ws: Workspace, python: str) -> Spec:
    fixtures_of = next((rt for rt in runtimes if rt.name == "pyrunc"), runtimes[0])
    spec = command_spec(name, fixtures_of._replace(name=FLOOR_KEY), ws)
    return spec._replace(command=floor_specs(python)["python -I -S"].command)


def blocks(name: str, settings: Settings) -> tuple[int, int, int]:
    """(rounds, runs per block, warm-up runs per block) of a timed measurement."""
    if BY_NAME[name].kind == "scale":
        return settings.scale_rounds, 1, 0
    if name in FLOOR_IN:
        return settings.verb_rounds, settings.verb_runs, settings.verb_warmup
    return settings.rounds, settings.runs, settings.warmup


def floor_specs(python: str) -> dict[str, Spec]:
    return {
        "python -S": Spec([python, "-S", "-c", "pass"]),
        "python -I -S": Spec([python, "-I", "-S", "-c", "pass"]),
    }


def timed(
    name: str,
    runtimes: list[Runtime],
    ws: Workspace,
    settings: Settings,
    progress: Progress,
    python: str | None = None,
) -> dict:
    """{runtime: summary}; with `python`, the FLOOR_IN measurements also have FLOOR_KEY's."""
    if BY_NAME[name].kind == "scale":
        specs = {rt.name: scale_spec(name, rt, ws, settings) for rt in runtimes}
    else:
        specs = {rt.name: command_spec(name, rt, ws) for rt in runtimes}
    if python and runtimes and name in FLOOR_IN:
        specs[FLOOR_KEY] = floor_in_rotation(name, runtimes, ws, python)
    return interleaved(name, specs, *blocks(name, settings), ws, progress)


def floor(python: str, ws: Workspace, settings: Settings, progress: Progress) -> dict:
    return interleaved(
        "floor", floor_specs(python), settings.rounds, settings.runs, settings.warmup, ws, progress
    )


class MemoryFailed(Exception):
    pass


def memory_samples(rt: Runtime, ws: Workspace, count: int) -> list[dict]:
    """Create `count` containers (not started), then measure each while all of them exist, so
    pages the runtime's processes share are shared as they would be on a busy host."""
    created = []
    try:
        for index in range(count):
            bundle = ws.bundle(f"mem{index}", SLEEP_ARGS)
            cid = ws.container_id(rt.name, f"mem{index}")
            done = procs.run(rt.argv("create", "--bundle", bundle, "--pid-file", ws.pid_file(cid), cid))
            if done.returncode != 0:
                raise MemoryFailed(f"create {cid} exited {done.returncode}: {done.stderr.strip()[-300:]}")
            created.append(cid)
        return [container_sample(rt, cid) for cid in created]
    finally:
        for cid in created:
            procs.run(rt.argv("delete", "--force", cid))


def container_sample(rt: Runtime, cid: str) -> dict:
    done = procs.run(rt.argv("state", cid))
    if done.returncode != 0:
        raise MemoryFailed(f"state {cid} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    state = json.loads(done.stdout)
    if state.get("status") != "created":
        raise MemoryFailed(f"{cid} is {state.get('status')!r}, expected 'created'")
    return memory.container_memory(int(state["pid"]))


def memory_results(runtimes: list[Runtime], ws: Workspace, settings: Settings) -> dict[str, dict]:
    """measurement name -> runtime -> summary over the containers (or {"error": ...})."""
    results: dict[str, dict] = {name: {} for name in MEMORY_METRICS}
    for rt in runtimes:
        try:
            samples = memory_samples(rt, ws, settings.memory_containers)
        except (MemoryFailed, procs.CommandTimeout, ValueError, KeyError) as failure:
            for name in MEMORY_METRICS:
                results[name][rt.name] = {"error": str(failure)}
            continue
        for name, metric in MEMORY_METRICS.items():
            values = [sample[metric] for sample in samples]
            if any(value is None for value in values):
                results[name][rt.name] = {"error": "the container's init is in no memory cgroup"}
                continue
            summary = summarize([float(value) for value in values])
            results[name][rt.name] = {**summary, "values": values}
        results["memory_rss"][rt.name]["processes"] = [sample["processes"] for sample in samples]
    return results
