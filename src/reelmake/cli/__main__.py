"""`python -m reelmake.cli`: the command line."""

from . import main

main()
