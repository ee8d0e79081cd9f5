"""pyrunc's os.path stand-ins (pyrunc/paths.py): the hot verbs join and test paths without
importing os, and must get exactly what os.path gives."""

from __future__ import annotations

import os
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.paths import (
    absolute,
    basename,
    dirname,
    getenv,
    is_dir,
    is_dir_mode,
    join,
    lexists,
    normpath,
    path_exists,
    read_bytes,
    read_first_line,
)

paths = st.text(alphabet="/a.", max_size=8)


@given(paths, st.lists(paths, max_size=3))
def test_join_is_posixpath_join(first: str, rest: list[str]) -> None:
    assert join(first, *rest) == posixpath.join(first, *rest)


@given(paths)
def test_dirname_is_posixpath_dirname(path: str) -> None:
    assert dirname(path) == posixpath.dirname(path)


@given(paths)
def test_basename_is_posixpath_basename(path: str) -> None:
    assert basename(path) == posixpath.basename(path)


def test_getenv_is_os_environ_get(monkeypatch) -> None:
    monkeypatch.setenv("PYRUNC_TEST_ENV", "a=b c")
    os.environb[b"PYRUNC_TEST_BYTES"] = b"\xff/x"  # not UTF-8: surrogate-escaped, as os.environ has it
    try:
        for name in ("PYRUNC_TEST_ENV", "PYRUNC_TEST_BYTES", "PYRUNC_TEST_UNSET"):
            assert getenv(name) == os.environ.get(name), name
            assert getenv(name, "dflt") == os.environ.get(name, "dflt"), name
    finally:
        del os.environb[b"PYRUNC_TEST_BYTES"]


@given(st.text(alphabet="/a.", max_size=12))
def test_normpath_is_posixpath_normpath(path: str) -> None:
    assert normpath(path) == posixpath.normpath(path)


@given(paths.filter(bool))
def test_absolute_is_posixpath_abspath(path: str) -> None:
    assert absolute(path) == posixpath.abspath(path)


def test_absolute_keeps_a_normalised_path_as_it_is() -> None:
    assert absolute("/run/pyrunc") == "/run/pyrunc"
    assert absolute("/run/pyrunc/") == "/run/pyrunc"
    assert absolute("/run/./pyrunc/../x") == "/run/x"


def test_existence_tests_are_os_path_s(tmp_path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("dir", "file", "dangling", "nowhere", "file/below", "with\0nul"):
        path = str(tmp_path / name) if "\0" not in name else str(tmp_path) + "/" + name
        assert path_exists(path) == os.path.exists(path), name
        assert lexists(path) == os.path.lexists(path), name
        assert is_dir(path) == os.path.isdir(path), name


@given(st.integers(min_value=0, max_value=0o177777))
def test_is_dir_mode_is_stat_s_isdir(mode: int) -> None:
    import stat

    assert is_dir_mode(mode) == stat.S_ISDIR(mode)


def test_read_bytes_is_open_read(tmp_path) -> None:
    for size in (0, 1, 65536, 65537, 300_000):
        path = tmp_path / f"f{size}"
        path.write_bytes(bytes(i % 251 for i in range(size)))
        assert read_bytes(str(path)) == path.read_bytes()
    assert read_bytes("/proc/self/stat").startswith(str(os.getpid()).encode() + b" (")
    for missing in (tmp_path / "nowhere", tmp_path / "f0" / "below"):
        with pytest.raises(OSError) as raised, open(missing, "rb"):
            pass
        with pytest.raises(type(raised.value)):
            read_bytes(str(missing))
    with pytest.raises(IsADirectoryError):
        read_bytes(str(tmp_path))
    (tmp_path / "state").write_bytes(b"  THAWED \nFROZEN\n")
    assert read_first_line(str(tmp_path / "state")) == "THAWED"
