"""pyrunc.cpulist: the one parser of "0-3,7" lists (config checks, cgroup cpusets, plan masks)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc import cpulist


def test_ranges_ids_and_mask():
    assert cpulist.ranges("0-3,7") == [(0, 3), (7, 7)]
    assert cpulist.ids("0-2,4") == {0, 1, 2, 4}
    assert cpulist.mask("0-3,7") == 0b10001111
    assert cpulist.mask("12,3,5-5") == (1 << 12) | (1 << 3) | (1 << 5)


@pytest.mark.parametrize("text", ["", "0-", "-1", "0,,1", "0, 1", "1-2-3", "a", "\u0663", "0-1\n"])
def test_bad_lists_are_refused(text):
    assert not cpulist.is_valid(text)
    with pytest.raises(ValueError):
        cpulist.ranges(text)


def test_a_backwards_range_is_named():
    with pytest.raises(cpulist.BackwardsRange, match="'3-1'"):
        cpulist.ranges("0,3-1")


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)), min_size=1, max_size=8))
def test_mask_and_ids_agree(items):
    text = ",".join(f"{low}-{low + span}" if span else str(low) for low, span in items)
    assert cpulist.mask(text) == sum(1 << i for i in cpulist.ids(text))
