"""Regular expressions -> DFA -> Python source: the pattern compiler of tools/gen/fastcheck.py.

    compile_pattern(pattern, name) -> the source of `def name(s)`, True exactly when
    re.search(pattern, s) matches; UnsupportedPattern outside the subset it compiles.

Build-time only (not installed): the generated validator runs the DFA without importing `re`.
"""

from __future__ import annotations

from re import _constants as sre  # type: ignore[attr-defined]  # private, no stubs
from re import _parser as sre_parse  # type: ignore[attr-defined]

MAX_COUNTED_REPEAT = 64  # a{n,m} beyond this is left to `re` (the DFA would grow too large)


class UnsupportedPattern(Exception):
    """A regular expression outside the subset compiled to a DFA (it then falls back to `re`)."""


# --------------------------------------------------------------------------------------------------
# Regular expressions -> DFA -> Python source.
#
# jsonschema tests `pattern` with re.search(pattern, s). The subset handled here: literals, classes
# and ranges (no \d, \w: those are Unicode-aware), '.', groups, alternation, greedy or lazy repeats
# (the language matched is the same), '^' / '\A' at the start and '$' / '\Z' at the end. Search
# semantics become part of the automaton: without '^' the DFA may skip any prefix; without '$' any
# suffix. '$' also matches before one final newline, exactly as in `re`.

_MAXCHAR = 0x10FFFF


def _normalize(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _complement(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _MAXCHAR:
        out.append((start, _MAXCHAR))
    return tuple(out)


ANY_CHAR = ((0, _MAXCHAR),)
NOT_NEWLINE = _complement(((10, 10),))


class _NFA:
    def __init__(self) -> None:
        self.edges: list[list[tuple[tuple | None, int]]] = []

    def new(self) -> int:
        self.edges.append([])
        return len(self.edges) - 1

    def link(self, a: int, b: int, chars: tuple | None = None) -> None:
        self.edges[a].append((chars, b))


def _class_ranges(items: list) -> tuple[tuple[int, int], ...]:
    ranges, negate = [], False
    for op, value in items:
        if op is sre.LITERAL:
            ranges.append((value, value))
        elif op is sre.RANGE:
            ranges.append(value)
        elif op is sre.NEGATE:
            negate = True
        else:
            raise UnsupportedPattern(f"character class item {op}")
    chars = _normalize(ranges)
    return _complement(chars) if negate else chars


def _build_sequence(nfa: _NFA, items, start: int) -> int:
    state = start
    for op, value in items:
        state = _build_item(nfa, op, value, state)
    return state


def _build_item(nfa: _NFA, op, value, start: int) -> int:
    if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
        chars: tuple[tuple[int, int], ...]
        if op is sre.LITERAL:
            chars = ((value, value),)
        elif op is sre.NOT_LITERAL:
            chars = _complement(((value, value),))
        elif op is sre.ANY:
            chars = NOT_NEWLINE
        else:
            chars = _class_ranges(value)
        end = nfa.new()
        nfa.link(start, end, chars)
        return end
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = value
        if add_flags or del_flags:
            raise UnsupportedPattern("inline flags")
        return _build_sequence(nfa, sub, start)
    if op is sre.BRANCH:
        end = nfa.new()
        for alternative in value[1]:
            first = nfa.new()
            nfa.link(start, first)
            nfa.link(_build_sequence(nfa, alternative, first), end)
        return end
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        return _build_repeat(nfa, value, start)
    raise UnsupportedPattern(f"regex construct {op}")


def _build_repeat(nfa: _NFA, value, start: int) -> int:
    low, high, sub = value
    unbounded = high is sre.MAXREPEAT
    if low > MAX_COUNTED_REPEAT or (not unbounded and high > MAX_COUNTED_REPEAT):
        raise UnsupportedPattern("counted repeat too large")
    state = start
    for _ in range(low):
        state = _build_sequence(nfa, sub, state)
    if unbounded:
        loop = nfa.new()
        nfa.link(state, loop)
        nfa.link(_build_sequence(nfa, sub, loop), loop)
        return loop
    end = nfa.new()
    nfa.link(state, end)
    for _ in range(high - low):
        state = _build_sequence(nfa, sub, state)
        nfa.link(state, end)
    return end


def _pattern_nfa(pattern: str) -> tuple[_NFA, int, int, str]:
    """(nfa, start, accept, end_kind): end_kind is 'dollar' when a final '$' may precede a newline."""
    parsed = sre_parse.parse(pattern)
    if parsed.state.flags & ~sre.SRE_FLAG_UNICODE:
        raise UnsupportedPattern("flags")
    items = list(parsed)
    anchored = bool(items) and items[0] in ((sre.AT, sre.AT_BEGINNING), (sre.AT, sre.AT_BEGINNING_STRING))
    if anchored:
        items = items[1:]
    end_kind = "open"
    if items and items[-1] == (sre.AT, sre.AT_END):
        end_kind, items = "dollar", items[:-1]
    elif items and items[-1] == (sre.AT, sre.AT_END_STRING):
        end_kind, items = "strict", items[:-1]
    nfa = _NFA()
    start = nfa.new()
    if not anchored:
        nfa.link(start, start, ANY_CHAR)  # re.search may begin anywhere
    accept = _build_sequence(nfa, items, start)
    if end_kind == "open":
        nfa.link(accept, accept, ANY_CHAR)  # ... and may end anywhere
    return nfa, start, accept, end_kind


def _closure(nfa: _NFA, states) -> frozenset:
    seen, stack = set(states), list(states)
    while stack:
        for chars, target in nfa.edges[stack.pop()]:
            if chars is None and target not in seen:
                seen.add(target)
                stack.append(target)
    return frozenset(seen)


def _contains(chars: tuple, code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in chars)


def _determinize(nfa: _NFA, start: int, accept: int):
    """Subset construction over the elementary intervals of all character sets.

    Returns (intervals, rows, accepting): rows[state][i] is the next state on intervals[i], -1 dead.
    """
    cuts = {0, _MAXCHAR + 1}
    for edges in nfa.edges:
        for chars, _target in edges:
            for lo, hi in chars or ():
                cuts.update((lo, hi + 1))
    points = sorted(cuts)
    intervals = [(points[i], points[i + 1] - 1) for i in range(len(points) - 1)]
    first = _closure(nfa, [start])
    index, order = {first: 0}, [first]
    rows: list[list[int]] = []
    while len(rows) < len(order):
        current = order[len(rows)]
        row = []
        for lo, _hi in intervals:
            moved = {t for s in current for chars, t in nfa.edges[s] if chars and _contains(chars, lo)}
            nxt = _closure(nfa, moved) if moved else frozenset()
            if not nxt:
                row.append(-1)
                continue
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            row.append(index[nxt])
        rows.append(row)
    accepting = [accept in states for states in order]
    return intervals, rows, accepting


def _minimize(rows: list[list[int]], accepting: list[bool]) -> tuple[list[list[int]], list[bool]]:
    """Moore partition refinement, then renumbering in breadth-first order from state 0."""
    block = [1 if a else 0 for a in accepting]
    while True:
        signatures = [(block[s], *(block[t] if t >= 0 else -1 for t in row)) for s, row in enumerate(rows)]
        numbering: dict = {}
        new_block = [numbering.setdefault(sig, len(numbering)) for sig in signatures]
        if len(numbering) == len(set(block)):
            break
        block = new_block
    order: list[int] = []
    seen: dict[int, int] = {}
    queue = [0]
    while queue:
        state = queue.pop(0)
        if block[state] in seen:
            continue
        seen[block[state]] = len(order)
        order.append(state)
        queue.extend(t for t in rows[state] if t >= 0)
    new_rows = [[seen[block[t]] if t >= 0 else -1 for t in rows[s]] for s in order]
    return new_rows, [accepting[s] for s in order]


def _char_condition(ranges: list[tuple[int, int]]) -> str:
    singles = [chr(lo) for lo, hi in ranges if lo == hi]
    spans = [f"{chr(lo)!r} <= c <= {chr(hi)!r}" for lo, hi in ranges if lo != hi]
    parts = []
    if len(singles) == 1:
        parts.append(f"c == {singles[0]!r}")
    elif singles:
        parts.append(f"c in {''.join(singles)!r}")
    return " or ".join(parts + spans)


def _action(state: int, target: int, absorbing: set[int]) -> str:
    if target in absorbing:
        return "return True"
    return "pass" if target == state else f"st = {target}"


def _state_code(state: int, row: list[int], intervals, absorbing: set[int]) -> list[str]:
    groups: dict[int, list[tuple[int, int]]] = {}
    for (lo, hi), target in zip(intervals, row, strict=True):
        ranges = groups.setdefault(target, [])
        if ranges and ranges[-1][1] + 1 == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))
    live = [(t, r) for t, r in groups.items() if t >= 0]
    if len(live) == 1 and -1 not in groups:
        return [_action(state, live[0][0], absorbing)]
    lines = []
    for number, (target, ranges) in enumerate(live):
        last_and_total = number == len(live) - 1 and -1 not in groups
        head = "else:" if last_and_total else f"{'if' if number == 0 else 'elif'} {_char_condition(ranges)}:"
        lines += [head, f"    {_action(state, target, absorbing)}"]
    if -1 in groups:
        lines += ["else:", "    return False"] if live else ["return False"]
    return lines


