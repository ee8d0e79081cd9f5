"""One function per verb, called with the parsed options as plain dicts, by both the click CLI
(pyrunc/cli.py) and the fast dispatcher (pyrunc/main.py). Each imports only what its verb needs.

The verbs that act on an existing container (start, state, kill, delete, pause, resume, update),
which containerd calls for each container, are here with the dispatcher; the others are in the
modules beside it (launch: create, run, exec; criu: checkpoint, restore; info: list, ps, events,
spec, features, help), loaded by their verbs alone: the hot verbs pay for every line of the modules
they load, on every call (issue 15; the whole table here cost state 0.09 ms in process)."""

import sys

from pyrunc import log, version_text  # noqa: F401 (version_text: for pyrunc/cli.py)
from pyrunc.errors import PyruncError


def store_for(g: dict):
    """The store of --root, or the default root (root's, or the user's when rootless)."""
    from pyrunc.store import Store

    if g.get("root"):
        return Store(g["root"])
    from pyrunc.rootless import default_root

    return Store(default_root())


def rootless_for(g: dict) -> bool:
    """--rootless true|false|auto, decided."""
    from pyrunc.rootless import rootless

    return rootless(g.get("rootless") or "auto")


def cmd_start(g: dict, opts: dict) -> int:
    from pyrunc.container.start import start

    start(store_for(g), opts["container_id"])
    return 0


def cmd_state(g: dict, opts: dict) -> int:
    from pyrunc import jsonio
    from pyrunc.container.query import state

    sys.stdout.write(jsonio.dumps_pretty(state(store_for(g), opts["container_id"])) + "\n")
    return 0


def cmd_kill(g: dict, opts: dict) -> int:
    from pyrunc import signals
    from pyrunc.container.kill import kill

    try:
        sig = signals.parse_signal(opts.get("signal") or "SIGTERM")
    except ValueError as err:
        raise PyruncError(str(err)) from None
    kill(store_for(g), opts["container_id"], sig, all_processes=bool(opts.get("all")))
    return 0


def cmd_delete(g: dict, opts: dict) -> int:
    from pyrunc.container.delete import delete

    delete(store_for(g), opts["container_id"], force=bool(opts.get("force")))
    return 0


def cmd_pause(g: dict, opts: dict) -> int:
    from pyrunc.container.pause import pause

    pause(store_for(g), opts["container_id"])
    return 0


def cmd_resume(g: dict, opts: dict) -> int:
    from pyrunc.container.pause import resume

    resume(store_for(g), opts["container_id"])
    return 0


def cmd_update(g: dict, opts: dict) -> int:
    from pyrunc.cgroups.update_flags import CLI_FLAGS
    from pyrunc.container.update import update

    given = ((name, opts.get(name.replace("-", "_"))) for name, _help in CLI_FLAGS)
    flags = {name: value for name, value in given if value not in (None, "")}
    update(store_for(g), opts["container_id"], opts.get("resources") or None, flags)
    return 0


# Each verb's module (None: this one); its function is cmd_<verb> there.
COMMANDS = {
    "exec": "launch",
    "pause": None,
    "resume": None,
    "ps": "info",
    "update": None,
    "events": "info",
    "create": "launch",
    "run": "launch",
    "start": None,
    "state": None,
    "kill": None,
    "delete": None,
    "list": "info",
    "spec": "info",
    "features": "info",
    "help": "info",
    "checkpoint": "criu",
    "restore": "criu",
}


def command(name: str):
    """The function of verb `name`."""
    where = COMMANDS[name]
    module = sys.modules[__name__] if where is None else __import__(f"{__name__}.{where}", fromlist=["_"])
    return getattr(module, f"cmd_{name}")


# As runc: exec exits 255 when it fails before its process runs (bad --pid-file, paused or missing
# container, bad --process, a command that cannot be executed, ...), with "exec failed: " before the
# message, so that callers can tell the runtime's failure from the process's own exit status.
# Usage errors (an unknown flag, no id) stay 1: click reports them before any verb runs.
_FAILED = {"exec": (255, "exec failed: ")}


def dispatch(name: str, g: dict, opts: dict) -> int:
    """Run one verb; errors become a log line and exit status 1 (255 for exec, see _FAILED)."""
    log.configure(g.get("log") or None, g.get("log_format") or "text", bool(g.get("debug")))
    status, prefix = _FAILED.get(name, (0, ""))
    try:
        return command(name)(g, opts) or 0
    except PyruncError as err:
        log.error(prefix + str(err))
        return status or err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: still one line for the user and the shim, details on --debug
        log.error(f"{prefix}internal error in {name}: {type(err).__name__}: {err}")
        if g.get("debug"):
            import traceback

            traceback.print_exc()
        return status or 1
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
