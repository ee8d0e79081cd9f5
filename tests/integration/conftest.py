"""A leak check around every integration test (tests/leaks.py): no process, mount, cgroup or state
directory made by the test may outlive it."""

import pytest

from tests import leaks


@pytest.fixture(autouse=True)
def leak_check(tmp_path):
    yield from leaks.around_test(tmp_path)
