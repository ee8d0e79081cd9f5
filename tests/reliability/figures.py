"""Print the figures a reliability run wrote (RELIABILITY_FIGURES=FILE) as a Markdown table.

.venv/bin/python tests/reliability/figures.py FILE
"""

from __future__ import annotations

import json
import sys


def table(figures: dict) -> str:
    lines = [
        "| category | tries | problems | other figures |",
        "| --- | ---: | ---: | --- |",
    ]
    for category in sorted(figures):
        values = dict(figures[category])
        tries = values.pop("tries", 0)
        problems = values.pop("problems", 0)
        values.pop("known", None)  # written by runs before the bugs found were fixed
        other = ", ".join(f"{key}={value}" for key, value in sorted(values.items())) or "-"
        lines.append(f"| {category} | {tries} | {problems} | {other} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: figures.py FILE", file=sys.stderr)
        return 1
    try:
        with open(argv[0]) as f:
            figures = json.load(f)
    except (OSError, ValueError) as err:
        print(f"figures.py: cannot read {argv[0]}: {err}", file=sys.stderr)
        return 1
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
