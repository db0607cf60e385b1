"""The `cairn` command line: rich tables and progress on a terminal, --json for scripts."""
