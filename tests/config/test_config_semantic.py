"""pyrunc.config.semantic: its tables against the kernel headers, its small parsers, and the import
hygiene of the validation path (no jsonschema, re, typing or json on the happy path)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyrunc.config import semantic
from tools.gen.fastcheck import SCHEMA_DIR, SCHEMA_FILES

REPO = Path(__file__).resolve().parents[2]
CAPABILITY_H = Path("/usr/include/linux/capability.h")
RESOURCE_H = Path("/usr/include/asm-generic/resource.h")


def _defines(header: Path, prefix: str) -> dict[str, int]:
    found = re.findall(rf"^#\s*define\s+({prefix}[A-Z_]+)\s+(\d+)\b", header.read_text(), re.MULTILINE)
    return {name: int(number) for name, number in found}


@pytest.mark.skipif(not CAPABILITY_H.exists(), reason="linux-libc-dev headers not installed")
def test_capability_table_matches_kernel_header():
    from_header = _defines(CAPABILITY_H, "CAP_")
    known = {name: number for name, number in from_header.items() if number <= 40}
    assert known == semantic.CAPABILITY_NUMBERS
    assert semantic.CAPABILITIES[-1] == "CAP_CHECKPOINT_RESTORE" and len(semantic.CAPABILITIES) == 41


@pytest.mark.skipif(not RESOURCE_H.exists(), reason="linux-libc-dev headers not installed")
def test_rlimit_table_matches_kernel_header():
    assert _defines(RESOURCE_H, "RLIMIT_") == semantic.RLIMITS


@pytest.mark.parametrize(
    "text, ok",
    [
        ("0", True),
        ("0-3,7", True),
        ("12,3,5-5", True),
        ("0-", False),
        ("-1", False),
        ("3-1", False),
        ("0,,1", False),
        ("0, 1", False),
        ("1-2-3", False),
        ("a", False),
        ("\u0663", False),  # an Arabic-Indic digit: str.isdigit() would say yes
        ("0-1\n", False),
    ],
)
def test_cpu_list_syntax(text, ok):
    assert semantic.is_cpu_list(text) is ok


@pytest.mark.parametrize(
    "key, name",
    [
        ("net.ipv4.ip_forward", "net.ipv4.ip_forward"),
        ("net/ipv4/ip_forward", "net.ipv4.ip_forward"),
        ("net/ipv4/conf/eno2.100/rp_filter", "net.ipv4.conf.eno2/100.rp_filter"),
        ("net.ipv4.conf.eno2/100.rp_filter", "net.ipv4.conf.eno2/100.rp_filter"),
        ("kernel", "kernel"),
    ],
)
def test_sysctl_key_normalization(key, name):
    assert semantic.normalize_sysctl_key(key) == name


def test_check_process_path_prefix():
    from pyrunc.config import ConfigError

    with pytest.raises(ConfigError) as info:
        semantic.check_process({"cwd": "x", "args": ["a"]}, where=("process",), document="config.json")
    assert info.value.where == "process.cwd"


# --------------------------------------------------------------------------------------------------
# Import hygiene: `pyrunc create` pays for every module the validation imports.

HYGIENE_SCRIPT = """
import sys
before = set(sys.modules)
from pyrunc import jsonio
from pyrunc.config.validate import validate_config
with open(sys.argv[1], "rb") as f:
    validate_config(jsonio.loads(f.read()))
loaded = set(sys.modules) - before
heavy = {"jsonschema", "referencing", "re", "typing", "json", "enum"}
forbidden = sorted(m for m in loaded if m.split(".")[0] in heavy)
print(" ".join(forbidden) or "-")
print(" ".join(sorted(m for m in loaded if m.startswith("pyrunc"))))
"""


@pytest.mark.parametrize("flags", [["-S"], []], ids=["no-site", "site"])
def test_validating_a_good_config_imports_nothing_heavy(flags):
    fast = REPO / "pyrunc" / "config" / "_fastcheck.py"
    assert fast.exists(), "generate it: .venv/bin/python -m tools.gen.fastcheck pyrunc/config/_fastcheck.py"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    config = REPO / "oci-bundles" / "hello" / "config.json"
    result = subprocess.run(
        [sys.executable, *flags, "-c", HYGIENE_SCRIPT, str(config)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    forbidden, pyrunc_modules = result.stdout.splitlines()
    assert forbidden == "-"
    assert "pyrunc.config._fastcheck" in pyrunc_modules.split()


def test_an_invalid_config_still_gets_a_clean_error_in_a_fresh_interpreter(tmp_path):
    config = json.loads((REPO / "oci-bundles" / "hello" / "config.json").read_text())
    config["process"]["rlimits"][0]["type"] = "RLIMIT_FOO"
    config["linux"]["namespaces"].append({"type": "pid"})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code = (
        "import sys\nfrom pyrunc import jsonio\nfrom pyrunc.config.validate import validate_config\n"
        "from pyrunc.config import ConfigError\n"
        "try:\n    validate_config(jsonio.loads(open(sys.argv[1]).read()))\n"
        "except ConfigError as e:\n    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = "linux.namespaces[5].type: duplicate namespace type 'pid' (also at linux.namespaces[0])"
    assert result.stdout == f"invalid config.json: {expected}\n"


def test_semantic_module_source_does_not_import_re():
    source = (REPO / "pyrunc" / "config" / "semantic.py").read_text()
    assert not re.search(r"^\s*(import re|from re )", source, re.MULTILINE)


def test_schema_files_are_valid_2020_12_schemas_with_consistent_ids():
    from jsonschema import Draft202012Validator

    for name in SCHEMA_FILES:
        document = json.loads((SCHEMA_DIR / name).read_text())
        Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"].endswith(f"/runtime-spec/1.3/{name}")
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(SCHEMA_FILES)
