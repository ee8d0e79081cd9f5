"""Generate pyrunc/config/_fastcheck.py, a pure-Python validator compiled from schema/*.json.

    python -m tools.gen.fastcheck pyrunc/config/_fastcheck.py

jsonschema stays the validator of record and the source of error messages, but importing it costs
~75 ms, more than `pyrunc create` may spend in total. So at build time this script turns the same
schema files into straight-line Python: one function per schema node, $ref resolved here, enums as
frozensets, every `pattern` compiled into a DFA over characters. The generated module imports nothing
at all; `check_config(doc)` / `check_process(doc)` return True exactly when jsonschema (with the
integer rule of pyrunc.config.validate: a JSON integer, never 1.0) accepts the document. The tests
hold the two to the same verdict on every corpus file and on hypothesis-generated documents.

A keyword this generator does not know makes it fail loudly rather than emit a lenient check.
The patterns' regex-to-DFA compiler is tools/gen/regex_dfa.py; this module is the code generator
(schema files, $ref resolution, one function per schema node). Build-time only: not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from tools.gen.regex_dfa import UnsupportedPattern, compile_pattern

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "pyrunc" / "config" / "schema"
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


class UnsupportedSchema(Exception):
    """The schema uses something the generator cannot compile exactly."""


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
                raise UnsupportedSchema(f"{where}: keyword {key!r} is not supported by tools/gen/fastcheck")
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
        "# Made by `python -m tools.gen.fastcheck` from pyrunc/config/schema/",
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
        print("usage: python -m tools.gen.fastcheck OUTPUT.py", file=sys.stderr)
        return 2
    write(argv[0], generate())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
