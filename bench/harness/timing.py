"""Wall-clock timing with hyperfine, interleaved across runtimes.

hyperfine runs all runs of one command before the next, so a burst of load from the other
engineers on this machine would land on one runtime only. We therefore call hyperfine in rounds:
round r times every runtime for a block of a few runs (each block with its own warm-up), rotating
the order every round (A B C, B C A, C A B, ...), and the samples of all blocks are merged.
"""

import json
import shlex
from collections.abc import Callable
from typing import NamedTuple

from . import procs
from .stats import summarize
from .workspace import Workspace

SECONDS_PER_RUN_LIMIT = 60  # generous: a runtime slower than this per run is broken, not slow


class Spec(NamedTuple):
    """What hyperfine times (`command`) and its untimed fixtures: `setup` once before the block,
    `prepare` before every run (warm-ups included), `cleanup` once after the block."""

    command: list[str]
    prepare: list[str] | None = None
    setup: list[str] | None = None
    cleanup: list[str] | None = None


class BlockFailed(Exception):
    """hyperfine could not time a block; the message carries the command's own error."""


def hyperfine_argv(spec: Spec, runs: int, warmup: int, export: str) -> list[str]:
    # -N: no intermediate shell, so a run costs the command and nothing else
    argv = ["hyperfine", "-N", "--style", "none", "--runs", str(runs), "--warmup", str(warmup)]
    argv += ["--export-json", export]
    for flag, fixture in (("--setup", spec.setup), ("--prepare", spec.prepare), ("--cleanup", spec.cleanup)):
        if fixture:
            argv += [flag, shlex.join(fixture)]
    argv.append(shlex.join(spec.command))
    return argv


def time_block(spec: Spec, runs: int, warmup: int, export: str) -> list[float]:
    """Run one hyperfine block; return its run times in seconds."""
    timeout = 60 + (runs + warmup + 2) * SECONDS_PER_RUN_LIMIT
    done = procs.run(hyperfine_argv(spec, runs, warmup, export), timeout=timeout)
    if done.returncode != 0:
        raise BlockFailed(f"{hyperfine_error(done.stderr)}; {diagnose(spec)}")
    with open(export) as f:
        result = json.load(f)["results"][0]
    if any(code != 0 for code in result.get("exit_codes", [])):
        raise BlockFailed(f"non-zero exit codes {result['exit_codes']}")
    return list(result["times"])


def hyperfine_error(stderr: str) -> str:
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("Error")]
    if not errors:
        return f"hyperfine failed: {stderr.strip()[-300:]}"
    return "hyperfine: " + errors[-1].removeprefix("Error: ").split(". Use the '-i'")[0]


def diagnose(spec: Spec) -> str:
    """hyperfine discards the command's stderr: replay the fixtures and the command once to get it."""
    for fixture in (spec.setup, spec.prepare):
        if fixture:
            done = procs.run(fixture)
            if done.returncode != 0:
                return f"fixture `{shlex.join(fixture)}` exited {done.returncode}: {tail(done.stderr)}"
    done = procs.run(spec.command)
    if spec.cleanup:
        procs.run(spec.cleanup)
    if done.returncode != 0:
        return f"`{shlex.join(spec.command)}` exited {done.returncode}: {tail(done.stderr)}"
    return "replayed once, the command succeeded"


def tail(text: str, limit: int = 400) -> str:
    text = " | ".join(line for line in text.strip().splitlines() if line.strip())
    return text[-limit:] or "(no stderr)"


Progress = Callable[[str, str, int, int, list[float] | None, str | None], None]


def interleaved(
    measurement: str,
    specs: dict[str, Spec],
    rounds: int,
    runs: int,
    warmup: int,
    workspace: Workspace,
    progress: Progress,
) -> dict[str, dict]:
    """Time every spec (key: runtime or label) in `rounds` rotating rounds; per key the summary of
    all samples with the raw times, or {"error": ...} if one of its blocks failed."""
    keys = list(specs)
    samples: dict[str, list[float]] = {key: [] for key in keys}
    errors: dict[str, str] = {}
    for round_index in range(rounds):
        shift = round_index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            if key in errors:
                continue
            export = workspace.hyperfine_json(f"{measurement}-{key}-{round_index}".replace(" ", "_"))
            try:
                times = time_block(specs[key], runs, warmup, export)
            except (BlockFailed, procs.CommandTimeout) as failure:
                errors[key] = str(failure)
                progress(measurement, key, round_index, rounds, None, errors[key])
                continue
            samples[key].extend(times)
            progress(measurement, key, round_index, rounds, times, None)
    return {
        key: {"error": errors[key]} if key in errors else {**summarize(samples[key]), "times": samples[key]}
        for key in keys
    }
