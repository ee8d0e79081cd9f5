"""bench/: pyrunc, runc and crun measured side by side (issue 8). Entry points: bench/run, bench/table,
bench/selftest; see bench/README.md."""
