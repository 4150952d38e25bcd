"""`python -m safeguard`: the same as the `safeguard` command."""

from .cli import main

main(prog_name="safeguard")
