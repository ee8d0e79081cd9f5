"""state.marshal (pyrunc/store.py STATE_CACHE): the value state.json reads as, taken only when it
is of state.json's text. state.json stays the record: whatever changed it since, the cache is not
used. (That the hot verbs then load no _json: tests/integration/test_cli_imports.py.)"""

from __future__ import annotations

import json
import marshal
import os

import pytest

from pyrunc import store_write
from pyrunc.store import STATE_CACHE, STATE_FILE, Store

STATE = {
    "ociVersion": "1.3.0",
    "id": "c",
    "pid": 1234,
    "init_start": 5678,
    "bundle": "/b",
    "annotations": {"k": "v\u00e9"},
    "cgroup": {"version": 1, "paths": {"memory": "/sys/fs/cgroup/memory/c"}, "created": []},
    "hooks": {"poststop": [{"path": "/bin/true", "args": ("true",)}]},  # a tuple: JSON reads a list
}


@pytest.fixture
def store(tmp_path) -> Store:
    os.mkdir(tmp_path / "c")
    (tmp_path / "c" / "lock").touch()
    return Store(str(tmp_path))


def test_the_cache_holds_what_state_json_reads_as(store):
    store_write.write(store, "c", STATE)
    with open(store.path("c", STATE_FILE), "rb") as f:
        text = f.read()
    with open(store.path("c", STATE_CACHE), "rb") as f:
        assert marshal.loads(f.read()) == (text, json.loads(text))
    assert store.read("c") == json.loads(text)
    assert store.read("c")["hooks"]["poststop"][0]["args"] == ["true"]  # as the JSON reads


def test_a_cache_of_another_text_is_not_used(store):
    store_write.write(store, "c", STATE)
    with open(store.path("c", STATE_FILE), "w") as f:  # changed since: the pid reused, say
        json.dump({**STATE, "pid": 99}, f)
    assert store.read("c")["pid"] == 99


@pytest.mark.parametrize(
    "cache",
    [b"", b"garbage", marshal.dumps(None), marshal.dumps((b"x",)), marshal.dumps([b"{}", {}])],
)
def test_a_damaged_cache_is_not_used(store, cache):
    store_write.write(store, "c", STATE)
    with open(store.path("c", STATE_CACHE), "wb") as f:
        f.write(cache)
    assert store.read("c")["pid"] == 1234


def test_without_a_cache_state_json_is_read(store):
    store_write.write(store, "c", STATE)
    os.unlink(store.path("c", STATE_CACHE))
    assert store.read("c")["pid"] == 1234


def test_remove_takes_the_cache_too(store):
    store_write.write(store, "c", STATE)
    store.remove("c")
    assert not os.path.exists(store.path("c"))
