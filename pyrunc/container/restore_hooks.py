"""The prestart and createRuntime hooks of a restored container, run from CRIU's action script.

runc runs them when CRIU reports `setup-namespaces` during a restore (the restored init exists, in
its namespaces, and nothing of the container runs yet): the same point as at create. pyrunc drives
the criu command, whose twin of that notification is `--action-script PATH`: CRIU executes PATH
(no arguments, its own environment) at each step of the restore, with CRTOOLS_SCRIPT_ACTION naming
the step and, from setup-namespaces on, CRTOOLS_INIT_PID the init's host pid. The script is
pyrunc/restore-hooks (shipped beside pyrunc-init); restore writes what the hooks need to a file in
the container's state directory and gives the script, in CRIU's environment, that file, this
interpreter and the import path. A hook that fails makes the script fail (its message in
FILE.failed, which restore reports), and CRIU then abandons the restore. The hooks' stdio are
CRIU's, as at create they are pyrunc's.

Run by the script as `python -I -S -c LOADER FILE`: not on the CLI's import path.
"""

from __future__ import annotations

import os
import sys

from pyrunc import jsonio

ACTION = "setup-namespaces"
SCRIPT = "restore-hooks"  # in the package directory
HOOK_POINTS = ("prestart", "createRuntime")


def wanted(config: dict) -> bool:
    hooks = config.get("hooks") or {}
    return any(hooks.get(point) for point in HOOK_POINTS)


def write_input(path: str, config: dict, state: dict) -> None:
    """The hooks and the state they are given (its pid is the restored init's, known later)."""
    from pyrunc import hooks
    from pyrunc.errors import PyruncError, errno_text

    config_hooks = config.get("hooks") or {}
    doc = {
        "state": hooks.hook_state_dict(state, "creating", 0),
        "hooks": {point: config_hooks.get(point) or [] for point in HOOK_POINTS},
    }
    try:
        with open(path, "w") as f:
            f.write(jsonio.dumps(doc))
    except OSError as err:
        raise PyruncError(f"cannot write {path}: {errno_text(err)}") from None


def action_script(path: str) -> tuple[str, dict[str, str]]:
    """The script CRIU runs at each step, and what to add to CRIU's environment for it: the
    hooks' input `path`, this interpreter and the running pyrunc's import path."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(package)
    paths = [root, *(p for p in sys.path if p.endswith("-packages"))]
    loader = f"import sys; sys.path[:0] = {paths!r}; from pyrunc.container.restore_hooks import main; main()"
    env = {"PYRUNC_HOOKS_INPUT": path, "PYRUNC_HOOKS_PYTHON": sys.executable, "PYRUNC_HOOKS_LOADER": loader}
    script = os.path.join(package, SCRIPT)
    if not os.access(script, os.X_OK):
        from pyrunc.errors import PyruncError

        raise PyruncError(
            f"cannot run the restore hooks: {script} is missing or not executable (reinstall pyrunc)"
        )
    return script, env


def main() -> None:
    if os.environ.get("CRTOOLS_SCRIPT_ACTION") != ACTION:
        sys.exit(0)
    from pyrunc import hooks
    from pyrunc.errors import PyruncError

    try:
        with open(sys.argv[1], "rb") as f:
            doc = jsonio.loads(f.read())
        pid = int(os.environ["CRTOOLS_INIT_PID"])
        state = dict(doc["state"], pid=pid)
        state_json = jsonio.dumps(state).encode()
        for point in HOOK_POINTS:
            hooks.run_hooks(point, doc["hooks"].get(point) or [], state_json)
    except (OSError, ValueError, KeyError) as err:
        _fail(f"the restore hooks' input {sys.argv[1]}: {err!r}")
    except PyruncError as err:
        _fail(str(err))


def failure(path: str) -> str | None:
    """What a failed run of the script left (None: it did not fail)."""
    try:
        with open(path + ".failed") as f:
            return f.read().strip() or "a restore hook failed"
    except OSError:
        return None


def _fail(message: str) -> None:
    # Not on stderr: CRIU's stdio are the container's (--inherit-fd) by then.
    try:
        with open(sys.argv[1] + ".failed", "w") as f:
            f.write(message)
    finally:
        sys.exit(1)
