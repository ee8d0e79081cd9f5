"""The `pyrunc` command: how the interpreter is started for every runtime command.

`site` processes every .pth file of the environment (setuptools' distutils hook, the editable-install
finder) and pip's console-script wrapper imports `re`, before pyrunc runs a line: about twice the cost
of the bare interpreter, paid by every command containerd issues. Both launchers below start the
interpreter with -I -S instead and put on sys.path only where pyrunc and its dependencies live. -I also
ignores PYTHON* variables and the user's site, which a runtime started by daemons should not depend on.

- `launcher_text()`: for a checkout installed in place (`pip install -e .`), whose package root is not
  in site-packages; tools/install writes .venv/bin/pyrunc with it:
      python -m pyrunc.launcher PATH
- `script_text()`: the script a wheel (or `pip install .`, or an sdist) installs. pip rewrites only a
  `#!python` first line and drops its arguments, so the script starts as sh, which execs the
  interpreter beside it with -I -S on the same file; Python reads the sh part as a string.
"""

from __future__ import annotations

import os
import sys
import sysconfig


def launcher_text(entry: str = "pyrunc.main") -> str:
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    site_packages = sysconfig.get_paths()["purelib"]
    paths = [package_root] + ([site_packages] if site_packages != package_root else [])
    return (
        f"#!{sys.executable} -IS\n"
        "# Written by `python -m pyrunc.launcher`: pyrunc without site (see pyrunc/launcher.py).\n"
        "import sys\n"
        # After the standard library, as `site` would place them: stdlib imports then never
        # search these directories first.
        f"sys.path += {paths!r}\n"
        f"from {entry} import main\n"
        "main()\n"
    )


# sh: the interpreter beside the script (a venv's bin/), else beside the file a symlink names (a
# `ln -s .venv/bin/pyrunc /usr/local/bin/`), else python3 with site (slow, but right). Python: the
# site-packages of that interpreter's prefix, found from the script's own place as pip lays it out
# (PREFIX/bin/pyrunc, PREFIX/lib/pythonX.Y/site-packages); if pyrunc is not there, start again with site.
SCRIPT = """#!/bin/sh
''':'
# pyrunc, as pip installs it from a wheel: see pyrunc/launcher.py (sh runs this part, Python skips it).
[ -x "${0%/*}/python3" ] && exec "${0%/*}/python3" -I -S "$0" "$@"
p=$(readlink -f -- "$0")
[ -x "${p%/*}/python3" ] && exec "${p%/*}/python3" -I -S "$p" "$@"
exec python3 "$0" "$@"
'''
import sys


def site_packages():
    import os

    prefix = os.path.dirname(os.path.dirname(os.path.realpath(sys.argv[0])))
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for lib in ("lib", "lib64"):
        for name in ("site-packages", "dist-packages"):
            path = os.path.join(prefix, lib, version, name)
            if os.path.exists(os.path.join(path, "pyrunc", "main.py")):
                return path
    return None


if sys.flags.no_site:
    path = site_packages()
    if path is None:
        os = sys.modules.get("os") or __import__("os")
        os.execv(sys.executable, [sys.executable, sys.argv[0], *sys.argv[1:]])
    sys.path.append(path)
from pyrunc.main import main

main()
"""


def script_text(entry: str = "pyrunc.main") -> str:
    if entry == "pyrunc.main":
        return SCRIPT
    return SCRIPT.replace("from pyrunc.main import", f"from {entry} import")


def write(path: str, text: str | None = None, entry: str = "pyrunc.main") -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(entry) if text is None else text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


SHIM = "containerd-shim-pyrunc-v1"


if __name__ == "__main__":
    # python -m pyrunc.launcher PATH [MODULE]: MODULE's main() (default pyrunc.main). Writing the
    # `pyrunc` command also writes containerd's shim beside it (entry pyrunc.shim.main): an editable
    # install's `pip install -e` leaves both as the wheel's scripts, which find no package in
    # site-packages and start again with `site`.
    write(sys.argv[1], entry=sys.argv[2] if len(sys.argv) > 2 else "pyrunc.main")
    if len(sys.argv) == 2:
        write(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), SHIM), entry="pyrunc.shim.main")
