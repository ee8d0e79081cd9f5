"""runtime.md State: the fields of the state JSON in each status."""

from __future__ import annotations

import json
import os
import re

from .. import sysutil
from ..ctx import Ctx
from ..registry import case

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _common_fields(t: Ctx, st: dict, cid: str, bundle_path: str) -> None:
    t.check(
        isinstance(st.get("ociVersion"), str) and SEMVER.match(st["ociVersion"]),
        f"ociVersion {st.get('ociVersion')!r} is not a SemVer string",
    )
    t.eq(st.get("id"), cid, "state id")
    bundle = st.get("bundle")
    t.check(isinstance(bundle, str) and os.path.isabs(bundle), f"bundle {bundle!r} is not an absolute path")
    t.eq(os.path.realpath(bundle), os.path.realpath(bundle_path), "state bundle")


@case("state/created-fields", spec="runtime.md State: ociVersion, id, status, pid, bundle")
def created_fields(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    c = t.create(b)
    res = t.rt("state", c.id)
    try:
        st = json.loads(res.out)
    except ValueError:
        t.fail(f"state stdout is not one JSON document: {res.out[:200]!r}")
    t.check(isinstance(st, dict), "state output is not a JSON object")
    _common_fields(t, st, c.id, b.path)
    t.eq(st.get("status"), "created", "status")
    t.check(isinstance(st.get("pid"), int) and st["pid"] > 0, f"pid {st.get('pid')!r} is not a positive int")
    t.check(os.path.exists(f"/proc/{st['pid']}"), "pid does not name a live host process")


@case(
    "state/running-fields", spec="runtime.md State: pid REQUIRED when created or running, as seen by the host"
)
def running_fields(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    c = t.create(b)
    c.start()
    st = c.state()
    _common_fields(t, st, c.id, b.path)
    t.eq(st.get("status"), "running", "status")
    t.eq(st.get("pid"), c.pid, "pid (unchanged by start)")
    cmdline = (sysutil.read_text(f"/proc/{st['pid']}/cmdline") or "").split("\0")
    t.eq(cmdline[0], "sleep", "the host process named by pid runs the user program")


@case("state/stopped-fields", spec="runtime.md State: status stopped once the container process exited")
def stopped_fields(t: Ctx) -> None:
    b = t.bundle(["true"])
    c = t.create(b)
    c.start()
    c.wait_stopped()
    st = c.state()
    _common_fields(t, st, c.id, b.path)
    t.eq(st.get("status"), "stopped", "status")


@case(
    "state/bundle-absolute-from-relative", spec="runtime.md State: bundle is the absolute path of the bundle"
)
def bundle_absolute_from_relative(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    c = t.create(b, cwd=os.path.dirname(b.path), bundle_arg=os.path.basename(b.path))
    bundle = c.state().get("bundle")
    t.check(isinstance(bundle, str) and os.path.isabs(bundle), f"bundle {bundle!r} is not absolute")
    t.eq(os.path.realpath(bundle), os.path.realpath(b.path), "bundle given as a relative --bundle")


@case("annotations/in-state", spec="runtime.md State: annotations associated with the container")
def annotations(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    wanted = {"org.example.suite": "ocisuite", "org.example.empty": "", "com.example.x/y": "a=b c"}
    b.config["annotations"] = wanted
    c = t.create(b)
    t.eq(c.state().get("annotations"), wanted, "state annotations")


@case("annotations/absent-or-empty", spec="runtime.md State: without annotations, absent or an empty map")
def no_annotations(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    st = c.state()
    t.check(
        st.get("annotations") in (None, {}), f"annotations {st.get('annotations')!r}, want absent or {{}}"
    )
