"""`python -m nonstop`: the same command line as the `nonstop` script."""

from nonstop.cli import main

main()
