"""The generated validator (_fastcheck) against jsonschema, the validator of record: same verdict on
every corpus file, every sample config and hypothesis-generated documents; the regex-to-DFA compiler
against `re`; the generator's strictness, determinism and the checked-in file being current."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
from config_strategies import mutated_documents, valid_documents
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyrunc.config.validate import schema_validator
from tools.gen import fastcheck as gen_fastcheck
from tools.gen import regex_dfa

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS = HERE / "corpus"
IN_TREE = REPO / "pyrunc" / "config" / "_fastcheck.py"
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=300)


def _load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A freshly generated validator, independent of whether the tree's copy is built or current."""
    path = tmp_path_factory.mktemp("fastcheck") / "fresh_fastcheck.py"
    path.write_text(gen_fastcheck.generate())
    return _load_module(path, "fresh_fastcheck")


def _corpus_documents():
    for path in sorted(CORPUS.glob("*/*.json")):
        if path.name != "expected.json":
            yield pytest.param(path, id=f"{path.parent.name}/{path.name}")


@pytest.mark.parametrize("path", list(_corpus_documents()))
def test_same_verdict_on_corpus(fast, path):
    document = json.loads(path.read_text())
    assert fast.check_config(document) == schema_validator("config.json").is_valid(document)


@pytest.mark.parametrize(
    "path", sorted((REPO / "oci-bundles").glob("*/config.json")), ids=lambda p: p.parent.name
)
def test_same_verdict_on_sample_bundles(fast, path):
    document = json.loads(path.read_text())
    assert fast.check_config(document) is True
    assert schema_validator("config.json").is_valid(document)


def test_process_documents_from_corpus_agree(fast):
    validator = schema_validator("process.json")
    checked = 0
    for path in CORPUS.glob("*/*.json"):
        document = json.loads(path.read_text())
        process = document.get("process") if isinstance(document, dict) else None
        if process is not None:
            assert fast.check_process(process) == validator.is_valid(process), path.name
            checked += 1
    assert checked > 100


@SETTINGS
@given(valid_documents("config.json"))
def test_valid_documents_are_valid_for_both(fast, document):
    # The strategy itself is tested here too: a document it calls valid must be valid.
    assert schema_validator("config.json").is_valid(document)
    assert fast.check_config(document)


@settings(SETTINGS, max_examples=600)
@given(mutated_documents("config.json"))
@example(document={"ociVersion": "1.2.0\n", "root": {"path": "r"}})
@example(
    document={
        "ociVersion": "1.2.0",
        "root": {"path": "r"},
        "process": {"cwd": "/", "args": ["x"], "user": {"uid": 1.0, "gid": 0}},
    }
)
@example(
    document={
        "ociVersion": "1.2.0",
        "root": {"path": "r"},
        "linux": {"resources": {"devices": [{"allow": True, "access": "r\n"}]}},
    }
)
@example(document={"ociVersion": "1.2.0", "root": {"path": "r"}, "annotations": {"": 1}})
def test_mutated_documents_same_verdict(fast, document):
    assert fast.check_config(document) == schema_validator("config.json").is_valid(document)


@SETTINGS
@given(st.one_of(valid_documents("process.json"), mutated_documents("process.json")))
def test_process_documents_same_verdict(fast, document):
    assert fast.check_process(document) == schema_validator("process.json").is_valid(document)


def test_mutations_reach_both_verdicts(fast):
    """The mutated-document test is only meaningful if mutation often breaks documents."""
    from hypothesis import Phase, find

    quick = settings(
        database=None, phases=[Phase.generate], max_examples=200, suppress_health_check=list(HealthCheck)
    )
    find(mutated_documents(), lambda d: not fast.check_config(d), settings=quick)
    find(mutated_documents(), fast.check_config, settings=quick)


