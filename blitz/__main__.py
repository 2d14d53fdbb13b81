"""`python -m blitz` runs the `blitz` command (useful where scripts are not on PATH)."""

from blitz.cli.main import main

main()
