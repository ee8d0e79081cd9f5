"""CPU and memory-node lists as the kernel writes them ("0-3,7"): the one parser behind the
config checks (cpuset, execCPUAffinity, memoryPolicy.nodes), the cgroup cpuset values and the
plan's bitmasks. Pure: no I/O, nothing imported."""

DIGITS = frozenset("0123456789")


class BackwardsRange(ValueError):
    """A range such as "3-1"; `item` is that range."""

    def __init__(self, item: str) -> None:
        super().__init__(f"range {item!r} goes backwards")
        self.item = item


def ranges(text: str) -> list[tuple[int, int]]:
    """'0-3,7' -> [(0, 3), (7, 7)]: comma-separated numbers and ascending ranges, ASCII digits
    only (str.isdigit() would take other scripts' digits), no spaces. ValueError otherwise."""
    out = []
    for item in text.split(","):
        low, dash, high = item.partition("-")
        if not _is_number(low) or (dash and not _is_number(high)):
            raise ValueError(f'{text!r} is not a list such as "0-2,4"')
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise BackwardsRange(item)
        out.append((first, last))
    return out


def is_valid(text: str) -> bool:
    try:
        ranges(text)
    except ValueError:
        return False
    return True


def ids(text: str) -> set[int]:
    """'0-2,4' -> {0, 1, 2, 4}."""
    return {i for first, last in ranges(text) for i in range(first, last + 1)}


def mask(text: str) -> int:
    """'0-3,7' -> 0b10001111 (without expanding the ranges one by one)."""
    bits = 0
    for first, last in ranges(text):
        bits |= (1 << (last + 1)) - (1 << first)
    return bits


def _is_number(text: str) -> bool:
    return bool(text) and all(c in DIGITS for c in text)
