"""Children that cannot outlive the process that started them, and that a terminal's Ctrl-C does not reach.

Every process `interfleet up` starts (redis-server, workers, the predictor, the router) runs in
a process group of its own, so the SIGINT a terminal sends its foreground group reaches only
the supervisor, which then stops them in order; and each asks the kernel to send it SIGTERM
when its parent dies (PR_SET_PDEATHSIG), so even a supervisor killed outright (`kill -9`)
leaves nothing running. A child can also be held to some cores (`cpus`), which every thread it
starts inherits.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
from collections.abc import Collection, Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1
# util-linux (Essential in Debian, so in every image): set the death signal and the cores in the
# child by exec, not by Python code run between fork and exec, which is unsafe in a process
# with threads (gRPC's) and, seen here, can kill the child before it starts.
_SETPRIV = shutil.which("setpriv")
_TASKSET = shutil.which("taskset")


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: children outlive a killed supervisor, as with any shell
        pass


def spawn_child(command: Sequence[str], cpus: Collection[int] = (), **popen: Any) -> subprocess.Popen:
    """Start `command` as a child bound to this process (see the module docstring), on `cpus` only
    when given (set before it runs, so every thread it starts inherits them)."""
    if _SETPRIV and (_TASKSET or not cpus):
        pin = [_TASKSET, "--cpu-list", ",".join(map(str, sorted(cpus)))] if cpus else []
        wrapped = [_SETPRIV, "--pdeathsig", "TERM", *pin, *command]
        return subprocess.Popen(wrapped, process_group=0, **popen)

    def prepare() -> None:
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    return subprocess.Popen(list(command), preexec_fn=prepare, process_group=0, **popen)
