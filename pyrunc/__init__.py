"""pyrunc: an OCI runtime with runc's command line, in Python with a C core."""

__version__ = "0.1.0"
OCI_VERSION = "1.3.0"


def version_text() -> str:
    """`pyrunc --version`. Here, not in commands.py: --version then imports nothing else (os)."""
    try:
        from pyrunc._build_info import COMMIT
    except ImportError:
        COMMIT = "unknown"
    return f"pyrunc version {__version__}\ncommit: {COMMIT}\nspec: {OCI_VERSION}\n"