def compile_pattern(pattern: str, name: str) -> str:
    """Python source of `def name(s) -> bool`, True exactly when re.search(pattern, s) matches.

    Raises UnsupportedPattern when the pattern is outside the compiled subset.
    """
    try:
        nfa, start, accept, end_kind = _pattern_nfa(pattern)
    except (sre_parse.error, RecursionError) as err:
        raise UnsupportedPattern(str(err)) from None
    intervals, rows, accepting = _determinize(nfa, start, accept)
    rows, accepting = _minimize(rows, accepting)
    absorbing = {s for s, row in enumerate(rows) if accepting[s] and all(t == s for t in row)}
    dfa = f"{name}_dfa" if end_kind == "dollar" else name
    lines = [f"def {dfa}(s):", f"    # re.search({pattern!r}, s)"]
    if 0 in absorbing:
        lines.append("    return True")
    else:
        lines += ["    st = 0", "    for c in s:"]
        for state, row in enumerate(rows):
            if state in absorbing:
                continue
            lines.append(f"        {'if' if state == 0 else 'elif'} st == {state}:")
            lines += [f"            {line}" for line in _state_code(state, row, intervals, absorbing)]
        finals = [s for s, ok in enumerate(accepting) if ok and s not in absorbing]
        lines.append(f"    return st in {tuple(finals)!r}" if finals else "    return False")
    if end_kind == "dollar":
        lines += ["", "", f"def {name}(s):", f'    return {dfa}(s) or (s[-1:] == "\\n" and {dfa}(s[:-1]))']
    return "\n".join(lines) + "\n"
