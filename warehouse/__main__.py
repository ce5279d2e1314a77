"""`python -m warehouse` is the same as `mwh`."""

from .cli import main

main()