@pytest.mark.slow
@settings(SETTINGS, max_examples=10000)
@given(mutated_documents("config.json"))
def test_mutated_documents_same_verdict_long(fast, document):
    assert fast.check_config(document) == schema_validator("config.json").is_valid(document)


# ---------------------------------------------------------------------------------------------------
# Regular expressions compiled to DFAs.

EXTRA_PATTERNS = [
    "",
    "^$",
    "ab",
    "a|bc",
    "^(ab)*c?$",
    "x{2,4}",
    "^x{2,4}$",
    "[^a-c]+z",
    "^a.b$",
    "(?:foo|bar)baz$",
    "^[-a]+\\Z",
    "\\Aab",
    "a+?b",
    "^(a|ab)(c|bcd)(d*)$",
    "^[\u00e9-\u00ff]+$",
    "^\\.\\+\\*$",
]


def _schema_patterns() -> list[str]:
    patterns = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for document in gen_fastcheck.SchemaSet().documents.values():
        walk(document)
    assert patterns, "the schema has patterns: the test must see them"
    return sorted(set(patterns))


ALL_PATTERNS = _schema_patterns() + EXTRA_PATTERNS


def _compiled(pattern: str):
    namespace: dict = {}
    exec(regex_dfa.compile_pattern(pattern, "_matches"), namespace)
    return namespace["_matches"]


def _strings_for(pattern: str):
    nearby = st.text(alphabet="abcdxz0123456789.-+:\n/_ MBKGRLIMT\u00e9rwm", max_size=12)
    return (
        st.from_regex(pattern) | nearby | st.text(max_size=6) | st.from_regex(pattern).map(lambda s: s + "x")
    )


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_compiled_pattern_matches_like_re(pattern):
    matches = _compiled(pattern)
    regex = re.compile(pattern)

    @settings(deadline=None, max_examples=400, suppress_health_check=list(HealthCheck))
    @given(_strings_for(pattern))
    def check(text):
        assert matches(text) == (regex.search(text) is not None), repr(text)

    check()


def test_schema_patterns_need_no_re_at_run_time():
    import ast

    tree = ast.parse(gen_fastcheck.generate())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports == []
    assert "FALLBACK_PATTERNS = ()" in gen_fastcheck.generate()


@pytest.mark.parametrize("pattern", ["\\d+", "(?i)ab", "a\\b", "(a)\\1", "a(?=b)", "a{100}"])
def test_unsupported_patterns_fall_back_to_re(pattern):
    with pytest.raises(regex_dfa.UnsupportedPattern):
        regex_dfa.compile_pattern(pattern, "_m")
    gen = gen_fastcheck._Generator(gen_fastcheck.SchemaSet())
    name = gen.pattern(pattern)
    assert gen.fallback_patterns == [pattern]
    namespace: dict = {}
    exec(gen_fastcheck.LAZY_RE_SOURCE + "\n" + gen.pattern_sources[0], namespace)
    for text in ["", "12", "ab", "AB", "aa", "a b", "ab" * 60, "a" * 100]:
        assert namespace[name](text) == (re.search(pattern, text) is not None)


# ---------------------------------------------------------------------------------------------------
# The generator itself.


def test_generation_is_deterministic():
    assert gen_fastcheck.generate() == gen_fastcheck.generate()


def test_generated_header_and_entry_points(fast):
    text = gen_fastcheck.generate()
    assert text.startswith("# GENERATED FILE - DO NOT EDIT.")
    assert gen_fastcheck.SchemaSet().digest() == fast.SCHEMA_SHA256
    assert callable(fast.check_config) and callable(fast.check_process)


def test_in_tree_fastcheck_is_current():
    """setup.py regenerates it at build time; a stale copy would disagree with jsonschema."""
    assert IN_TREE.exists(), "run: .venv/bin/python -m tools.gen.fastcheck pyrunc/config/_fastcheck.py"
    assert IN_TREE.read_text() == gen_fastcheck.generate(), (
        "pyrunc/config/_fastcheck.py is stale: "
        "run .venv/bin/python -m tools.gen.fastcheck pyrunc/config/_fastcheck.py"
    )


