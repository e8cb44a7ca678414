"""Child processes that end with their parent: nothing the platform starts outlives it.

``die_with_parent(os.getpid())`` is a ``preexec_fn`` for ``subprocess.Popen``; a child process
may also call ``die_with_parent(os.getppid())()`` first thing. On Linux the kernel then sends
the child SIGKILL when the parent dies, even when the parent was SIGKILLed itself
(``PR_SET_PDEATHSIG``); elsewhere only a clean stop ends the child.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> Callable[[], None]:
    """A function that arms the death signal in the calling (child) process, and exits at once
    when ``parent`` already died before it was armed."""

    def arm() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above armed the signal
            os._exit(1)

    return arm
