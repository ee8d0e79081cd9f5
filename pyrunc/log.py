"""runc-style logging: `--log FILE` (default stderr) and `--log-format text|json`.

A json line is `{"level":"error","msg":"...","time":"RFC3339"}`: containerd's shim reads
the msg of the last error line from the bundle's log.json and shows it to its user.
When the log goes to a file, errors are also printed plainly on stderr, as runc does.
"""

import posix  # os without its import cost: see pyrunc/paths.py
import sys

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_path: str | None = None
_format = "text"
_threshold = _LEVELS["info"]


def configure(path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
    global _path, _format, _threshold
    _path = path or None
    _format = fmt
    _threshold = _LEVELS["debug"] if debug else _LEVELS["info"]


def _timestamp() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def format_line(level: str, msg: str) -> str:
    """Imports its formatting only when a line is written: most commands write none."""
    from pyrunc import jsonio

    if _format == "json":
        return jsonio.dumps({"level": level, "msg": msg, "time": _timestamp()})
    return f'time="{_timestamp()}" level={level} msg={jsonio.dumps(msg)}'


def _emit(level: str, msg: str) -> None:
    line = format_line(level, msg) + "\n"
    if _path is None:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    try:
        fd = posix.open(_path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
    except OSError as err:
        sys.stderr.write(f"cannot open log file {_path}: {err.strerror}\n")
        sys.stderr.write(line)
        return
    try:
        posix.write(fd, line.encode())
    finally:
        posix.close(fd)


def debug(msg: str) -> None:
    if _threshold <= _LEVELS["debug"]:
        _emit("debug", msg)


def info(msg: str) -> None:
    if _threshold <= _LEVELS["info"]:
        _emit("info", msg)


def warning(msg: str) -> None:
    _emit("warning", msg)


def error(msg: str) -> None:
    """Log an error; when the log is a file, also print it plainly on stderr."""
    _emit("error", msg)
    if _path is not None:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
