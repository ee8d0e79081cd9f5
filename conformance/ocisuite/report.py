"""Reading results.json files: side-by-side comparison and the CI gate."""

from __future__ import annotations

import json
import os

SYMBOL = {"pass": "pass", "fail": "FAIL", "skip": "skip", None: "-"}


class ResultSet:
    def __init__(self, path: str) -> None:
        is_file = path.endswith(".json") and not os.path.isdir(path)
        file = path if is_file else os.path.join(path, "results.json")
        try:
            with open(file) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"{file}: cannot read results ({e})") from e
        if not isinstance(doc.get("cases"), dict):
            raise ValueError(f"{file}: no 'cases' object")
        self.path = path
        self.name = doc.get("runtime_name") or os.path.basename(os.path.normpath(path))
        self.cases: dict[str, dict] = doc["cases"]
        self.planned = doc.get("planned", len(self.cases))

    def status(self, case: str) -> str | None:
        entry = self.cases.get(case)
        return entry.get("status") if entry else None

    def totals(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "skip": 0}
        for entry in self.cases.values():
            counts[entry.get("status", "fail")] = counts.get(entry.get("status", "fail"), 0) + 1
        return counts


def all_case_names(sets: list[ResultSet]) -> list[str]:
    seen: dict[str, None] = {}
    for s in sets:
        for name in s.cases:
            seen.setdefault(name, None)
    return list(seen)


def compare_table(sets: list[ResultSet], only_diff: bool = False) -> str:
    """Per-case status side by side, '*' where the runtimes disagree, then totals."""
    names = all_case_names(sets)
    headers = _unique_headers(sets)
    width = max([len("total pass"), *(len(n) for n in names)]) + 2
    col = max(8, *(len(h) for h in headers)) + 2
    lines = ["  " + "case".ljust(width) + "".join(h.ljust(col) for h in headers)]
    for name in names:
        statuses = [s.status(name) for s in sets]
        differs = len(set(statuses)) > 1
        if only_diff and not differs:
            continue
        mark = "* " if differs else "  "
        lines.append(mark + name.ljust(width) + "".join(SYMBOL[st].ljust(col) for st in statuses))
    lines.append("")
    for kind in ("pass", "fail", "skip"):
        lines.append(
            "  " + f"total {kind}".ljust(width) + "".join(str(s.totals()[kind]).ljust(col) for s in sets)
        )
    lines.append("  " + "cases".ljust(width) + "".join(str(len(s.cases)).ljust(col) for s in sets))
    return "\n".join(lines)


def _unique_headers(sets: list[ResultSet]) -> list[str]:
    headers = [s.name for s in sets]
    for i, h in enumerate(headers):
        if headers.count(h) > 1:
            headers[i] = f"{h} ({os.path.basename(os.path.normpath(sets[i].path))})"
    return headers


def ci_gate(pyrunc: ResultSet, runc: ResultSet, crun: ResultSet | None = None) -> tuple[list[str], list[str]]:
    """(regressions, warnings): cases runc passes that pyrunc does not; same for crun, as warnings."""
    regressions = [
        f"{name}: runc pass, pyrunc {SYMBOL[pyrunc.status(name)]}: {_reason(pyrunc, name)}"
        for name in runc.cases
        if runc.status(name) == "pass" and pyrunc.status(name) != "pass"
    ]
    warnings = []
    if crun is not None:
        warnings = [
            f"{name}: crun pass, pyrunc {SYMBOL[pyrunc.status(name)]}: {_reason(pyrunc, name)}"
            for name in crun.cases
            if crun.status(name) == "pass" and pyrunc.status(name) != "pass" and runc.status(name) != "pass"
        ]
    return regressions, warnings


def _reason(rs: ResultSet, name: str) -> str:
    entry = rs.cases.get(name)
    if not entry:
        return "not run"
    reason = (entry.get("reason") or "").splitlines()
    return reason[0][:160] if reason else ""
