"""`python -m seedcompile`: the same command line as `seedcompile`."""

from seedcompile.cli import main

main()
