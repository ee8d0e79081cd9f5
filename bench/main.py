"""Entry point behind bench/run, bench/shims, bench/table and bench/selftest (first argument: which)."""

import sys

from harness import cli, selftest


def main() -> int:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "run":
        return cli.run_main(args)
    if command == "shims":
        from harness import shims

        return shims.main(args)
    if command == "table":
        return cli.table_main(args)
    if command == "selftest":
        return selftest.main()
    print(f"bench/main.py: unknown command {command!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
