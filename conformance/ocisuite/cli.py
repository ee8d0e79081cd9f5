"""Entry points of conformance/run, conformance/compare and conformance/ci-check."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from . import registry, report


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line naming the problem, exit status 1."""

    def error(self, message: str):
        print(f"{self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(1)


def _resolve_runtime(candidate: str) -> str | None:
    """An absolute path for a runtime given as a path or a command name, or None."""
    if "/" in candidate:
        path = os.path.abspath(candidate)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    found = shutil.which(candidate)
    return os.path.abspath(found) if found else None


def main_run(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="conformance/run",
        description="Run the OCI runtime-spec conformance suite against a runc-compatible runtime (TAP).",
        epilog="The runtime may also come from the environment: RUNTIME=crun conformance/run OUTDIR",
    )
    parser.add_argument("args", nargs="*", metavar="[RUNTIME] OUTDIR [CASE-GLOB ...]")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--timeout", type=float, help="seconds per case (default: each case's own, 40s)")
    opts = parser.parse_args(argv)
    cases = registry.load_all()
    if opts.list:
        for c in cases:
            print(f"{c.name}\t{','.join(c.needs)}")
        return 0
    positional = list(opts.args)
    runtime = _resolve_runtime(positional[0]) if positional else None
    if runtime and not os.path.isdir(positional[0]):
        positional.pop(0)
    else:
        env_runtime = os.environ.get("RUNTIME")
        if not env_runtime:
            parser.error("no runtime given: pass RUNTIME as the first argument or set RUNTIME=...")
        runtime = _resolve_runtime(env_runtime)
        if not runtime:
            parser.error(f"RUNTIME={env_runtime}: not an executable file or command")
    if not positional:
        parser.error("OUTDIR is required")
    outdir = os.path.abspath(positional.pop(0))
    selected = registry.select(cases, positional)
    if not selected:
        parser.error(f"no case matches {positional}")
    if os.geteuid() != 0:
        print("conformance/run: must run as root (it creates real containers)", file=sys.stderr)
        return 2
    from .harness import run_suite

    return run_suite(runtime, outdir, selected, opts.timeout)


def main_compare(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="conformance/compare",
        description="Per-case status of result dirs side by side ('*' marks disagreement), with totals.",
    )
    parser.add_argument(
        "dirs", nargs="+", metavar="DIR", help="a conformance/run OUTDIR (or its results.json)"
    )
    parser.add_argument("--diff", action="store_true", help="only the cases where the runtimes disagree")
    opts = parser.parse_args(argv)
    try:
        sets = [report.ResultSet(d) for d in opts.dirs]
    except ValueError as e:
        print(f"conformance/compare: {e}", file=sys.stderr)
        return 1
    print(report.compare_table(sets, only_diff=opts.diff))
    return 0


def main_ci_check(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="conformance/ci-check",
        description="Exit 1 if pyrunc fails or skips a case runc passes (crun-only passes: warnings).",
    )
    parser.add_argument("pyrunc_dir", metavar="PYRUNC_DIR")
    parser.add_argument("runc_dir", metavar="RUNC_DIR")
    parser.add_argument("crun_dir", metavar="CRUN_DIR", nargs="?")
    opts = parser.parse_args(argv)
    try:
        pyrunc = report.ResultSet(opts.pyrunc_dir)
        runc = report.ResultSet(opts.runc_dir)
        crun = report.ResultSet(opts.crun_dir) if opts.crun_dir else None
    except ValueError as e:
        print(f"conformance/ci-check: {e}", file=sys.stderr)
        return 1
    regressions, warnings = report.ci_gate(pyrunc, runc, crun)
    for w in warnings:
        print(f"warning: {w}")
    if regressions:
        print(f"pyrunc does not pass {len(regressions)} case(s) that runc passes:")
        for r in regressions:
            print(f"  {r}")
        return 1
    runc_pass = sum(1 for n in runc.cases if runc.status(n) == "pass")
    print(f"ok: pyrunc passes all {runc_pass} cases that runc passes")
    return 0
