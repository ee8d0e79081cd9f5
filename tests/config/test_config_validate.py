"""pyrunc.config.validate: the corpus of good and bad configs, the sample bundles, `runc spec` /
`crun spec` output, error messages and paths, process.json documents."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import config_corpus
import pytest
from config_strategies import json_values, mutated_documents, mutated_from, valid_documents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.config import ConfigError, semantic, validate
from pyrunc.config.spec import default_spec
from pyrunc.config.validate import schema_validator, validate_config, validate_process, validate_resources
from tools.gen.fastcheck import SchemaSet

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS = HERE / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
WITHOUT_PROCESS = {"no-process.json"}  # valid config.json, but `create` needs a process


def _load(path: Path):
    return json.loads(path.read_text())


def test_corpus_files_are_what_the_script_writes():
    on_disk = {str(p.relative_to(CORPUS)): p.read_text() for p in CORPUS.rglob("*.json")}
    assert on_disk == config_corpus.files(), "run: .venv/bin/python tests/config/config_corpus.py"


def test_corpus_is_big_enough():
    assert len(EXPECTED) >= 60
    stages = [e["stage"] for e in EXPECTED.values()]
    assert stages.count("schema") >= 30 and stages.count("semantic") >= 30
    assert len(list((CORPUS / "good").glob("*.json"))) >= 10


@pytest.mark.parametrize("name", sorted(p.name for p in (CORPUS / "good").glob("*.json")))
def test_good_config_is_valid(name):
    config = _load(CORPUS / "good" / name)
    validate_config(config, require_process=name not in WITHOUT_PROCESS)


def test_config_without_process_fails_for_create():
    with pytest.raises(ConfigError) as info:
        validate_config(_load(CORPUS / "good" / "no-process.json"))
    assert info.value.where == "process"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_is_rejected_where_expected(name):
    expected = EXPECTED[name]
    config = _load(CORPUS / "bad" / name)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    error = info.value
    assert (error.where, error.document) == (expected["where"], "config.json")
    assert expected["problem"] in error.problem
    assert str(error) == f"invalid config.json{': ' + error.where if error.where else ''}: {error.problem}"
    assert "\n" not in str(error)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_is_caught_by_the_expected_stage(name):
    """Schema problems come from jsonschema; semantic ones pass the schema and fail semantic.py."""
    config = _load(CORPUS / "bad" / name)
    schema_ok = schema_validator("config.json").is_valid(config)
    assert schema_ok == (EXPECTED[name]["stage"] == "semantic")
    if schema_ok:
        with pytest.raises(ConfigError):
            semantic.check_config(config)


def _sample_configs():
    return sorted((REPO / "oci-bundles").glob("*/config.json"))


def test_there_are_sample_bundles():
    assert {p.parent.name for p in _sample_configs()} >= {"hello", "sleep", "true"}


@pytest.mark.parametrize("path", _sample_configs(), ids=lambda p: p.parent.name)
def test_sample_bundle_config_is_valid(path):
    validate_config(_load(path))


def _spec_output(runtime: str, args: list[str], tmp_path: Path) -> dict:
    binary = shutil.which(runtime)
    if binary is None:
        pytest.skip(f"{runtime} is not installed")
    subprocess.run([binary, "spec", *args], cwd=tmp_path, check=True, capture_output=True, timeout=30)
    return _load(tmp_path / "config.json")


@pytest.mark.parametrize(
    "runtime, args",
    [("runc", []), ("runc", ["--rootless"]), ("crun", [])],
    ids=["runc", "runc-rootless", "crun"],
)
def test_spec_output_of_reference_runtimes_is_valid(runtime, args, tmp_path):
    validate_config(_spec_output(runtime, args, tmp_path))


def test_crun_rootless_spec_is_refused_like_runc_does(tmp_path):
    """crun's rootless template asks for a user namespace without mappings and maps the caller
    itself at run time; runc refuses such a config ("no uid mappings found"), and so do we."""
    error = _error(_spec_output("crun", ["--rootless"], tmp_path))
    assert (error.where, error.problem) == ("linux.uidMappings", "a new user namespace needs uidMappings")


# --------------------------------------------------------------------------------------------------
# Messages and paths


def _error(config) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return info.value


def _base():
    return json.loads(json.dumps(config_corpus.BASE))


def test_enum_message_lists_the_choices():
    config = _base()
    config["linux"]["namespaces"][1]["type"] = "foo"
    error = _error(config)
    assert error.where == "linux.namespaces[1].type"
    assert error.problem == "'foo' is not one of: pid, network, mount, ipc, uts, user, cgroup, time"


def test_type_message_names_both_types():
    config = _base()
    config["process"]["user"]["uid"] = "0"
    assert _error(config).problem == "expected an integer, got a string"


def test_required_message():
    config = _base()
    del config["process"]["args"]
    error = _error(config)
    assert (error.where, error.problem) == ("process", "required property 'args' is missing")


def test_absolute_path_message():
    config = _base()
    config["mounts"].append({"destination": "/x", "type": "bind", "source": "/y", "options": ["bind"]})
    config["hooks"] = {"poststop": [{"path": "cleanup.sh"}]}
    error = _error(config)
    assert error.where == "hooks.poststop[0].path"
    assert error.problem.startswith("must be an absolute path")


def test_root_document_error_has_empty_where():
    error = _error("not a config")
    assert error.where == ""
    assert str(error) == "invalid config.json: expected an object, got a string"


def test_keys_that_are_not_names_are_quoted():
    config = _base()
    config["linux"]["sysctl"] = {"kernel.core_pattern": "|x"}
    assert _error(config).where == 'linux.sysctl["kernel.core_pattern"]'
    assert semantic.json_path(["annotations", 'a"b', 3, "x_y"]) == 'annotations["a\\"b"][3].x_y'
    assert semantic.json_path([]) == ""


def test_long_values_are_shortened_in_messages():
    config = _base()
    config["linux"]["rootfsPropagation"] = "x" * 500
    assert len(_error(config).problem) < 250


def test_the_error_of_record_is_deterministic():
    config = _base()
    config["process"]["user"]["uid"] = "0"
    config["process"]["user"]["gid"] = "0"
    config["linux"]["namespaces"][0]["type"] = "bad"
    errors = {str(_error(json.loads(json.dumps(config)))) for _ in range(5)}
    assert len(errors) == 1


def test_schema_error_wins_over_semantic_error():
    config = _base()
    config["process"]["cwd"] = "relative"  # semantic
    config["hostname"] = 7  # schema
    assert _error(config).where == "hostname"


def test_fast_and_record_disagreement_trusts_jsonschema(monkeypatch):
    class AlwaysNo:
        @staticmethod
        def check_config(_doc):
            return False

    monkeypatch.setattr(validate, "_fastcheck", AlwaysNo)
    validate_config(_base())  # jsonschema finds nothing: valid


def test_without_generated_module_jsonschema_decides(monkeypatch):
    monkeypatch.setattr(validate, "_fastcheck", None)
    validate_config(_base())
    config = _base()
    config["root"] = {}
    assert _error(config).where == "root"


# --------------------------------------------------------------------------------------------------
# process.json (exec --process)


def test_valid_process_documents():
    for path in (CORPUS / "good").glob("*.json"):
        process = _load(path).get("process")
        if process is not None:
            validate_process(process)


def test_process_user_checked_against_the_containers_mappings():
    config = _load(CORPUS / "good" / "userns-idmap.json")
    process = {"args": ["sh"], "cwd": "/", "user": {"uid": 65536, "gid": 0}}
    validate_process(process)  # alone, nothing to check the uid against
    with pytest.raises(ConfigError) as info:
        validate_process(process, config=config)
    assert (info.value.where, info.value.document) == ("user.uid", "process.json")
    assert "not mapped" in info.value.problem


@pytest.mark.parametrize(
    "process, where, problem",
    [
        ([], "", "expected an object, got an array"),
        ({"cwd": "/"}, "", "required property 'args' is missing"),
        ({"args": ["sh"]}, "", "required property 'cwd' is missing"),
        ({"args": [], "cwd": "/"}, "args", "must not be empty"),
        ({"args": ["sh"], "cwd": "tmp"}, "cwd", "must be an absolute path"),
        ({"args": ["sh"], "cwd": "/", "env": ["X"]}, "env[0]", "NAME=value"),
        (
            {"args": ["sh"], "cwd": "/", "capabilities": {"ambient": ["CAP_X"]}},
            "capabilities.ambient[0]",
            "unknown capability",
        ),
        ({"args": ["sh"], "cwd": "/", "user": {"uid": 0}}, "user", "required property 'gid' is missing"),
        (
            {"args": ["sh"], "cwd": "/", "rlimits": [{"type": "RLIMIT_CPU", "soft": 2, "hard": 1}]},
            "rlimits[0].soft",
            "above",
        ),
    ],
)
def test_bad_process_documents(process, where, problem):
    with pytest.raises(ConfigError) as info:
        validate_process(process)
    assert (info.value.where, info.value.document) == (where, "process.json")
    assert problem in info.value.problem
    assert str(info.value).startswith("invalid process.json")


# --------------------------------------------------------------------------------------------------
# Coverage of the schema by the good corpus


def _schema_field_paths() -> tuple[set[str], set[str]]:
    """Every property path the schema knows (linux.resources.cpu.burst, mounts[].uidMappings[].size,
    linux.resources.rdma.*.hcaHandles), and the paths of objects used as maps."""
    schemas = SchemaSet()
    paths: set[str] = set()
    maps: set[str] = set()

    def walk(schema, uri, prefix):
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            target, target_uri, _pointer = schemas.resolve(uri, schema["$ref"])
            walk(target, target_uri, prefix)
        for name, sub in schema.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            walk(sub, uri, path)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], uri, prefix + "[]")
        if isinstance(schema.get("additionalProperties"), dict):
            maps.add(prefix)
            walk(schema["additionalProperties"], uri, prefix + ".*")

    schema, uri, _pointer = schemas.root("config.json")
    walk(schema, uri, "")
    return paths, maps


def _document_paths(node, prefix: str, maps: set[str]) -> set[str]:
    out = set()
    if isinstance(node, dict):
        for key, value in node.items():
            name = "*" if prefix in maps else key
            path = f"{prefix}.{name}" if prefix else name
            out.add(path)
            out |= _document_paths(value, path, maps)
    elif isinstance(node, list):
        for value in node:
            out |= _document_paths(value, prefix + "[]", maps)
    return out


def test_good_corpus_exercises_every_schema_field():
    known, maps = _schema_field_paths()
    assert len(known) > 150
    used: set[str] = set()
    for path in (CORPUS / "good").glob("*.json"):
        used |= _document_paths(_load(path), "", maps)
    assert sorted(known - used) == []


# --------------------------------------------------------------------------------------------------
# Hostile input: whatever the document, a ConfigError (one line) or nothing - never another exception.


GOOD_CONFIGS = [_load(path) for path in sorted((CORPUS / "good").glob("*.json"))]


@settings(deadline=None, max_examples=500, suppress_health_check=list(HealthCheck))
@given(st.one_of(valid_documents(), mutated_documents(), mutated_from(GOOD_CONFIGS), json_values))
def test_any_document_gives_a_config_error_or_passes(document):
    try:
        validate_config(document)
    except ConfigError as error:
        assert error.problem and "\n" not in str(error)


@settings(deadline=None, max_examples=200, suppress_health_check=list(HealthCheck))
@given(st.one_of(valid_documents("process.json"), mutated_documents("process.json"), json_values))
def test_any_process_document_gives_a_config_error_or_passes(document):
    try:
        validate_process(document)
    except ConfigError as error:
        assert error.problem and "\n" not in str(error)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"pids": {"limit": "many"}}, "invalid resources: pids.limit: expected an integer, got a string"),
        ({"cpu": {"cpus": 3}}, "invalid resources: cpu.cpus: expected a string, got an integer"),
        ({"devices": [{"allow": "yes"}]}, "invalid resources: devices[0].allow: expected a boolean"),
        ({"memory": {"limit": 1.5}}, "invalid resources: memory.limit: expected an integer"),
    ],
)
def test_update_resources_are_checked_against_the_schema(resources, message):
    """`update --resources` takes a LinuxResources object: the schema's linux.resources checks it,
    naming the field below it in one line."""
    with pytest.raises(ConfigError) as caught:
        validate_resources(resources)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_update_resources_may_carry_unknown_properties():
    validate_resources({"pids": {"limit": 4, "futureKnob": 1}, "futureController": {}, "memory": {}})


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"cpu": {"shares": 1}}, "invalid resources: cpu.shares: must be between 2 and 262144, got 1"),
        ({"memory": {"limit": 2, "swap": 1}}, "invalid resources: memory.swap: memory+swap limit 1 is below"),
        ({"unified": {"cgroup.kill": "1"}}, 'invalid resources: unified["cgroup.kill"]: cgroup.kill is not'),
    ],
)
def test_update_resources_get_the_semantic_checks_of_create(resources, message):
    """After the schema, the checks create gives linux.resources (semantic.check_resources): the
    cgroup mapping checks no values."""
    with pytest.raises(ConfigError) as caught:
        validate_resources(resources)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_an_update_may_change_swap_alone_a_config_may_not():
    """An update's memory.swap leans on the container's current memory limit (the mapping reads
    it); a config's memory+swap limit needs its memory.limit."""
    validate_resources({"memory": {"swap": 1 << 30}})
    config = default_spec()
    config["linux"]["resources"] = {"memory": {"swap": 1 << 30}}
    with pytest.raises(ConfigError, match=r"linux\.resources\.memory\.swap: a memory\+swap limit needs"):
        validate_config(config)
