"""The hook points the runtime itself runs: prestart and createRuntime (during create, in the
runtime's namespaces), poststart (after start) and poststop (after delete). createContainer and
startContainer run inside the container, from the C side; all share one runner in C."""

from pyrunc import jsonio
from pyrunc.errors import PyruncError


def hook_state(state: dict, status: str, pid: int) -> bytes:
    """The OCI state given to hooks on stdin."""
    return jsonio.dumps(hook_state_dict(state, status, pid)).encode()


def hook_state_dict(state: dict, status: str, pid: int) -> dict:
    doc = {
        "ociVersion": state.get("ociVersion", ""),
        "id": state["id"],
        "status": status,
        "pid": pid,
        "bundle": state["bundle"],
    }
    if state.get("annotations"):
        doc["annotations"] = state["annotations"]
    return doc


def run_hooks(point: str, hooks: list[dict], state_json: bytes) -> None:
    """Run every hook of one point in order; the first failure raises."""
    failures = _run(point, hooks, state_json, stop_at_first=True)
    if failures:
        raise PyruncError(failures[0])


def run_hooks_best_effort(point: str, hooks: list[dict], state_json: bytes) -> list[str]:
    """Run every hook of one point, whatever fails (poststop); returns the failures."""
    return _run(point, hooks, state_json, stop_at_first=False)


def _run(point: str, hooks: list[dict], state_json: bytes, stop_at_first: bool) -> list[str]:
    from pyrunc import _core

    failures = []
    for index, hook in enumerate(hooks or []):
        failure = _core.run_hook(
            hook["path"], hook.get("args") or [], hook.get("env") or [], hook.get("timeout") or 0, state_json
        )
        if failure is not None:
            failures.append(f"{point} hook #{index} failed: {failure}")
            if stop_at_first:
                break
    return failures
