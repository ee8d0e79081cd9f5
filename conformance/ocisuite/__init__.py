"""ocisuite: an OCI runtime-spec conformance suite for any runc-compatible runtime.

Standard library only; run by /usr/bin/python3 through conformance/run, compare and ci-check.
"""

SUITE_VERSION = "1"
