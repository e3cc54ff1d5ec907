"""`reelmake` command line: parse options, call the library, format results. Nothing else.

Every command takes a storyboard or a campaign file alike; the library (``reelmake.engine.project``)
does the work, ``reelmake.present`` formats it. ``app`` holds the group and what commands share;
``commands``, ``takes`` and ``remote`` register the commands on it.
"""

from . import commands, remote, takes  # noqa: F401  (registering the commands on the group)
from .app import main

__all__ = ["main"]
