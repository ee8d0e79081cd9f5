"""config.json mounts (issue 3, item 1): every option runc understands, checked in the container's
/proc/PID/mountinfo (per-mount flags, propagation fields, superblock options) and, where the option
changes what a process can do, from inside with busybox. Also bind mounts of files and directories,
relative destinations, root.readonly, rootfsPropagation, and hostile rootfs trees whose symlinks
point out of the rootfs: no mount and no file may ever land on the host."""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
import uuid

import pytest

from .helpers import exec_inside, long_running, mount_at, mounts_under, run_inside, running, userns

TMPFS = {"type": "tmpfs", "source": "tmpfs"}


def tmpfs(dest: str, *options: str) -> dict:
    return {**TMPFS, "destination": dest, "options": list(options)}


def bind(source: str, dest: str, *options: str, **extra) -> dict:
    return {"type": "bind", "source": source, "destination": dest, "options": list(options), **extra}


def add_mounts(bundle, *mounts: dict):
    bundle.config["mounts"].extend(mounts)
    return bundle.write()


# --------------------------------------------------------------------------------------------------
# Flags: one container carries one mount per case, so the whole table costs one create.


class FlagCase:
    """A mount's options and what mountinfo must then show (or not) per mount and per superblock."""

    def __init__(self, options, shown=(), hidden=(), sb_shown=(), sb_hidden=()) -> None:
        self.options = list(options)
        self.shown, self.hidden = set(shown), set(hidden)
        self.sb_shown, self.sb_hidden = set(sb_shown), set(sb_hidden)

    def problems(self, entry) -> list[str]:
        out = []
        if entry.fstype != "tmpfs":
            out.append(f"type {entry.fstype}")
        if not self.shown <= entry.options or self.hidden & entry.options:
            out.append(f"mount flags {sorted(entry.options)}")
        if not self.sb_shown <= entry.super_options or self.sb_hidden & entry.super_options:
            out.append(f"superblock options {sorted(entry.super_options)}")
        return out


# mount point under /m -> case; later options override earlier ones, as in mount(8)
FLAG_CASES = {
    "ro": FlagCase(["ro"], shown={"ro"}, hidden={"rw"}),
    "rw": FlagCase(["ro", "rw"], shown={"rw"}, hidden={"ro"}),
    "nosuid": FlagCase(["nosuid"], shown={"nosuid"}),
    "nodev": FlagCase(["nodev"], shown={"nodev"}),
    "noexec": FlagCase(["noexec"], shown={"noexec"}),
    "cleared": FlagCase(
        ["nosuid", "nodev", "noexec", "suid", "dev", "exec"], hidden={"nosuid", "nodev", "noexec"}
    ),
    "sync": FlagCase(["sync"], sb_shown={"sync"}),
    "async": FlagCase(["sync", "async"], sb_hidden={"sync"}),
    "dirsync": FlagCase(["dirsync"], sb_shown={"dirsync"}),
    "mand": FlagCase(["mand"], sb_shown={"mand"}),  # shown, though the kernel no longer enforces it
    "nomand": FlagCase(["mand", "nomand"], sb_hidden={"mand"}),
    "lazytime": FlagCase(["lazytime"], sb_shown={"lazytime"}),
    "nolazytime": FlagCase(["lazytime", "nolazytime"], sb_hidden={"lazytime"}),
    "noatime": FlagCase(["noatime"], shown={"noatime"}, hidden={"relatime"}),
    "relatime": FlagCase(["relatime"], shown={"relatime"}, hidden={"noatime"}),
    "strictatime": FlagCase(["strictatime"], hidden={"relatime", "noatime"}),
    "nodiratime": FlagCase(["nodiratime"], shown={"nodiratime"}),
    "diratime": FlagCase(["nodiratime", "diratime"], hidden={"nodiratime"}),
    "nosymfollow": FlagCase(["nosymfollow"], shown={"nosymfollow"}),
    "symfollow": FlagCase(["nosymfollow", "symfollow"], hidden={"nosymfollow"}),
    # Parsed as flags: were any passed to tmpfs as data, it would refuse the mount.
    "accepted": FlagCase(
        ["defaults", "silent", "loud", "iversion", "noiversion", "norelatime"], shown={"rw"}
    ),
    "data": FlagCase(
        ["size=1m", "mode=0710", "uid=5", "gid=6", "nr_inodes=100"],
        sb_shown={"size=1024k", "mode=710", "uid=5", "gid=6", "nr_inodes=100"},
    ),
}


