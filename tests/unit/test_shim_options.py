"""The shim's pure pieces for issue 14's second round: Create's runtime options (containerd.runc.v1.Options,
runtimeoptions.v1.Options with a TOML file) and the cgroup v2 Metrics mapping."""

from __future__ import annotations

import pytest

pytest.importorskip("google.protobuf")


def _any(type_url: str, message):
    from pyrunc.shim.messages import shim

    request = shim.CreateTaskRequest()
    request.options.type_url = type_url
    request.options.value = message.SerializeToString()
    return request.options


def _logged() -> tuple[list[str], object]:
    lines: list[str] = []

    def log(msg: str, debug: bool = False) -> None:
        lines.append(msg)

    return lines, log


def test_no_options_are_runcs_defaults() -> None:
    from pyrunc.shim import options
    from pyrunc.shim.messages import shim

    lines, log = _logged()
    opts = options.parse(shim.CreateTaskRequest().options, log)
    assert (opts.systemd_cgroup, opts.root, opts.no_pivot_root, opts.criu()) == (False, "", False, "criu")
    assert lines == []


def test_runc_options_that_apply_are_taken_and_binary_name_is_logged() -> None:
    from pyrunc.shim import options
    from pyrunc.shim.messages import runc_options

    lines, log = _logged()
    message = runc_options.Options(
        systemd_cgroup=True,
        root="/run/x",
        no_pivot_root=True,
        no_new_keyring=True,
        io_uid=1000,
        io_gid=1001,
        criu_path="/usr/sbin/criu",
        criu_work_path="/var/tmp/w",
        binary_name="/usr/bin/runc",
    )
    # containerd's typeurl names the type alone; a type.googleapis.com/ prefix is taken too.
    for url in ("containerd.runc.v1.Options", "type.googleapis.com/containerd.runc.v1.Options"):
        opts = options.parse(_any(url, message), log)
        assert opts.systemd_cgroup and opts.no_pivot_root and opts.no_new_keyring
        assert (opts.root, opts.io_uid, opts.io_gid) == ("/run/x", 1000, 1001)
        assert (opts.criu(), opts.criu_work_path) == ("/usr/sbin/criu", "/var/tmp/w")
    assert any("binary_name '/usr/bin/runc' ignored" in line for line in lines), lines
    lines.clear()
    options.parse(_any(options.TYPE_RUNC, runc_options.Options(binary_name="/usr/local/bin/pyrunc")), log)
    assert not any("binary_name" in line for line in lines), lines


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"shim_cgroup": "/shim"}, "options.shim_cgroup"),
        ({"criu_image_path": "/img"}, "options.criu_image_path"),
        ({"root": "relative"}, "options.root"),
        ({"criu_path": "criu"}, "options.criu_path"),
    ],
)
def test_what_cannot_apply_is_refused_naming_the_field(fields: dict, named: str) -> None:
    from pyrunc.shim import options, ttrpc
    from pyrunc.shim.messages import runc_options

    _, log = _logged()
    with pytest.raises(ttrpc.RpcError) as err:
        options.parse(_any(options.TYPE_RUNC, runc_options.Options(**fields)), log)
    assert err.value.code == ttrpc.INVALID_ARGUMENT
    assert err.value.message.startswith(named), err.value.message
    assert "\n" not in err.value.message


def test_an_unknown_options_type_is_refused() -> None:
    from pyrunc.shim import options, ttrpc
    from pyrunc.shim.messages import runc_options

    _, log = _logged()
    with pytest.raises(ttrpc.RpcError) as err:
        options.parse(_any("runhcs.v1.Options", runc_options.Options()), log)
    assert err.value.code == ttrpc.INVALID_ARGUMENT and "runhcs.v1.Options" in err.value.message


def test_runtime_options_read_a_toml_file_of_runc_names(tmp_path) -> None:
    from pyrunc.shim import options, ttrpc
    from pyrunc.shim.messages import runtime_options

    _, log = _logged()
    config = tmp_path / "shim.toml"
    config.write_text('SystemdCgroup = true\nRoot = "/run/r"\nno_pivot_root = true\nIoUid = 7\n')
    opts = options.parse(_any(options.TYPE_RUNTIME, runtime_options.Options(config_path=str(config))), log)
    assert (opts.systemd_cgroup, opts.root, opts.no_pivot_root, opts.io_uid) == (True, "/run/r", True, 7)

    for text, named in (
        ("SystemdCgroups = true\n", "SystemdCgroups: not a runc option"),
        ('SystemdCgroup = "yes"\n', "SystemdCgroup: 'yes' is not of type bool"),
        ("IoUid = -1\n", "IoUid: -1 is not of type int"),
        ("SystemdCgroup = \n", str(config)),
    ):
        config.write_text(text)
        with pytest.raises(ttrpc.RpcError) as err:
            options.parse(_any(options.TYPE_RUNTIME, runtime_options.Options(config_path=str(config))), log)
        assert err.value.code == ttrpc.INVALID_ARGUMENT
        assert err.value.message.startswith("options.config_path") and named in err.value.message, err.value
    missing = str(tmp_path / "missing.toml")
    with pytest.raises(ttrpc.RpcError) as err:
        options.parse(_any(options.TYPE_RUNTIME, runtime_options.Options(config_path=missing)), log)
    assert missing in err.value.message


