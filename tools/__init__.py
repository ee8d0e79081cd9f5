"""Developer tools: shell scripts (install, quick, test, demo) and the build-time generators in
tools/gen/. A package only so that `python -m tools.gen.NAME` and the tests import the generators."""
