"""Generate pyrunc/config/_fastcheck.py, a pure-Python validator compiled from schema/*.json.

    python -m pyrunc.config.gen_fastcheck pyrunc/config/_fastcheck.py

jsonschema stays the validator of record and the source of error messages, but importing it costs
~75 ms, more than `pyrunc create` may spend in total. So at build time this script turns the same
schema files into straight-line Python: one function per schema node, $ref resolved here, enums as
frozensets, every `pattern` compiled into a DFA over characters. The generated module imports nothing
at all; `check_config(doc)` / `check_process(doc)` return True exactly when jsonschema (with the
integer rule of pyrunc.config.validate: a JSON integer, never 1.0) accepts the document. The tests
hold the two to the same verdict on every corpus file and on hypothesis-generated documents.

A keyword this generator does not know makes it fail loudly rather than emit a lenient check.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from re import _constants as sre  # type: ignore[attr-defined]  # private, no stubs
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import urldefrag, urljoin

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILES = ("config.json", "defs.json", "defs-linux.json", "process.json")
ENTRY_POINTS = (("check_config", "config.json"), ("check_process", "process.json"))

# Keywords that never affect validation (annotations), plus any "x-..." keyword of ours.
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "description", "title", "default", "examples", "deprecated"}
)
TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    # pyrunc.config.validate redefines "integer" the same way: a JSON integer, not 1.0, not a bool.
    "integer": "type({v}) is int",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}
# Which instance types each keyword applies to (JSON Schema ignores it for the other types).
CATEGORY_OF = {
    "properties": "object",
    "required": "object",
    "additionalProperties": "object",
    "propertyNames": "object",
    "dependentRequired": "object",
    "minProperties": "object",
    "maxProperties": "object",
    "items": "array",
    "minItems": "array",
    "maxItems": "array",
    "minLength": "string",
    "maxLength": "string",
    "pattern": "string",
    "minimum": "number",
    "maximum": "number",
    "exclusiveMinimum": "number",
    "exclusiveMaximum": "number",
}
ANY_TYPE_KEYWORDS = frozenset({"type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf", "not", "if"})
IF_BRANCHES = frozenset({"then", "else"})
# Keywords simple enough to inline as one expression instead of calling a function.
INLINE_KEYWORDS = frozenset(
    {"type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    | {"minLength", "maxLength", "pattern"}
)
TYPES_OF_CATEGORY = {
    "object": {"object"},
    "array": {"array"},
    "string": {"string"},
    "number": {"integer", "number"},
}
MAX_COUNTED_REPEAT = 64


class UnsupportedSchema(Exception):
    """The schema uses something the generator cannot compile exactly."""


class UnsupportedPattern(Exception):
    """A regular expression outside the subset compiled to a DFA (it then falls back to `re`)."""


# --------------------------------------------------------------------------------------------------
# Schema files and $ref resolution (also used by the tests' hypothesis strategies).


class SchemaSet:
    """The schema files of pyrunc/config/schema, indexed by their $id."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self.directory = Path(directory)
        self.raw: dict[str, bytes] = {}
        self.documents: dict[str, dict] = {}
        self.uri_of: dict[str, str] = {}
        for name in SCHEMA_FILES:
            raw = (self.directory / name).read_bytes()
            document = json.loads(raw)
            uri = document["$id"]
            self.raw[name] = raw
            self.documents[uri] = document
            self.uri_of[name] = uri

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in SCHEMA_FILES:
            h.update(name.encode() + b"\0" + self.raw[name] + b"\0")
        return h.hexdigest()

    def root(self, name: str) -> tuple[object, str, str]:
        uri = self.uri_of[name]
        return self.documents[uri], uri, ""

    def resolve(self, base_uri: str, ref: str) -> tuple[object, str, str]:
        """(schema, document uri, JSON pointer) that `ref` names, relative to `base_uri`."""
        uri, fragment = urldefrag(urljoin(base_uri, ref))
        if uri not in self.documents:
            raise UnsupportedSchema(f"$ref {ref!r} names an unknown document {uri!r}")
        if fragment and not fragment.startswith("/"):
            raise UnsupportedSchema(f"$ref {ref!r}: only JSON-pointer fragments are supported")
        node: Any = self.documents[uri]
        for token in fragment.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (KeyError, IndexError, ValueError, TypeError):
                raise UnsupportedSchema(f"$ref {ref!r} does not resolve") from None
        return node, uri, fragment


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


