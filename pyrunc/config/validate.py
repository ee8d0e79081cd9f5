"""Validate config.json and process.json documents; the API the rest of pyrunc calls.

    validate_config(config)    # raises pyrunc.config.ConfigError(where, problem)
    validate_process(process)  # the same, for `exec --process FILE` (document "process.json")
    validate_resources(resources)  # `update`: a LinuxResources document, as create checks linux.resources

Three stages:
1. the generated validator pyrunc.config._fastcheck (built from schema/*.json by tools/gen/fastcheck.py):
   pure Python, imports nothing, answers valid / invalid in microseconds;
2. only when it says invalid: jsonschema, the validator of record, on the same schema files; its
   most relevant error becomes the ConfigError (JSON path + plain words);
3. the semantic checks of pyrunc.config.semantic (what a schema cannot express).

This module is imported on the `create` path: it must not import jsonschema, json, re or typing at
module level. Stage 2 imports them when a document is actually invalid.
"""

from pyrunc.config import ConfigError, semantic

try:
    from pyrunc.config import _fastcheck
except ImportError:  # not generated yet (a source tree without a build): jsonschema decides alone
    _fastcheck = None  # type: ignore[assignment]

CONFIG_SCHEMA = "config.json"
PROCESS_SCHEMA = "process.json"
_validators: dict = {}


def validate_config(config: object, *, require_process: bool = True) -> None:
    """Raise ConfigError unless `config` is a valid runtime-spec 1.2 config for Linux.

    `require_process`: `create` and `run` need a process (args, cwd); other callers may not.
    """
    if _fastcheck is None or not _fastcheck.check_config(config):
        raise_schema_error(config, CONFIG_SCHEMA, "config.json")
    semantic.check_config(config, require_process=require_process)  # type: ignore[arg-type]  # the schema held


def validate_process(process: object, *, config: dict | None = None) -> None:
    """Raise ConfigError (document "process.json") unless `process` is a valid process object.

    `config`: the container's (valid) config.json, when the caller has it: then the user must also
    be mapped by the container's user namespace.
    """
    if _fastcheck is None or not _fastcheck.check_process(process):
        raise_schema_error(process, PROCESS_SCHEMA, "process.json")
    semantic.check_process(process, where=(), document="process.json", config=config)  # type: ignore[arg-type]


def validate_resources(resources: object, document: str = "resources") -> None:
    """Raise ConfigError unless `resources` is a LinuxResources object (`update --resources`).

    It is checked as `create` checks linux.resources: against the config schema (the document is
    wrapped in the smallest valid config, so the generated validator answers first), then by
    semantic.check_resources (ranges, cross-field rules) as a change to a running container.
    The cgroup mapping checks no values: what it refuses is what the cgroup cannot take.
    """
    from pyrunc import OCI_VERSION

    wrapper = {"ociVersion": OCI_VERSION, "root": {"path": "rootfs"}, "linux": {"resources": resources}}
    if _fastcheck is None or not _fastcheck.check_config(wrapper):
        error = best_error(schema_validator(CONFIG_SCHEMA), wrapper)
        if error is not None:
            where = list(error.absolute_path)[2:]  # below linux.resources
            raise ConfigError(semantic.json_path(where), describe(error), document)
    semantic.check_resources(resources, document=document, update=True)  # type: ignore[arg-type]  # the schema held


def raise_schema_error(document: object, schema_name: str, document_name: str) -> None:
    """Run jsonschema; raise its most relevant error as a ConfigError. Returns if it finds none
    (the fast validator and jsonschema disagreed: jsonschema is the validator of record)."""
    error = best_error(schema_validator(schema_name), document)
    if error is not None:
        raise ConfigError(semantic.json_path(error.absolute_path), describe(error), document_name)


def schema_validator(schema_name: str):
    """A jsonschema validator for one of schema/*.json, with pyrunc's integer rule (cached)."""
    if schema_name not in _validators:
        _validators[schema_name] = _make_validator(schema_name)
    return _validators[schema_name]


def _make_validator(schema_name: str):
    from pathlib import Path

    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    from pyrunc import jsonio

    directory = Path(__file__).resolve().parent / "schema"
    documents = {p.name: jsonio.loads(p.read_bytes()) for p in sorted(directory.glob("*.json"))}
    registry = Registry().with_resources(
        (doc["$id"], DRAFT202012.create_resource(doc)) for doc in documents.values()
    )
    base = jsonschema.Draft202012Validator
    # JSON Schema 2020-12 counts 1.0 as an integer; Go's encoding/json (runc) and our C plan do not.
    checker = base.TYPE_CHECKER.redefine("integer", lambda _checker, instance: type(instance) is int)
    cls = jsonschema.validators.extend(base, type_checker=checker)
    return cls(documents[schema_name], registry=registry)


