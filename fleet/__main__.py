"""`python -m fleet` is the `interfleet` command."""

from fleet.cli import main

main()
