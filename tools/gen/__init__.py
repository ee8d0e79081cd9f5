"""Build-time generators, run by setup.py (`python -m tools.gen.NAME OUTPUT`) and imported by the
tests; not part of the installed package (their outputs are):

- cli_table: pyrunc/_cli_table.py, the CLI dispatch table, from the click definitions of pyrunc/cli.py;
- fastcheck: pyrunc/config/_fastcheck.py, the pure-Python validator, from pyrunc/config/schema/,
  with regex_dfa, its patterns' regex-to-DFA compiler.
"""
