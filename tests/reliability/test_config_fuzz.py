"""config.json: fuzzed documents through `pyrunc create`.

Documents come from the hypothesis strategies derived from pyrunc/config/schema
(tests/config/config_strategies.py): schema-valid documents, mutated ones, documents one to three
mutations away from this suite's working sleep bundle, and arbitrary JSON. Each goes through the
real `pyrunc create`. It must either create a container that `state` truthfully calls created,
or exit 1 with one line naming the problem; never a traceback or an internal error, never a
half-made container (state directory, cgroup, process or mount left behind).

Safety, not leniency: before use, fields that would act on the host are pointed at harmless
places (hooks removed; namespace paths, bind-mount sources, cgroupsPath, root.path and host
sysctls replaced; hostname dropped without a new uts namespace). Those fields are still fuzzed
without side effects by tests/config and by the atheris harness (fuzz_atheris.py).
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.config.config_strategies import json_values, mutated_documents, mutated_from, valid_documents
from tests.reliability import harness
from tests.reliability import machine as m
from tests.reliability.conftest import sleep_config, write_config

MAX_EXAMPLES = int(os.environ.get("RELIABILITY_CONFIG_EXAMPLES", "0"))


def documents():
    return st.one_of(
        valid_documents(),
        mutated_documents(),
        mutated_from([sleep_config()]),
        mutated_from([sleep_config()]),  # twice: most examples stay near a working config
        json_values,
    )


def sanitize(document: object, bundle: str) -> object:
    """Point what would touch the host at harmless places (see the module docstring)."""
    if not isinstance(document, dict):
        return document
    doc = copy.deepcopy(document)
    doc.pop("hooks", None)
    root = doc.get("root")
    path = root.get("path") if isinstance(root, dict) else None
    if isinstance(path, str) and (path.startswith("/") or ".." in path):
        root["path"] = "rootfs"
    linux = doc.get("linux")
    if isinstance(linux, dict):
        _sanitize_linux(linux)
        if not _new_uts(linux):
            doc.pop("hostname", None)
            doc.pop("domainname", None)
    else:
        doc.pop("hostname", None)
        doc.pop("domainname", None)
    mounts = doc.get("mounts")
    if isinstance(mounts, list):
        harmless = os.path.join(bundle, "fuzz-source")
        for mount in mounts:
            if isinstance(mount, dict) and isinstance(mount.get("source"), str) and _is_bind(mount):
                mount["source"] = harmless
    return doc


def _sanitize_linux(linux: dict) -> None:
    namespaces = linux.get("namespaces")
    if isinstance(namespaces, list):
        for ns in namespaces:
            if isinstance(ns, dict) and isinstance(ns.get("path"), str):
                ns["path"] = f"/nonexistent-ns/{ns.get('type')}"
    if isinstance(linux.get("cgroupsPath"), str):
        linux["cgroupsPath"] = harness.unique_id("cfzcg")
    sysctl = linux.get("sysctl")
    if isinstance(sysctl, dict):
        for key in list(sysctl):
            name = key.replace(".", "/") if "/" not in key else key
            if os.path.exists(os.path.join("/proc/sys", name.lstrip("/"))):
                del sysctl[key]


def _new_uts(linux: dict) -> bool:
    namespaces = linux.get("namespaces")
    if not isinstance(namespaces, list):
        return False
    return any(isinstance(ns, dict) and ns.get("type") == "uts" and "path" not in ns for ns in namespaces)


def _is_bind(mount: dict) -> bool:
    options = mount.get("options")
    words = options if isinstance(options, list) else []
    return mount.get("type") in (None, "bind", "none") or any(w in ("bind", "rbind") for w in words)


@pytest.fixture(scope="module")
def fuzz_bundle(tmp_path_factory, rootfs_template) -> str:
    path = str(tmp_path_factory.mktemp("rel-fuzz-bundle"))
    shutil.copytree(rootfs_template, os.path.join(path, "rootfs"), symlinks=True)
    os.mkdir(os.path.join(path, "fuzz-source"))
    return path


def fuzz_create(rig: harness.Rig, bundle: str, document: object) -> tuple[str, list[str]]:
    """One document through create; (outcome, problems)."""
    write_config(bundle, sanitize(document, bundle))
    cid = harness.unique_id("cfz")
    result = harness.run(rig.cmd("create", "--bundle", bundle, cid), timeout=60)
    cgroup_dirs = _expected_cgroups(bundle, cid)
    if result.rc == 0:
        status, problems = rig.check_truth(cid)
        if status != "created":
            problems.append(f"create succeeded but the container is {status}")
        problems += rig.clean(cid)
        return "created", problems
    problems = harness.clean_failure_problems(result, "create")
    problems += rig.leftovers(cid)
    left = [d for d in cgroup_dirs if os.path.isdir(d)]
    if left:
        problems.append(f"cgroup directories left: {left}")
        harness.scrub_container(os.path.basename(left[0]))
    if problems:
        rig.scrub(cid)
    return "refused", problems


def _expected_cgroups(bundle: str, cid: str) -> list[str]:
    """The sanitized cgroupsPath's directories, wherever a failed create may have left them."""
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            linux = json.load(f).get("linux") or {}
        name = linux.get("cgroupsPath") if isinstance(linux, dict) else None
    except (ValueError, AttributeError):
        return []
    if not isinstance(name, str):
        return sorted(m.cgroup_dirs_named(cid))
    return sorted(m.cgroup_dirs_named(os.path.basename(name)))


def run_fuzz(rig, figures, bundle: str, examples: int) -> None:
    fig = figures("config.json fuzz through create")
    failures: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES or examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(documents())
    def one(document):
        outcome, problems = fuzz_create(rig, bundle, document)
        fig.add(tries=1, **{outcome: 1})
        fig.problems(problems)
        if problems:
            failures.append(f"{json.dumps(document)[:400]}\n    -> {problems}")

    one()
    assert not failures, f"{len(failures)} documents:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize(
    "examples", [pytest.param(40, id="ci"), pytest.param(2000, id="long", marks=pytest.mark.slow)]
)
def test_fuzzed_config_through_create(rig, figures, fuzz_bundle, examples):
    run_fuzz(rig, figures, fuzz_bundle, examples)


NUL_ARGS = b'{"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"args": ["sh\\u0000x"]}}'
MALFORMED_BYTES = {
    "empty": b"",
    "open-brace": b"{",
    "bom-garbage": b"\xff\xfe{}",
    "array": b"[]",
    "null": b"null",
    "no-root": b'{"ociVersion": "1.2.0"}',
    "nul-in-args": NUL_ARGS,
    "deep": b'{"a": ' * 10000 + b"1" + b"}" * 10000,
    "huge": b"1" * 100000,
    "nul": b'"' + b"\\u0000" * 1000 + b'"',
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_BYTES))
def test_malformed_config_bytes(rig, figures, fuzz_bundle, kind):
    text = MALFORMED_BYTES[kind]
    """Not JSON, or JSON of the wrong shape: one line naming config.json, nothing made."""
    with open(os.path.join(fuzz_bundle, "config.json"), "wb") as f:
        f.write(text)
    cid = harness.unique_id("cfzb")
    result = harness.run(rig.cmd("create", "--bundle", fuzz_bundle, cid), timeout=60)
    figures("config.json fuzz through create").add(tries=1, refused=1)
    problems = harness.clean_failure_problems(result, "create") + rig.leftovers(cid)
    assert problems == []
    assert "config.json" in harness.error_message(result)
