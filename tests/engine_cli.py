"""`python -m tests.engine_cli ARGS…`: the reelmake CLI with the counting test backend registered,
for tests that run (and SIGKILL) a real render process."""

from reelmake.cli import main
from tests.engine_backend import install

if __name__ == "__main__":
    install()
    main()
