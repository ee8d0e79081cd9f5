"""Coverage-guided fuzzing (atheris) of the config loader, the validator and the plan builder, and of
the state reader: the pure-Python parts every create, exec and state goes through.

    tests/reliability/fuzz-atheris [--target config|process|state] [--runs N] [--seconds S]

Not part of CI (needs `pip install atheris` in the venv; see the README). The property: for any
input bytes, pyrunc either accepts or raises PyruncError (one clear line); any other exception is
a bug. Unlike plain atheris, a crash does not stop the run: each distinct crash (exception type
and where it was raised) is written once to OUTDIR/crash-<n>.json and counted, and the run goes
on. libFuzzer ends the process itself, so the counts live in OUTDIR/summary.txt (rewritten as
they change); the wrapper script prints it and exits 1 if any crash was found.

Seeds: tests/config/corpus/good/*.json and oci-bundles/*/config.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import traceback

import atheris

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

with atheris.instrument_imports():
    from pyrunc import jsonio, plan
    from pyrunc import linux as L
    from pyrunc.cgroups.mount_plan import cgroup_mounts
    from pyrunc.config.load import load_bundle, read_json_document
    from pyrunc.config.validate import validate_process
    from pyrunc.container.create import gather_host_facts
    from pyrunc.container.query import state as read_state
    from pyrunc.errors import PyruncError
    from pyrunc.store import Store

CRASHES: dict[str, int] = {}
INPUTS = [0]
OUT = ""
BUNDLE = ""  # the sleep sample's config and an empty rootfs
FUZZ_BUNDLE = ""  # its config.json is each input; rootfs is a symlink to BUNDLE's
ROOT = ""


def build_plan(config: dict) -> None:
    """What create builds before any syscall that changes the machine: plan.build over this
    host's facts, gathered as create gathers them (without a cgroup, idmapped trees, the fifo
    and the seccomp compiler)."""

    def cgroup_records(mount: dict, index: int) -> list:
        return cgroup_mounts(mount, index, private_cgroupns=False, userns=False, cgroup_dirs=[])

    host = gather_host_facts(config, BUNDLE, cgroup_mounts=cgroup_records, idmap_tree=_no_idmap)
    plan.build(config, BUNDLE, host)


def _no_idmap(record) -> int:
    return -1  # create makes the idmapped tree with syscalls; the plan only carries its fd


def target_config(data: bytes) -> None:
    """As create: FUZZ/config.json through pyrunc.config.load.load_bundle, then the plan."""
    with open(os.path.join(FUZZ_BUNDLE, "config.json"), "wb") as f:
        f.write(data)
    config, _raw = load_bundle(FUZZ_BUNDLE)
    build_plan(config)


def target_process(data: bytes) -> None:
    """As exec --process: read, validate against the sample config, plan."""
    path = os.path.join(OUT, "process.json")
    with open(path, "wb") as f:
        f.write(data)
    process, _raw = read_json_document(path, "process.json")
    with open(os.path.join(BUNDLE, "config.json"), "rb") as f:
        config = jsonio.loads(f.read())
    validate_process(process, config=config)
    plan.process_records(process, preserve_fds=0, ungrantable_caps=L.ungrantable_capabilities())


def target_state(data: bytes) -> None:
    """Bytes as a container's state.json, read by `pyrunc state` (which also looks at /proc)."""
    with open(os.path.join(ROOT, "fuzzed", "state.json"), "wb") as f:
        f.write(data)
    read_state(Store(ROOT), "fuzzed")


TARGETS = {"config": target_config, "process": target_process, "state": target_state}


def one_input(target, data: bytes) -> None:
    INPUTS[0] += 1
    if INPUTS[0] % 5000 == 0:
        write_summary()
    try:
        target(data)
    except PyruncError:
        pass
    except Exception as err:  # the finding: anything but a PyruncError
        record_crash(err, data)


