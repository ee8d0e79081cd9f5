"""Write the `pyrunc` command as a launcher that starts the interpreter with -I -S.

`site` processes every .pth file of the environment (setuptools' distutils hook, the editable-install
finder) before pyrunc runs a line: about twice the cost of the bare interpreter, paid by every command
containerd issues. The launcher skips it and puts on sys.path exactly the two directories pyrunc and
its dependencies live in. -I also ignores PYTHON* variables and the user's site, which a runtime
started by daemons should not depend on.

    python -m pyrunc.launcher PATH    (tools/install writes .venv/bin/pyrunc this way)
"""

from __future__ import annotations

import os
import sys
import sysconfig


def launcher_text() -> str:
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
        "from pyrunc.main import main\n"
        "main()\n"
    )


def write(path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text())
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


if __name__ == "__main__":
    write(sys.argv[1])
