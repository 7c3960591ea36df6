"""Ready files: how a service tells whoever started it where it is serving.

A service bound to ephemeral ports writes a small JSON file (atomically) once it serves; the
fleet supervisor and the tests wait for it instead of guessing ports or sleeping.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_ready_file(path: str | os.PathLike[str] | None, **fields: Any) -> None:
    if not path:
        return
    target = Path(path)
    temporary = target.with_suffix(target.suffix + ".tmp")
    temporary.unlink(missing_ok=True)
    # Owner-only: `interfleet up`'s holds the embedded Redis's URL, password included.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps({"pid": os.getpid(), **fields}))
    os.replace(temporary, target)


def wait_for_ready_file(
    path: str | os.PathLike[str], timeout_s: float, alive: Callable[[], bool] = lambda: True
) -> dict[str, Any]:
    """Block until `path` exists (or `alive()` turns false, or the timeout passes)."""
    deadline = time.monotonic() + timeout_s
    target = Path(path)
    while time.monotonic() < deadline:
        if target.exists():
            return json.loads(target.read_text())
        if not alive():
            raise RuntimeError(f"the process that should write {target} exited before it was ready")
        time.sleep(0.02)
    raise TimeoutError(f"{target} did not appear within {timeout_s:.0f} s")