LAZY_RE_SOURCE = """
_compiled_patterns = {}


def _re_search(pattern, s):
    # Only for a pattern the generator could not compile: `re` is imported on first use.
    compiled = _compiled_patterns.get(pattern)
    if compiled is None:
        import re

        compiled = _compiled_patterns[pattern] = re.compile(pattern)
    return compiled.search(s) is not None
"""


# --------------------------------------------------------------------------------------------------
# Schema -> Python source.


class _Generator:
    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.names: dict[tuple[str, str], str | None] = {}
        self.in_progress: set[tuple[str, str]] = set()
        self.functions: list[str] = []
        self.constants: dict[tuple, str] = {}
        self.constant_lines: list[str] = []
        self.patterns: dict[str, str] = {}
        self.pattern_sources: list[str] = []
        self.fallback_patterns: list[str] = []

    # -- small pieces ------------------------------------------------------------------------------

    def constant(self, values: tuple) -> str:
        if values not in self.constants:
            name = f"_E{len(self.constants)}"
            self.constants[values] = name
            self.constant_lines.append(f"{name} = frozenset({values!r})")
        return self.constants[values]

    def pattern(self, pattern: str) -> str:
        if pattern not in self.patterns:
            name = f"_p{len(self.patterns)}"
            self.patterns[pattern] = name
            try:
                self.pattern_sources.append(compile_pattern(pattern, name))
            except UnsupportedPattern:
                self.fallback_patterns.append(pattern)
                self.pattern_sources.append(f"def {name}(s):\n    return _re_search({pattern!r}, s)\n")
        return self.patterns[pattern]

    @staticmethod
    def keywords(schema: dict, where: str) -> list[str]:
        known = ANNOTATIONS | ANY_TYPE_KEYWORDS | IF_BRANCHES | set(CATEGORY_OF)
        for key in schema:
            if key not in known and not key.startswith("x-"):
                raise UnsupportedSchema(f"{where}: keyword {key!r} is not supported by gen_fastcheck")
        return [k for k in schema if k not in ANNOTATIONS and not k.startswith("x-")]

    @staticmethod
    def declared_types(schema: dict, where: str) -> list[str] | None:
        declared = schema.get("type")
        if declared is None:
            return None
        types = [declared] if isinstance(declared, str) else list(declared)
        for t in types:
            if t not in TYPE_TESTS:
                raise UnsupportedSchema(f"{where}: unknown type {t!r}")
        return types

    def string_set(self, values: list, where: str) -> str:
        if not all(isinstance(v, str) for v in values):
            raise UnsupportedSchema(f"{where}: only string enum/const values are supported")
        return self.constant(tuple(values))

    # -- expressions for the simple keywords ---------------------------------------------------------

    def simple_conditions(self, schema: dict, var: str, where: str) -> list[str]:
        """Conditions (all must hold) for type/enum/const and the scalar keywords, on `var`."""
        types = self.declared_types(schema, where)
        conditions = []
        if types is not None:
            tests = [TYPE_TESTS[t].format(v=var) for t in types]
            conditions.append(tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")")
        if "enum" in schema:
            conditions.append(
                f"(isinstance({var}, str) and {var} in {self.string_set(schema['enum'], where)})"
            )
        if "const" in schema:
            conditions.append(f"(isinstance({var}, str) and {var} == {self.string_const(schema, where)})")
        by_category: dict[str, list[str]] = {}
        for key, value in schema.items():
            test = self.scalar_test(key, value, var)
            if test:
                by_category.setdefault(CATEGORY_OF[key], []).append(test)
        for category, tests in by_category.items():
            joined = " and ".join(tests)
            if types is not None and set(types) <= TYPES_OF_CATEGORY[category]:
                conditions.append(joined)
            else:
                guard = self.category_guard(category, var)
                conditions.append(f"(not {guard} or ({joined}))")
        return conditions

    def string_const(self, schema: dict, where: str) -> str:
        if not isinstance(schema["const"], str):
            raise UnsupportedSchema(f"{where}: only string const values are supported")
        return repr(schema["const"])

    def scalar_test(self, key: str, value, var: str) -> str | None:
        if key == "minLength":
            return f"len({var}) >= {value!r}"
        if key == "maxLength":
            return f"len({var}) <= {value!r}"
        if key == "pattern":
            return f"{self.pattern(value)}({var})"
        if key == "minimum":
            return f"{var} >= {value!r}"
        if key == "maximum":
            return f"{var} <= {value!r}"
        if key == "exclusiveMinimum":
            return f"{var} > {value!r}"
        if key == "exclusiveMaximum":
            return f"{var} < {value!r}"
        return None

    @staticmethod
    def category_guard(category: str, var: str) -> str:
        if category == "number":
            return TYPE_TESTS["number"].format(v=var)
        return TYPE_TESTS[category].format(v=var)

    # -- the general case --------------------------------------------------------------------------

    def test(self, schema, uri: str, pointer: str, var: str) -> str | None:
        """Expression true when `var` is valid against schema; None when every value is."""
        where = f"{uri.rsplit('/', 1)[-1]}#{pointer}"
        if schema is True:
            return None
        if schema is False:
            return "False"
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"{where}: a schema must be an object or a boolean")
        keys = self.keywords(schema, where)
        if keys == ["$ref"]:
            return self.test(*self.schemas.resolve(uri, schema["$ref"]), var)
        if set(keys) <= INLINE_KEYWORDS:
            conditions = self.simple_conditions(schema, var, where)
            return " and ".join(conditions) if conditions else None
        name = self.function(schema, uri, pointer)
        return f"{name}({var})" if name else None

    def function(self, schema: dict, uri: str, pointer: str) -> str | None:
        key = (uri, pointer)
        if key in self.names:
            return self.names[key]
        if key in self.in_progress:
            raise UnsupportedSchema(f"recursive schema at {uri}#{pointer}")
        self.in_progress.add(key)
        body = self.body(schema, uri, pointer)
        self.in_progress.discard(key)
        if not body:
            self.names[key] = None
            return None
        name = f"_n{len([n for n in self.names.values() if n])}"
        self.names[key] = name
        where = f"{uri.rsplit('/', 1)[-1]}#{pointer}"
        lines = [f"def {name}(x):", f"    # {where}"]
        lines += [f"    {line}" for line in body]
        lines.append("    return True")
        self.functions.append("\n".join(lines) + "\n")
        return name

    def body(self, schema: dict, uri: str, pointer: str) -> list[str]:
        where = f"{uri.rsplit('/', 1)[-1]}#{pointer}"
        self.keywords(schema, where)
        types = self.declared_types(schema, where)
        lines = [f"if not ({c}): return False" for c in self.simple_conditions(schema, "x", where)]
        lines += self.combinators(schema, uri, pointer)
        for category in ("object", "array"):
            block = self.category_block(category, schema, uri, pointer)
            if not block:
                continue
            if types is not None and set(types) <= TYPES_OF_CATEGORY[category]:
                lines += block
            else:
                lines.append(f"if {self.category_guard(category, 'x')}:")
                lines += [f"    {line}" for line in block]
        return lines

    def sub(self, schema, uri: str, pointer: str, var: str) -> str | None:
        return self.test(schema, uri, pointer, var)

    def combinators(self, schema: dict, uri: str, pointer: str) -> list[str]:
        lines = []
        if "$ref" in schema:
            test = self.test(*self.schemas.resolve(uri, schema["$ref"]), "x")
            if test:
                lines.append(f"if not ({test}): return False")
        for i, part in enumerate(schema.get("allOf", ())):
            test = self.sub(part, uri, f"{pointer}/allOf/{i}", "x")
            if test:
                lines.append(f"if not ({test}): return False")
        if "anyOf" in schema:
            tests = [self.sub(p, uri, f"{pointer}/anyOf/{i}", "x") for i, p in enumerate(schema["anyOf"])]
            if None not in tests:
                lines.append(f"if not ({' or '.join(f'({t})' for t in tests)}): return False")
        if "oneOf" in schema:
            tests = [
                self.sub(p, uri, f"{pointer}/oneOf/{i}", "x") or "True" for i, p in enumerate(schema["oneOf"])
            ]
            lines.append(f"if [{', '.join(f'bool({t})' for t in tests)}].count(True) != 1: return False")
        if "not" in schema:
            test = self.sub(schema["not"], uri, f"{pointer}/not", "x") or "True"
            lines.append(f"if {test}: return False")
        if "if" in schema:
            lines += self.conditional(schema, uri, pointer)
        return lines

    def conditional(self, schema: dict, uri: str, pointer: str) -> list[str]:
        condition = self.sub(schema["if"], uri, f"{pointer}/if", "x") or "True"
        then = self.sub(schema.get("then", True), uri, f"{pointer}/then", "x")
        otherwise = self.sub(schema.get("else", True), uri, f"{pointer}/else", "x")
        lines = []
        if then:
            lines.append(f"if ({condition}) and not ({then}): return False")
        if otherwise:
            lines.append(f"if not ({condition}) and not ({otherwise}): return False")
        return lines

    def category_block(self, category: str, schema: dict, uri: str, pointer: str) -> list[str]:
        if category == "object":
            return self.object_block(schema, uri, pointer)
        return self.array_block(schema, uri, pointer)

    def object_block(self, schema: dict, uri: str, pointer: str) -> list[str]:
        lines = []
        required = schema.get("required", [])
        if required:
            lines.append(f"if not ({' and '.join(f'{k!r} in x' for k in required)}): return False")
        for trigger, needed in schema.get("dependentRequired", {}).items():
            if needed:
                needs = " and ".join(f"{k!r} in x" for k in needed)
                lines.append(f"if {trigger!r} in x and not ({needs}): return False")
        if "minProperties" in schema:
            lines.append(f"if len(x) < {schema['minProperties']!r}: return False")
        if "maxProperties" in schema:
            lines.append(f"if len(x) > {schema['maxProperties']!r}: return False")
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            test = self.sub(sub, uri, f"{pointer}/properties/{_escape(name)}", "v")
            if test:
                lines += [f"if {name!r} in x:", f"    v = x[{name!r}]", f"    if not ({test}): return False"]
        if "additionalProperties" in schema:
            lines += self.additional_properties(schema, uri, pointer, properties)
        if "propertyNames" in schema:
            test = self.sub(schema["propertyNames"], uri, f"{pointer}/propertyNames", "k")
            if test:
                lines += ["for k in x:", f"    if not ({test}): return False"]
        return lines

    def additional_properties(self, schema: dict, uri: str, pointer: str, properties: dict) -> list[str]:
        test = self.sub(schema["additionalProperties"], uri, f"{pointer}/additionalProperties", "v")
        if not test:
            return []
        if not properties:
            return ["for v in x.values():", f"    if not ({test}): return False"]
        known = self.constant(tuple(properties))
        return ["for k, v in x.items():", f"    if k not in {known} and not ({test}): return False"]

    def array_block(self, schema: dict, uri: str, pointer: str) -> list[str]:
        lines = []
        if "minItems" in schema:
            lines.append(f"if len(x) < {schema['minItems']!r}: return False")
        if "maxItems" in schema:
            lines.append(f"if len(x) > {schema['maxItems']!r}: return False")
        if "items" in schema:
            test = self.sub(schema["items"], uri, f"{pointer}/items", "v")
            if test:
                lines += ["for v in x:", f"    if not ({test}): return False"]
        return lines


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def generate(schemas: SchemaSet | None = None) -> str:
    """The source text of _fastcheck.py (deterministic for given schema files)."""
    schemas = schemas or SchemaSet()
    gen = _Generator(schemas)
    entries = []
    for public, file_name in ENTRY_POINTS:
        test = gen.test(*schemas.root(file_name), "doc") or "True"
        entries.append(
            f"def {public}(doc):\n"
            f'    """True when doc is valid against schema/{file_name} (the verdict jsonschema gives)."""\n'
            f"    return {test}\n"
        )
    header = [
        "# GENERATED FILE - DO NOT EDIT.",
        "# Made by `python -m pyrunc.config.gen_fastcheck` from pyrunc/config/schema/",
        f"# ({', '.join(SCHEMA_FILES)}),",
        f"# schema sha256 {schemas.digest()}.",
        "# A pure-Python validator with the same verdicts as jsonschema; it imports nothing.",
        "",
        f"SCHEMA_SHA256 = {schemas.digest()!r}",
        f"FALLBACK_PATTERNS = {tuple(gen.fallback_patterns)!r}",
        "",
    ]
    parts = ["\n".join(header), "\n".join(gen.constant_lines) + "\n"]
    if gen.fallback_patterns:
        parts.append(LAZY_RE_SOURCE)
    parts += gen.pattern_sources + gen.functions + entries
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)


def write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m pyrunc.config.gen_fastcheck OUTPUT.py", file=sys.stderr)
        return 2
    write(argv[0], generate())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
