"""bench/: pyrunc, runc and crun measured side by side (issue 8). Entry points: bench/run, bench/table,
bench/selftest; see bench/README.md."""

import os
import sys

# The repository's root: what bench/ shares with the rest of the tree (tools/crun_hugetlb.py, the
# CRI client of tests/daemons/cri.py) is imported from there, one definition each.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
