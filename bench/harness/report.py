"""The results table (markdown), from the results JSON alone, with pyrunc's ratios and targets."""

import statistics

from .measure import FLOOR_IN, FLOOR_KEY, MEASUREMENTS

RUNTIME_ORDER = ("pyrunc", "runc", "crun")
RATIOS = (("pyrunc", "runc"), ("pyrunc", "crun"), ("crun", "runc"))
# issue 8: pyrunc's median over runc's must not exceed these
TARGETS = {
    "run": 0.7,
    "lifecycle": 0.7,
    "lifecycles_sequential": 0.7,
    "lifecycles_parallel": 0.7,
    "memory_uss": 1.0,
    "state": 2.0,
    "kill": 2.0,
    "delete": 2.0,
}
# issue 15: pyrunc's median at most this far above the floor's, timed in the same rotation
FLOOR_TARGETS = {"start": 1e-3, "state": 1e-3, "kill": 1e-3, "delete": 1e-3}
MIB = 1024 * 1024


def runtimes_in(doc: dict) -> list[str]:
    measured = set(doc.get("runtimes", {}))
    return [name for name in RUNTIME_ORDER if name in measured]


def scale_unit(measurement: str, unit: str) -> tuple[str, float, int]:
    """(label, divisor, decimals) to print a measurement's values."""
    if unit == "bytes":
        return "MiB", MIB, 2
    if measurement.startswith("lifecycles_"):
        return "s", 1.0, 2
    return "ms", 1e-3, 1


def row_title(doc: dict, name: str, title: str) -> str:
    settings = doc.get("settings", {})
    if name == "lifecycles_sequential":
        return f"{settings.get('scale_count', '?')} {title}"
    if name == "lifecycles_parallel":
        return f"{settings.get('scale_count', '?')} {title} ({settings.get('scale_workers', '?')} at once)"
    if name.startswith("memory_"):
        return f"{title} (of {settings.get('memory_containers', '?')})"
    return title


def cell(result: dict | None, divisor: float, decimals: int) -> str:
    if result is None:
        return "-"
    if "error" in result:
        return "error"
    return f"{result['median'] / divisor:.{decimals}f} ({result['min'] / divisor:.{decimals}f})"


def ratio(results: dict, top: str, bottom: str) -> float | None:
    a, b = results.get(top), results.get(bottom)
    if not a or not b or "median" not in a or "median" not in b or b["median"] == 0:
        return None
    return a["median"] / b["median"]


def target_cell(name: str, results: dict) -> str:
    limit = TARGETS.get(name)
    if limit is None:
        return ""
    value = ratio(results, "pyrunc", "runc")
    verdict = "not measured" if value is None else ("met" if value <= limit else "MISSED")
    return f"<= {limit:g}x runc: {verdict}"


def header_lines(doc: dict) -> list[str]:
    machine = doc.get("machine", {})
    start, end = fmt_load(machine.get("loadavg_start")), fmt_load(machine.get("loadavg_end"))
    lines = [
        f"Measured {doc.get('date', '?')} ({doc.get('mode', '?')} mode) on {machine.get('cpu_model', '?')}, "
        f"{machine.get('cpus', '?')} CPUs, kernel {machine.get('kernel', '?')}, "
        f"cgroup {machine.get('cgroup_layout', '?')}; load average {start} at start, {end} at end.",
        "",
    ]
    roots_fs = doc.get("settings", {}).get("roots_fs")
    if roots_fs:
        lines += [f"Each runtime's --root on {roots_fs} (on hosts, /run is a tmpfs).", ""]
    for name in runtimes_in(doc):
        first = doc["runtimes"][name].get("version", "").splitlines()
        lines.append(f"- {name}: {first[0] if first else '?'} ({doc['runtimes'][name].get('path', '?')})")
    for name, why in doc.get("skipped", {}).items():
        lines.append(f"- {name}: **not measured**: {why}")
    lines.append("")
    return lines


def fmt_load(load: list | None) -> str:
    return "/".join(f"{x:.2f}" for x in load) if load else "?"


def table_lines(doc: dict) -> list[str]:
    names = runtimes_in(doc)
    columns = ["measurement", "unit", *names, *(f"{a}/{b}" for a, b in RATIOS), "target (issue 8)"]
    rows = []
    measurements = doc.get("measurements", {})
    for m in MEASUREMENTS:
        if m.kind == "floor" or m.name not in measurements:
            continue
        results = measurements[m.name]["results"]
        label, divisor, decimals = scale_unit(m.name, m.unit)
        values = [cell(results.get(name), divisor, decimals) for name in names]
        ratios = [ratio(results, a, b) for a, b in RATIOS]
        ratio_cells = ["-" if r is None else f"{r:.2f}x" for r in ratios]
        rows.append(
            [row_title(doc, m.name, m.title), label, *values, *ratio_cells, target_cell(m.name, results)]
        )
    return markdown(columns, rows)