def test_the_root_is_recorded_in_the_bundle_for_delete(tmp_path) -> None:
    from pyrunc.shim import options

    assert options.recorded_root(str(tmp_path)) is None
    opts = options.RuncOptions()
    options.record(str(tmp_path), opts)  # no root: nothing written
    assert not (tmp_path / options.OPTIONS_FILE).exists()
    opts.root = "/run/elsewhere"
    options.record(str(tmp_path), opts)
    assert options.recorded_root(str(tmp_path)) == "/run/elsewhere"


def test_stats_map_onto_containerds_v2_metrics() -> None:
    from pyrunc.cgroups.stats import MAX_UINT64
    from pyrunc.shim.messages import cgroups_v2
    from pyrunc.shim.metrics import v2_metrics

    stats = {
        "pids": {"current": 2, "limit": 20},
        "cpu": {
            "usage": {"total": 5_000_000, "kernel": 1_000_000, "user": 4_000_000},
            "throttling": {"periods": 9, "throttledPeriods": 3, "throttledTime": 7_000},
        },
        "memory": {
            "cache": 4096,
            "usage": {"limit": 64 << 20, "usage": 8192, "max": 9000, "failcnt": 1},
            "swap": {"limit": MAX_UINT64, "usage": 8192, "failcnt": 0},
            "raw": {
                "anon": 100,
                "file": 4096,
                "pgfault": 7,
                "workingset_refault_anon": 2,
                "workingset_refault_file": 3,
                "bogus": 1,
            },
        },
        "hugetlb": {"2MB": {"usage": 2 << 20, "failcnt": 1}},
        "blkio": {
            "ioServiceBytesRecursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 512},
                {"major": 8, "minor": 0, "op": "Write", "value": 1024},
            ],
            "ioServicedRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 1}],
        },
    }
    extras = {
        "memory_events": {"low": 0, "high": 0, "max": 4, "oom": 2, "oom_kill": 1},
        "swap": {"usage": 0, "limit": MAX_UINT64, "max": 0},
        "hugetlb_limits": {"2MB": 4 << 20},
    }
    m = v2_metrics(stats, extras)
    assert (m.pids.current, m.pids.limit) == (2, 20)
    assert (m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec) == (5000, 4000, 1000)
    assert (m.cpu.nr_periods, m.cpu.nr_throttled, m.cpu.throttled_usec) == (9, 3, 7)
    assert (m.memory.anon, m.memory.file, m.memory.pgfault, m.memory.workingset_refault) == (100, 4096, 7, 5)
    assert (m.memory.usage, m.memory.usage_limit, m.memory.max_usage) == (8192, 64 << 20, 9000)
    assert (m.memory.swap_usage, m.memory.swap_limit) == (0, MAX_UINT64)
    assert (m.memory_events.max, m.memory_events.oom, m.memory_events.oom_kill) == (4, 2, 1)
    assert [(e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios) for e in m.io.usage] == [
        (8, 0, 512, 1024, 1, 0)
    ]
    assert [(h.pagesize, h.current, h.max) for h in m.hugetlb] == [("2MB", 2 << 20, 4 << 20)]
    # What goes on the wire decodes as containerd's message does.
    assert cgroups_v2.Metrics.FromString(m.SerializeToString()) == m


def test_a_failed_criu_run_keeps_its_log_in_the_bundle_and_our_work_dir_goes(tmp_path) -> None:
    from pyrunc.errors import PyruncError
    from pyrunc.shim.service import Task, TaskService

    bundle, work = tmp_path / "bundle", tmp_path / "work"
    bundle.mkdir()
    work.mkdir()
    (work / "dump.log").write_text("Error (criu/cr-dump.c:1): something\n")
    task = Task("c1", str(bundle))
    with pytest.raises(PyruncError) as err, TaskService._criu_log_kept(task, str(work), True, "dump"):
        raise PyruncError(f"criu dump failed: something (log: {work}/dump.log)")
    kept = bundle / "criu-dump.log"
    assert str(err.value).endswith(f"(kept as {kept})")
    assert kept.read_text().startswith("Error (criu/cr-dump.c:1)")
    assert not work.exists()
    # A work directory that was asked for (not ours) is left as it is, log and all.
    work.mkdir()
    with pytest.raises(PyruncError), TaskService._criu_log_kept(task, str(work), False, "restore"):
        raise PyruncError("criu restore failed")
    assert work.exists() and not (bundle / "criu-restore.log").exists()
