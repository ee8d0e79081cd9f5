"""Hypothesis strategies derived from pyrunc/config/schema/*.json.

`valid_documents(name)` draws documents meant to satisfy the schema (test_config_fastcheck checks
that jsonschema agrees they do); `mutated_documents(name)` takes such a document and damages it in
1-3 places (a node replaced by other JSON, a key removed or added, a string nudged), which gives
documents on both sides of every keyword. Only the keywords our schema uses are understood.
"""

from __future__ import annotations

import copy

from hypothesis import strategies as st

from tools.gen.fastcheck import ANNOTATIONS, SchemaSet

MAX_LIST = 2
INTERESTING_INTS = [
    0, 1, -1, 7, 8, 99, 100, 101, 65535, 65536, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1,
    2**32 - 1, 2**32, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64,
]  # fmt: skip
INTERESTING_STRINGS = [
    "",
    "\n",
    "/",
    "a",
    "x\n",
    "1.2.0",
    "1.2.0\n",
    "2MB",
    "MB:",
    "rwm",
    "RLIMIT_NOFILE",
    "\u0000",
]

scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from(INTERESTING_INTS)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(INTERESTING_STRINGS)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


class _Builder:
    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.cache: dict = {}

    def strategy(self, schema, uri: str, pointer: str):
        key = (uri, pointer)
        if key not in self.cache:
            self.cache[key] = st.deferred(lambda: self._build(schema, uri, pointer))
        return self.cache[key]

    @staticmethod
    def _clean(schema: dict) -> dict:
        return {k: v for k, v in schema.items() if k not in ANNOTATIONS and not k.startswith("x-")}

    def merged(self, schema: dict, uri: str) -> tuple[dict, str]:
        """Fold a `$ref` next to other keywords into one schema (enough for our object schemas)."""
        schema = self._clean(schema)
        while "$ref" in schema:
            target, target_uri, _ptr = self.schemas.resolve(uri, schema.pop("$ref"))
            if not schema:
                schema, uri = self._clean(target), target_uri
                continue
            if set(schema) - {"properties", "required", "anyOf"}:
                raise NotImplementedError(f"$ref beside {sorted(schema)}")
            base = self._clean(target)
            base["properties"] = {**base.get("properties", {}), **schema.get("properties", {})}
            base["required"] = base.get("required", []) + schema.get("required", [])
            if "anyOf" in schema:
                base["anyOf"] = schema["anyOf"]
            if uri != target_uri and schema.get("properties"):
                raise NotImplementedError("merging properties across documents")
            schema, uri = base, target_uri
        return schema, uri

    def _build(self, schema, uri: str, pointer: str):
        if schema is True:
            return json_values
        schema, uri = self.merged(schema, uri)
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            return self._object(schema, uri, pointer)
        if kind == "array":
            item = self.strategy(schema.get("items", True), uri, f"{pointer}/items")
            return st.lists(
                item, min_size=schema.get("minItems", 0), max_size=max(MAX_LIST, schema.get("minItems", 0))
            )
        if kind == "string":
            if "pattern" in schema:
                matching = st.from_regex(schema["pattern"])
                if pointer.endswith("/ociVersion") or "SemVer" in str(schema.get("description")):
                    # Mostly 1.x, so that documents also get past the semantic version check.
                    return st.sampled_from(["1.2.0", "1.0.2-dev", "1.1.0+build.5"]) | matching
                return matching
            return st.text(min_size=schema.get("minLength", 0), max_size=12)
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "boolean":
            return st.booleans()
        raise NotImplementedError(f"no strategy for {uri}#{pointer}: {schema}")

    def _object(self, schema: dict, uri: str, pointer: str):
        properties = {
            name: self.strategy(sub, uri, f"{pointer}/properties/{name}")
            for name, sub in schema.get("properties", {}).items()
        }
        required = set(schema.get("required", ()))
        then = schema.get("then", {}) if "if" in schema else {}
        always = required | set(then.get("required", ()))  # e.g. device major/minor: fine for type p too
        fixed = {k: properties[k] for k in properties if k in always}
        optional = {k: properties[k] for k in properties if k not in always}
        dependents = schema.get("dependentRequired", {})
        alternatives = [b["required"] for b in schema.get("anyOf", ())]
        extra = schema.get("additionalProperties")
        names = schema.get("propertyNames", {})

        @st.composite
        def draw_object(draw):
            doc = draw(st.fixed_dictionaries(fixed, optional=optional))
            if alternatives and not any(all(k in doc for k in alt) for alt in alternatives):
                for k in draw(st.sampled_from(alternatives)):
                    doc[k] = draw(properties[k])
            for trigger, needed in dependents.items():
                if trigger in doc:
                    for k in needed:
                        doc.setdefault(k, draw(properties[k]))
            if isinstance(extra, dict):
                value = self.strategy(extra, uri, f"{pointer}/additionalProperties")
                key = st.text(min_size=names.get("minLength", 0), max_size=10)
                doc.update(draw(st.dictionaries(key, value, max_size=MAX_LIST)))
            elif draw(st.integers(0, 9)) == 0:
                doc[draw(st.sampled_from(["x-vendor", "unknownField"]))] = draw(json_values)  # allowed
            return doc

        return draw_object()


def valid_documents(name: str = "config.json"):
    schemas = SchemaSet()
    return _Builder(schemas).strategy(*schemas.root(name))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _nudge(text: str, draw) -> str:
    where = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["insert", "delete", "replace"]))
    char = draw(st.sampled_from(list("\n.-+0aZ/_:é")) | st.characters())
    if how == "insert" or not text:
        return text[:where] + char + text[where:]
    where = min(where, len(text) - 1)
    return text[:where] + ("" if how == "delete" else char) + text[where + 1 :]


def mutate(doc, draw):
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        if not path:
            return draw(json_values)
        *parents, last = path
        parent = doc
        for part in parents:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add", "nudge"]))
        current = parent[last]
        if action == "replace":
            parent[last] = draw(json_values)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(current, dict):
            current[draw(st.sampled_from(["type", "path", "size", "x"]) | st.text(max_size=6))] = draw(
                json_values
            )
        elif action == "add" and isinstance(current, list):
            current.append(draw(json_values))
        elif isinstance(current, str):
            parent[last] = _nudge(current, draw)
        elif isinstance(current, int) and not isinstance(current, bool):
            parent[last] = current + draw(st.sampled_from([-1, 1, 2**32, -(2**64)]))
    return doc


def mutated_documents(name: str = "config.json"):
    base = valid_documents(name)

    @st.composite
    def draw_mutated(draw):
        return mutate(draw(base), draw)

    return draw_mutated()


def mutated_from(documents: list):
    """Documents near known-good ones (e.g. the good corpus): most checks pass, one or two fail,
    so the semantic checks deep in the document are reached too."""

    @st.composite
    def draw_near(draw):
        return mutate(draw(st.sampled_from(documents)), draw)

    return draw_near()