def record_crash(err: Exception, data: bytes) -> None:
    frame = traceback.extract_tb(err.__traceback__)[-1]
    signature = f"{type(err).__name__} at {os.path.relpath(frame.filename, REPO)}:{frame.lineno}"
    if signature not in CRASHES:
        path = os.path.join(OUT, f"crash-{len(CRASHES)}.json")
        with open(path, "wb") as f:
            f.write(data)
        print(f"\nNEW CRASH {signature}: {err!s:.200} (input: {path})", flush=True)
    CRASHES[signature] = CRASHES.get(signature, 0) + 1
    if CRASHES[signature] == 1:
        write_summary()


def write_summary() -> None:
    lines = [f"inputs: {INPUTS[0]}", f"distinct crashes: {len(CRASHES)}"]
    lines += [f"  {count:6d}  {sig}" for sig, count in sorted(CRASHES.items(), key=lambda item: -item[1])]
    with open(os.path.join(OUT, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def seeds(target: str) -> list[str]:
    if target == "state":
        return []
    found = glob.glob(os.path.join(REPO, "tests/config/corpus/good/*.json"))
    found += glob.glob(os.path.join(REPO, "oci-bundles/*/config.json"))
    return sorted(found)


def prepare(outdir: str, target: str) -> str:
    """OUTDIR with a seeded corpus dir; a bundle with an empty rootfs dir; a --root for state."""
    global OUT, BUNDLE, FUZZ_BUNDLE, ROOT
    OUT = outdir
    os.makedirs(OUT, exist_ok=True)
    BUNDLE = os.path.join(OUT, "bundle")
    os.makedirs(os.path.join(BUNDLE, "rootfs"), exist_ok=True)
    sample = os.path.join(REPO, "oci-bundles/sleep/config.json")
    with open(sample, "rb") as src, open(os.path.join(BUNDLE, "config.json"), "wb") as dst:
        dst.write(src.read())
    FUZZ_BUNDLE = os.path.join(OUT, "fuzz-bundle")
    os.makedirs(FUZZ_BUNDLE, exist_ok=True)
    if not os.path.lexists(os.path.join(FUZZ_BUNDLE, "rootfs")):
        os.symlink(os.path.join(BUNDLE, "rootfs"), os.path.join(FUZZ_BUNDLE, "rootfs"))
    ROOT = os.path.join(OUT, "root")
    os.makedirs(os.path.join(ROOT, "fuzzed"), exist_ok=True)
    corpus = os.path.join(OUT, f"corpus-{target}")
    os.makedirs(corpus, exist_ok=True)
    for n, seed in enumerate(seeds(target)):
        with open(seed, "rb") as src, open(os.path.join(corpus, f"seed-{n}.json"), "wb") as dst:
            dst.write(src.read())
    if target == "state":
        with open(os.path.join(corpus, "seed-state.json"), "w") as f:
            json.dump({"ociVersion": "1.2.0", "id": "fuzzed", "pid": 1, "init_start": 0, "bundle": "/"}, f)
    return corpus


def main() -> int:
    parser = argparse.ArgumentParser(prog="fuzz-atheris", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=sorted(TARGETS), default="config")
    parser.add_argument("--runs", type=int, default=0, help="stop after N inputs (0: no limit)")
    parser.add_argument("--seconds", type=int, default=300, help="stop after S seconds")
    parser.add_argument("--out", default="", help="directory for crashes and corpus (default: a temp dir)")
    args = parser.parse_args()
    corpus = prepare(args.out or tempfile.mkdtemp(prefix="pyrunc-atheris-"), args.target)
    target = TARGETS[args.target]
    libfuzzer_args = [sys.argv[0], corpus, f"-max_total_time={args.seconds}", "-max_len=8192"]
    if args.runs:
        libfuzzer_args.append(f"-runs={args.runs}")
    print(f"fuzzing {args.target}: corpus {corpus}, crashes and summary.txt in {OUT}", flush=True)
    write_summary()
    atheris.Setup(libfuzzer_args, lambda data: one_input(target, data))
    atheris.Fuzz()  # does not return: libFuzzer exits when its time or runs are up
    return 0


if __name__ == "__main__":
    sys.exit(main())