def test_flag_options_and_tmpfs_data_are_applied(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    add_mounts(bundle, *(tmpfs(f"/m/{name}", *case.options) for name, case in FLAG_CASES.items()))
    problems = []
    with running(runtime, bundle, cid) as pid:
        for name, case in FLAG_CASES.items():
            problems += [f"/m/{name} {case.options}: {p}" for p in case.problems(mount_at(pid, f"/m/{name}"))]
        assert not problems, "\n".join(problems)
        # The flags hold from inside too.
        script = (
            "touch /m/ro/f 2>/dev/null && echo ro-writable; touch /m/rw/f && echo rw-ok;"
            # busybox picks its applet by name: the copy is called "true".
            "cp /bin/busybox /m/noexec/true && { /m/noexec/true 2>/dev/null && echo noexec-ran; };"
            "cp /bin/busybox /m/cleared/true && /m/cleared/true && echo exec-ok;"
            "stat -c '%a %u %g' /m/data"
        )
        out = exec_inside(runtime, cid, script).stdout.split("\n")
    assert out[:3] == ["rw-ok", "exec-ok", "710 5 6"], out


def test_remount_changes_the_mount_already_there(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    add_mounts(bundle, tmpfs("/m/r", "size=1m"), tmpfs("/m/r", "remount", "ro", "nosuid"))
    with running(runtime, bundle, cid) as pid:
        stack = [m for m in mounts_under(pid, "/m/r") if m.point == "/m/r"]
        assert len(stack) == 1, f"remount must not mount a second filesystem: {stack}"
        assert {"ro", "nosuid"} <= stack[0].options, stack[0]


def make_dev_readonly(bundle) -> None:
    for mount in bundle.config["mounts"]:
        if mount["destination"] == "/dev":
            mount["options"] = [*mount.get("options", []), "ro"]


def test_readonly_dev_and_tmpfs_become_readonly_after_what_is_beneath_them(runtime, make_bundle, cid):
    """A read-only tmpfs (or /dev) is mounted read-write and made read-only once its submounts,
    devices and links are in, as runc does: otherwise /dev/pts could not even be created."""
    bundle = long_running(make_bundle())
    make_dev_readonly(bundle)
    add_mounts(bundle, tmpfs("/m/ro", "ro", "nosuid"), tmpfs("/m/ro/below/sub", "size=1m"))
    with running(runtime, bundle, cid) as pid:
        for point in ("/dev", "/m/ro"):
            assert {"ro", "nosuid"} <= mount_at(pid, point).options, mount_at(pid, point)
        assert "rw" in mount_at(pid, "/dev/pts").options
        assert "rw" in mount_at(pid, "/m/ro/below/sub").options
        script = (
            "touch /dev/new /m/ro/new 2>&1 | grep -c 'Read-only file system';"
            '[ "$(stat -c %t:%T /dev/null)" = 1:3 ] && echo null-ok; echo x > /dev/null && echo write-ok;'
            "[ -L /dev/fd ] && echo fd-link; touch /m/ro/below/sub/f && echo sub-writable"
        )
        out = exec_inside(runtime, cid, script).stdout.split()
    assert out == ["2", "null-ok", "write-ok", "fd-link", "sub-writable"], out


# --------------------------------------------------------------------------------------------------
# bind and rbind, files and directories


@pytest.fixture
def tree(host_dir, host_mounts):
    """A host directory with a file and a tmpfs submount holding a marker, owned by root."""
    src = host_dir("src")
    with open(os.path.join(src, "top"), "w") as f:
        f.write("top\n")
    sub = os.path.join(src, "sub")
    os.mkdir(sub)
    host_mounts("-t", "tmpfs", "-o", "size=1m", "tmpfs", sub)
    with open(os.path.join(sub, "marker"), "w") as f:
        f.write("marker\n")
    return src


def test_bind_leaves_submounts_out_and_rbind_takes_them(runtime, make_bundle, cid, tree):
    bundle = long_running(make_bundle())
    add_mounts(bundle, bind(tree, "/b/plain", "bind"), bind(tree, "/b/rec", "rbind"))
    with running(runtime, bundle, cid) as pid:
        assert [m.point for m in mounts_under(pid, "/b/plain")] == ["/b/plain"]
        assert [m.point for m in mounts_under(pid, "/b/rec")] == ["/b/rec", "/b/rec/sub"]
        assert mount_at(pid, "/b/plain").root == tree
        script = "cat /b/plain/top /b/rec/sub/marker; ls -A /b/plain/sub | wc -l"
        assert exec_inside(runtime, cid, script).stdout.split() == ["top", "marker", "0"]


def test_binds_of_a_file_and_a_directory_create_the_right_type(runtime, make_bundle, cid, host_dir):
    src = host_dir("src")
    source_file = os.path.join(src, "file.conf")
    with open(source_file, "w") as f:
        f.write("from the host\n")
    bundle = make_bundle()
    add_mounts(
        bundle,
        bind(source_file, "/etc/deep/new/file.conf", "bind", "ro"),
        bind(src, "/data/deep/dir", "rbind"),
    )
    script = (
        "stat -c %F /etc/deep/new/file.conf /data/deep/dir; cat /etc/deep/new/file.conf;"
        "{ echo more >> /etc/deep/new/file.conf; } 2>/dev/null || echo read-only"
    )
    out = run_inside(runtime, bundle, cid, script).splitlines()
    assert out == ["regular file", "directory", "from the host", "read-only"]
    # The destinations were made inside the bundle's rootfs, with the type of their source.
    assert os.path.isfile(os.path.join(bundle.rootfs, "etc/deep/new/file.conf"))
    assert os.path.isdir(os.path.join(bundle.rootfs, "data/deep/dir"))


def test_bind_flags_are_applied_to_the_bind(runtime, make_bundle, cid, tree):
    """A bind takes its flags in a remount of the new mount (MS_BIND ignores them): only the
    top of an rbind, the submounts keep theirs."""
    bundle = long_running(make_bundle())
    options = ["rbind", "ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"]
    add_mounts(bundle, bind(tree, "/b/flags", *options))
    with running(runtime, bundle, cid) as pid:
        top = mount_at(pid, "/b/flags")
        assert {"ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"} <= top.options, top
        assert "rw" in mount_at(pid, "/b/flags/sub").options


def test_relative_bind_source_is_relative_to_the_bundle(runtime, make_bundle, cid):
    bundle = make_bundle()
    os.mkdir(os.path.join(bundle.path, "volume"))
    with open(os.path.join(bundle.path, "volume", "inside"), "w") as f:
        f.write("from the bundle\n")
    add_mounts(bundle, bind("volume", "/volume", "rbind"))
    assert run_inside(runtime, bundle, cid, "cat /volume/inside") == "from the bundle\n"


def test_relative_destination_is_relative_to_the_container_root(runtime, make_bundle, cid):
    """runtime-spec 1.2: a relative destination is taken relative to /."""
    bundle = long_running(make_bundle())
    add_mounts(bundle, tmpfs("mnt/relative", "size=1m"))
    with running(runtime, bundle, cid) as pid:
        assert mount_at(pid, "/mnt/relative").fstype == "tmpfs"


# --------------------------------------------------------------------------------------------------
# Propagation


@pytest.fixture
def shared_tree(host_dir, host_mounts):
    """A shared tmpfs on the host with a submount, and an empty directory `late` where the test
    mounts something once the container runs."""
    src = host_dir("shared")
    host_mounts("-t", "tmpfs", "-o", "size=1m", "tmpfs", src)
    subprocess.run(["mount", "--make-shared", src], check=True)
    for name in ("sub", "late"):
        os.mkdir(os.path.join(src, name))
    host_mounts("-t", "tmpfs", "-o", "size=1m", "tmpfs", os.path.join(src, "sub"))
    return src


PROPAGATION_CASES = {
    # dest -> (options, check on the top mount, check on its submount)
    "private": (["rbind", "private"], "private", "slave"),
    "rprivate": (["rbind", "rprivate"], "private", "private"),
    "shared": (["rbind", "shared"], "shared", "slave"),
    "rshared": (["rbind", "rshared"], "shared", "shared"),
    "rslave": (["rbind", "rslave"], "slave", "slave"),
    "unbindable": (["rbind", "unbindable"], "unbindable", "slave"),
    "runbindable": (["rbind", "runbindable"], "unbindable", "unbindable"),
}


def test_propagation_options_and_their_recursive_forms(runtime, make_bundle, cid, shared_tree, host_mounts):
    """The container's copy of a shared host tree starts as a slave of it (the container's / is
    rslave); each option then sets the top mount, and its r-form the submounts too."""
    bundle = long_running(make_bundle())
    add_mounts(
        bundle, *(bind(shared_tree, f"/p/{name}", *case[0]) for name, case in PROPAGATION_CASES.items())
    )
    problems = []
    with running(runtime, bundle, cid) as pid:
        for name, (options, top, sub) in PROPAGATION_CASES.items():
            for point, want in ((f"/p/{name}", top), (f"/p/{name}/sub", sub)):
                entry = mount_at(pid, point)
                if not getattr(entry, want):
                    problems.append(f"{point} {options}: want {want}, optional fields {entry.optional}")
        assert not problems, "\n".join(problems)
        # What the host mounts later reaches the slaves, never the private copies.
        host_mounts("-t", "tmpfs", "-o", "size=1m", "tmpfs", os.path.join(shared_tree, "late"))
        seen = {m.point for m in mounts_under(pid, "/p")}
    assert "/p/rslave/late" in seen
    assert "/p/rprivate/late" not in seen


@pytest.mark.parametrize(
    ("propagation", "want"),
    [
        pytest.param(None, "slave"),
        pytest.param("rslave", "slave"),
        # Not recursive: the shared mount holding the rootfs is made a slave, not private, for
        # pivot_root, so / still receives the host's mounts.
        ("slave", "slave"),
        ("private", "private"),
        ("rprivate", "private"),
        ("shared", "shared"),
        ("unbindable", "unbindable"),
        ("runbindable", "unbindable"),
    ],
)
def test_rootfs_propagation(runtime, make_bundle, cid, host_dir, host_mounts, propagation, want):
    """The rootfs sits on a shared host mount (as under systemd): rootfsPropagation decides whether
    the container's / receives what the host mounts below the rootfs later."""
    shared = host_dir("shared-root")
    host_mounts("-t", "tmpfs", "-o", "size=64m", "tmpfs", shared)
    subprocess.run(["mount", "--make-shared", shared], check=True)
    bundle = long_running(make_bundle())
    rootfs = os.path.join(shared, "rootfs")
    subprocess.run(["cp", "-a", bundle.rootfs, rootfs], check=True)
    os.makedirs(os.path.join(rootfs, "mnt", "late"))
    bundle.config["root"]["path"] = rootfs
    if propagation:
        bundle.config["linux"]["rootfsPropagation"] = propagation
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        root = mount_at(pid, "/")
        assert getattr(root, want), root
        host_mounts("-t", "tmpfs", "-o", "size=1m", "tmpfs", os.path.join(rootfs, "mnt", "late"))
        received = any(m.point == "/mnt/late" for m in mounts_under(pid, "/mnt"))
    # A slave receives the host's mounts; a private / never does. (A shared / is a peer group of
    # the container's own: the rootfs was bound from a mount made private for pivot_root.)
    if want != "shared":
        assert received is (want == "slave"), f"/ is {want}; host mount received: {received}"


@pytest.mark.parametrize("propagation", ["unbindable", "runbindable"])
def test_unbindable_rootfs_on_any_mount(runtime, make_bundle, cid, propagation):
    """The rootfs where the test's temporary directory is (on this host, the mount of /): / is made
    unbindable only after pivot_root, since the rootfs could not be bound from an unbindable
    mount ("bind the rootfs ... onto itself: invalid argument"; runc 1.1.5 fails the same way)."""
    bundle = long_running(make_bundle())
    bundle.config["linux"]["rootfsPropagation"] = propagation
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = [*caps.get(kind, []), "CAP_SYS_ADMIN"]  # to try binding /
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert mount_at(pid, "/").unbindable, mount_at(pid, "/")
        out = exec_inside(
            runtime, cid, "mkdir -p /dev/shm/b && mount --bind / /dev/shm/b 2>&1; echo rc=$?", check=False
        )
    assert "Invalid argument" in out.stdout and "rc=0" not in out.stdout, out.stdout


@pytest.mark.parametrize("readonly", [True, False])
def test_root_readonly(runtime, make_bundle, cid, readonly):
    bundle = long_running(make_bundle())
    bundle.config["root"]["readonly"] = readonly
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert ("ro" in mount_at(pid, "/").options) is readonly
        writable = exec_inside(runtime, cid, "touch /probe 2>/dev/null && echo yes || echo no").stdout
    assert writable.strip() == ("no" if readonly else "yes")


# --------------------------------------------------------------------------------------------------
# Recursive flags (mount_setattr with AT_RECURSIVE)

RECURSIVE_CASES = {
    "ro": (["rbind", "ro"], {"ro"}, {"rw"}),  # the plain form: the submount stays rw
    "rro": (["rbind", "rro"], {"ro"}, {"ro"}),
    "rnosuid": (
        ["rbind", "rnosuid", "rnodev", "rnoexec"],
        {"nosuid", "nodev", "noexec"},
        {"nosuid", "nodev", "noexec"},
    ),
    "rnoatime": (["rbind", "rnoatime", "rnodiratime"], {"noatime", "nodiratime"}, {"noatime", "nodiratime"}),
    "rnosymfollow": (["rbind", "rnosymfollow"], {"nosymfollow"}, {"nosymfollow"}),
    "rrw": (["rbind", "rro", "rrw"], {"rw"}, {"rw"}),
}


def test_recursive_flag_options_reach_every_submount(runtime, make_bundle, cid, tree):
    bundle = long_running(make_bundle())
    add_mounts(bundle, *(bind(tree, f"/r/{name}", *case[0]) for name, case in RECURSIVE_CASES.items()))
    problems = []
    with running(runtime, bundle, cid) as pid:
        for name, (options, top, sub) in RECURSIVE_CASES.items():
            for point, want in ((f"/r/{name}", top), (f"/r/{name}/sub", sub)):
                entry = mount_at(pid, point)
                if not want <= entry.options:
                    problems.append(f"{point} {options}: want {sorted(want)}, got {sorted(entry.options)}")
        assert not problems, "\n".join(problems)
        out = exec_inside(runtime, cid, "touch /r/rro/sub/x 2>/dev/null && echo writable || echo refused")
    assert out.stdout.strip() == "refused"
    assert not os.path.exists(os.path.join(tree, "sub", "x"))


def test_recursive_strictatime_clears_relatime(runtime, make_bundle, cid, tree):
    bundle = long_running(make_bundle())
    add_mounts(bundle, bind(tree, "/r/strict", "rbind", "rstrictatime"))
    with running(runtime, bundle, cid) as pid:
        for point in ("/r/strict", "/r/strict/sub"):
            assert not {"relatime", "noatime"} & mount_at(pid, point).options, mount_at(pid, point)


# --------------------------------------------------------------------------------------------------
# Idmapped mounts (runtime-spec 1.2: idmap/ridmap, mount uidMappings/gidMappings)

MOUNT_UIDS = [{"containerID": 0, "hostID": 100000, "size": 65536}]
MOUNT_GIDS = [{"containerID": 0, "hostID": 200000, "size": 65536}]


@pytest.fixture
def owned_tree(host_dir):
    """A host directory without submounts holding files of known owners: top 0:0, owned 1000:1001.
    (In a user namespace a non-recursive bind of a tree with submounts is refused by the kernel:
    they are locked, and the bind would uncover what they hide.)"""
    src = host_dir("owned")
    for name, owner in (("top", (0, 0)), ("owned", (1000, 1001))):
        path = os.path.join(src, name)
        with open(path, "w"):
            pass
        os.chown(path, *owner)
    return src


def test_idmap_with_the_mounts_own_mappings(runtime, make_bundle, cid, owned_tree):
    """No user namespace: the mount's mappings alone shift what the process sees."""
    bundle = long_running(make_bundle())
    add_mounts(
        bundle,
        bind(owned_tree, "/i/mapped", "bind", "idmap", uidMappings=MOUNT_UIDS, gidMappings=MOUNT_GIDS),
        bind(owned_tree, "/i/plain", "bind"),
    )
    with running(runtime, bundle, cid) as pid:
        assert "idmapped" in mount_at(pid, "/i/mapped").options
        assert "idmapped" not in mount_at(pid, "/i/plain").options
        script = "stat -c %u:%g /i/mapped/top /i/mapped/owned /i/plain/top"
        out = exec_inside(runtime, cid, script).stdout.split()
    assert out == ["100000:200000", "101000:201001", "0:0"]


def test_ridmap_maps_submounts_and_idmap_only_the_top(runtime, make_bundle, cid, tree):
    bundle = long_running(make_bundle())
    maps = {"uidMappings": MOUNT_UIDS, "gidMappings": MOUNT_GIDS}
    add_mounts(
        bundle,
        bind(tree, "/i/top", "rbind", "idmap", **maps),
        bind(tree, "/i/all", "rbind", "ridmap", **maps),
    )
    with running(runtime, bundle, cid) as pid:
        assert "idmapped" in mount_at(pid, "/i/top").options
        assert "idmapped" not in mount_at(pid, "/i/top/sub").options
        assert "idmapped" in mount_at(pid, "/i/all/sub").options
        script = "stat -c %u /i/top/top /i/top/sub/marker /i/all/sub/marker"
        out = exec_inside(runtime, cid, script).stdout.split()
    assert out == ["100000", "0", "100000"]


def test_idmap_in_a_user_namespace_uses_its_mappings(runtime, make_bundle, cid, owned_tree):
    """Without mappings of its own, an idmapped mount takes the container's: host root's files
    are the container root's, and what container root writes is root's on the host."""
    bundle = userns(make_bundle())
    add_mounts(bundle, bind(owned_tree, "/i/mapped", "bind", "idmap"), bind(owned_tree, "/i/plain", "bind"))
    script = "stat -c %u:%g /i/mapped/top /i/mapped/owned /i/plain/top; touch /i/mapped/made-inside"
    out = run_inside(runtime, bundle, cid, script).split()
    assert out == ["0:0", "1000:1001", "65534:65534"]
    made = os.stat(os.path.join(owned_tree, "made-inside"))
    assert (made.st_uid, made.st_gid) == (0, 0)


# --------------------------------------------------------------------------------------------------
# Hostile rootfs trees: every destination resolves inside the rootfs (CVE-2021-30465, 2024-45310)


@pytest.fixture
def escape_name():
    """A name that must never appear at the host's / or under /tmp."""
    name = f"pyrunc-escape-{uuid.uuid4().hex[:10]}"
    yield name
    for path in (f"/{name}", f"/tmp/{name}"):
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", path], capture_output=True)
        if os.path.isdir(path):
            os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)


@pytest.mark.parametrize("target", ["/", "../../../../../../..", "/proc/self/root", "/tmp"])
def test_symlinked_directory_never_leads_a_mount_out(runtime, make_bundle, cid, escape_name, target):
    bundle = long_running(make_bundle())
    os.symlink(target, os.path.join(bundle.rootfs, "mnt-link"))
    add_mounts(bundle, tmpfs(f"/mnt-link/{escape_name}", "size=1m"))
    result = runtime("create", "--bundle", bundle.path, cid, check=False)
    try:
        for path in (f"/{escape_name}", f"/tmp/{escape_name}"):
            assert not os.path.lexists(path), f"{path} was created on the host"
        if result.returncode == 0:
            pid = runtime.state(cid)["pid"]
            inside = [m for m in mounts_under(pid, "/") if m.point.endswith(escape_name)]
            assert len(inside) == 1 and inside[0].fstype == "tmpfs", inside
    finally:
        runtime("delete", "--force", cid, check=False)


def test_symlinked_file_destination_stays_in_the_rootfs(runtime, make_bundle, cid, escape_name, host_dir):
    src = os.path.join(host_dir("src"), "payload")
    with open(src, "w") as f:
        f.write("payload\n")
    bundle = make_bundle()
    os.symlink(f"/tmp/{escape_name}", os.path.join(bundle.rootfs, "etc", "linked"))
    add_mounts(bundle, bind(src, "/etc/linked", "bind"))
    runtime("run", "--bundle", bundle.path, cid, check=False)
    assert not os.path.lexists(f"/tmp/{escape_name}"), "the destination was made on the host"


def test_file_bind_onto_a_dangling_symlink_creates_its_target_in_the_rootfs(
    runtime, make_bundle, cid, host_dir
):
    src = os.path.join(host_dir("src"), "resolv.conf")
    with open(src, "w") as f:
        f.write("nameserver 192.0.2.1\n")
    bundle = make_bundle()
    resolv = os.path.join(bundle.rootfs, "etc", "resolv.conf")
    os.unlink(resolv)
    os.symlink("../run/systemd/resolve/stub-resolv.conf", resolv)
    add_mounts(bundle, bind(src, "/etc/resolv.conf", "bind", "ro"))
    assert run_inside(runtime, bundle, cid, "cat /etc/resolv.conf") == "nameserver 192.0.2.1\n"
    assert os.path.isfile(os.path.join(bundle.rootfs, "run/systemd/resolve/stub-resolv.conf"))


def exchange(a: str, b: str) -> None:
    """renameat2(RENAME_EXCHANGE): swap two names atomically."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


AT_FDCWD = -100
RENAME_EXCHANGE = 2


def test_symlink_swapped_in_during_create_never_escapes(runtime, make_bundle, cid, escape_name):
    """A racing thread swaps the destination's parent between a directory and a symlink to a host
    directory while create resolves it; whatever wins, nothing may be mounted or made there."""
    host_target = f"/tmp/{escape_name}"
    os.mkdir(host_target)
    bundle = long_running(make_bundle())
    add_mounts(bundle, tmpfs("/race/dir/victim", "size=1m"))
    race = os.path.join(bundle.rootfs, "race")
    os.makedirs(os.path.join(race, "dir"))
    os.symlink(host_target, os.path.join(race, "link"))
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            exchange(os.path.join(race, "dir"), os.path.join(race, "link"))

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        for attempt in range(6):
            name = f"{cid}-{attempt}"
            runtime("create", "--bundle", bundle.path, name, check=False)
            runtime("delete", "--force", name, check=False)
            assert os.listdir(host_target) == [], f"attempt {attempt} wrote into the host directory"
            assert not os.path.ismount(host_target), f"attempt {attempt} mounted on the host directory"
    finally:
        stop.set()
        swapper.join(timeout=10)