def test_cli_writes_the_module(tmp_path):
    out = tmp_path / "out.py"
    assert gen_fastcheck.main([str(out)]) == 0
    assert out.read_text() == gen_fastcheck.generate()
    assert gen_fastcheck.main([]) == 2


@pytest.fixture
def schema_copy(tmp_path):
    for name in gen_fastcheck.SCHEMA_FILES:
        shutil.copy(gen_fastcheck.SCHEMA_DIR / name, tmp_path / name)
    return tmp_path


def _edit(directory: Path, name: str, edit) -> None:
    document = json.loads((directory / name).read_text())
    edit(document)
    (directory / name).write_text(json.dumps(document))


@pytest.mark.parametrize(
    "keyword, value",
    [("uniqueItems", True), ("patternProperties", {"^a": {}}), ("multipleOf", 2), ("format", "uri")],
)
def test_unknown_keyword_is_refused(schema_copy, keyword, value):
    _edit(schema_copy, "config.json", lambda d: d["properties"]["hostname"].update({keyword: value}))
    with pytest.raises(gen_fastcheck.UnsupportedSchema, match=keyword):
        gen_fastcheck.generate(gen_fastcheck.SchemaSet(schema_copy))


def test_dangling_ref_is_refused(schema_copy):
    _edit(schema_copy, "config.json", lambda d: d["properties"].update(x={"$ref": "defs.json#/$defs/Nope"}))
    with pytest.raises(gen_fastcheck.UnsupportedSchema, match="does not resolve"):
        gen_fastcheck.generate(gen_fastcheck.SchemaSet(schema_copy))


def test_combinators_compile_exactly(schema_copy, tmp_path):
    """oneOf / not / else / const / type lists are not in today's schema; keep them exact anyway."""
    extra = {
        "type": ["object", "null"],
        "properties": {
            "one": {"oneOf": [{"type": "integer"}, {"minimum": 5}]},
            "neg": {"not": {"type": "string"}},
            "cond": {"if": {"type": "integer"}, "then": {"minimum": 0}, "else": {"const": "x"}},
            "nums": {"type": "array", "maxItems": 2, "items": {"type": "number", "exclusiveMaximum": 3}},
            "obj": {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": False},
            "str": {"type": "string", "maxLength": 2},
            "all": {"allOf": [{"type": "integer"}, {"exclusiveMinimum": 1}]},
        },
    }
    _edit(schema_copy, "config.json", lambda d: d["properties"].update(extra=extra))
    schemas = gen_fastcheck.SchemaSet(schema_copy)
    module_path = tmp_path / "combi_fastcheck.py"
    module_path.write_text(gen_fastcheck.generate(schemas))
    module = _load_module(module_path, "combi_fastcheck")
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resources(
        (u, DRAFT202012.create_resource(d)) for u, d in schemas.documents.items()
    )
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("integer", lambda _c, i: type(i) is int)
    validator = jsonschema.validators.extend(base, type_checker=checker)(
        schemas.root("config.json")[0], registry=registry
    )

    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 8),
        st.floats(-3, 8, allow_nan=False),
        st.sampled_from(["x", "yy", "zzz"]),
    )
    extras = st.none() | st.fixed_dictionaries(
        {},
        optional={
            "one": values,
            "neg": values,
            "cond": values,
            "nums": st.lists(values, max_size=3),
            "obj": st.dictionaries(st.text(max_size=2), values, max_size=3),
            "str": values,
            "all": values,
        },
    )

    @settings(deadline=None, max_examples=500)
    @given(extras)
    def check(extra_value):
        document = {"ociVersion": "1.2.0", "root": {"path": "r"}, "extra": extra_value}
        assert module.check_config(document) == validator.is_valid(document)

    check()
