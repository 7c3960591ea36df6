"""`python -m interfleet` is the `interfleet` command."""

from interfleet.cli import main

main()
