"""Type stub for the Cython extension pyrunc/_core.pyx: what it exports is untyped (Any) for mypy."""

from typing import Any

def __getattr__(name: str) -> Any: ...
