"""`python -m studentops` runs the CLI."""

from studentops.cli import main

main()