def best_error(validator, document: object):
    """jsonschema's most relevant error (best_match: errors nearer the root win, then the strongest
    keyword), or None. Deterministic: errors come in schema and document order."""
    from jsonschema.exceptions import relevance

    errors = list(validator.iter_errors(document))
    if not errors:
        return None
    best = max(errors, key=relevance)
    while best.context and not _is_alternative_of_requireds(best):
        # An anyOf/oneOf failed: look inside, preferring the branch that went deepest.
        best = max(best.context, key=lambda e: (len(e.absolute_path), relevance(e)))
    return best


def _is_alternative_of_requireds(error) -> bool:
    """anyOf: [{required: [a]}, {required: [b]}] - say 'at least one of a, b' instead of one branch."""
    branches = error.validator_value if error.validator in ("anyOf", "oneOf") else []
    return bool(branches) and all(isinstance(b, dict) and list(b) == ["required"] for b in branches)


_TYPE_WORDS = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def type_word(instance: object) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return "a boolean"
    if isinstance(instance, int):
        return "an integer"
    if isinstance(instance, float):
        return "a number with a fraction" if not instance.is_integer() else "a number (write it without .0)"
    if isinstance(instance, str):
        return "a string"
    if isinstance(instance, list):
        return "an array"
    if isinstance(instance, dict):
        return "an object"
    return type(instance).__name__


def show(value: object) -> str:
    """A value as it would appear in the JSON document, shortened."""
    if isinstance(value, str):
        text = f"'{value}'" if "'" not in value and value.isprintable() else _json_string(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = type_word(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_string(value: str) -> str:
    from pyrunc import jsonio

    return jsonio.dumps(value)


def describe(error) -> str:
    """The problem in plain words, from the keyword that failed."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.relative_schema_path:
        return f"invalid key {show(instance)}: {_describe_keyword(keyword, expected, instance, error)}"
    return _describe_keyword(keyword, expected, instance, error)


def _describe_keyword(keyword: str, expected, instance, error) -> str:
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else expected
        return f"expected {' or '.join(_TYPE_WORDS.get(t, t) for t in wanted)}, got {type_word(instance)}"
    if keyword == "enum":
        return f"{show(instance)} is not one of: {', '.join(str(v) for v in expected)}"
    if keyword == "const":
        return f"must be {show(expected)}"
    if keyword == "required":
        return f"required property {show(_missing_property(error))} is missing"
    if keyword == "dependentRequired":
        return _describe_dependency(error)
    if keyword in ("anyOf", "oneOf") and _is_alternative_of_requireds(error):
        names = [b["required"][0] if len(b["required"]) == 1 else b["required"] for b in expected]
        return f"at least one of {', '.join(show(n) for n in names)} is required"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return _describe_bound(keyword, expected, instance)
    if keyword in ("minItems", "minLength", "minProperties"):
        unit = {"minItems": "entries", "minLength": "characters", "minProperties": "properties"}[keyword]
        return "must not be empty" if expected == 1 else f"must have at least {expected} {unit}"
    if keyword == "pattern":
        wanted = error.schema.get("x-expected") if isinstance(error.schema, dict) else None
        return (
            f"expected {wanted}, got {show(instance)}"
            if wanted
            else f"{show(instance)} does not match {expected}"
        )
    return error.message


def _describe_bound(keyword: str, bound, instance) -> str:
    words = {
        "minimum": "at least",
        "exclusiveMinimum": "greater than",
        "maximum": "at most",
        "exclusiveMaximum": "less than",
    }[keyword]
    return f"must be {words} {bound}, got {show(instance)}"


def _missing_property(error) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    for name in error.validator_value:
        if name not in instance and error.message.startswith(repr(name)):
            return name
    return next((n for n in error.validator_value if n not in instance), "?")


def _describe_dependency(error) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    for trigger, needed in error.validator_value.items():
        missing = [n for n in needed if n not in instance]
        if trigger in instance and missing:
            return f"{show(missing[0])} is required when {show(trigger)} is set"
    return error.message