def markdown(columns: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(columns, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]


def floor_lines(doc: dict) -> list[str]:
    floor = doc.get("measurements", {}).get("floor")
    if not floor:
        return []
    python = doc.get("tools", {}).get("python_floor", "python")
    parts = [f"`{key} -c pass` {cell(result, 1e-3, 1)} ms" for key, result in floor["results"].items()]
    return ["", f"Interpreter floor ({python}), median (min): " + "; ".join(parts) + "."]


def above_floor(results: dict, name: str) -> float | None:
    """`name`'s median minus the floor's median timed in the same rotation (seconds)."""
    a, floor = results.get(name), results.get(FLOOR_KEY)
    if not a or not floor or "median" not in a or "median" not in floor:
        return None
    return a["median"] - floor["median"]


def paired_above_floor(results: dict, name: str, block: int) -> float | None:
    """`name` minus the floor, round by round: the median over the rotation's rounds of (its
    block's median - the floor's block's median in the same round). `times` hold the blocks in
    round order, `block` runs each. The host here switches between a fast and a slow phase (run
    times of about 10 and 13-14 ms) for seconds at a time; a median of 100 pooled runs falls in
    either, and moves by a millisecond between runs. Blocks of one round are run within a fraction
    of a second of each other, mostly in one phase. None without the times."""
    a, floor = results.get(name), results.get(FLOOR_KEY)
    if not a or not floor or block < 1:
        return None
    mine, base = a.get("times") or [], floor.get("times") or []
    rounds = min(len(mine), len(base)) // block
    if rounds == 0:
        return None

    def block_median(times: list[float], r: int) -> float:
        return statistics.median(times[r * block : (r + 1) * block])

    return statistics.median(block_median(mine, r) - block_median(base, r) for r in range(rounds))


def floor_target_cell(measurement: str, results: dict) -> str:
    limit = FLOOR_TARGETS.get(measurement)
    if limit is None:
        return ""
    value = above_floor(results, "pyrunc")
    verdict = "not measured" if value is None else ("met" if value <= limit else "MISSED")
    return f"<= floor + {limit * 1e3:g} ms: {verdict}"


def rotation_floor_lines(doc: dict) -> list[str]:
    """Each single verb against `python -I -S -c pass` timed in its own rotation, same fixtures."""
    measurements = doc.get("measurements", {})
    names = runtimes_in(doc)
    block = int(doc.get("settings", {}).get("verb_runs") or 0)
    rows = []
    for m in MEASUREMENTS:
        if m.name not in FLOOR_IN or m.name not in measurements:
            continue
        results = measurements[m.name]["results"]
        if FLOOR_KEY not in results:
            continue
        excess = [above_floor(results, name) for name in names]
        paired = paired_above_floor(results, "pyrunc", block) if "pyrunc" in names else None
        rows.append(
            [
                m.title,
                cell(results[FLOOR_KEY], 1e-3, 1),
                *("-" if e is None else f"{e * 1e3:+.1f}" for e in excess),
                *([] if "pyrunc" not in names else ["-" if paired is None else f"{paired * 1e3:+.1f}"]),
                floor_target_cell(m.name, results),
            ]
        )
    if not rows:
        return []
    by_round = ["pyrunc - floor, by round, ms"] if "pyrunc" in names else []
    columns = ["measurement", "floor, ms", *(f"{name} - floor, ms" for name in names), *by_round]
    columns.append("target (issue 15)")
    intro = (
        "Against the interpreter floor (`python -I -S -c pass`) timed in each verb's own rotation, "
        "under the same fixtures: median minus the floor's median; and, by round, the median over "
        "the rounds of pyrunc's block median minus the floor's in the same round (steadier when "
        "the host changes pace between rounds). The target is read on the first."
    )
    return ["", intro, "", *markdown(columns, rows)]


def errors_in(doc: dict) -> list[str]:
    """'measurement / runtime: error' for every result that failed."""
    return [
        f"{name} / {key}: {result['error']}"
        for name, measurement in doc.get("measurements", {}).items()
        for key, result in measurement["results"].items()
        if "error" in result
    ]


def error_lines(doc: dict) -> list[str]:
    lines = [f"- {line}" for line in errors_in(doc)]
    return ["", "Errors:", *lines] if lines else []


def render(doc: dict) -> str:
    """The whole report: header, table (median (min) per cell), floor, errors."""
    lines = header_lines(doc)
    lines += ["Each cell: median (min). Ratios compare medians.", ""]
    lines += table_lines(doc)
    lines += rotation_floor_lines(doc)
    lines += floor_lines(doc)
    lines += error_lines(doc)
    return "\n".join(lines) + "\n"
