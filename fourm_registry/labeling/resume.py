"""Resumable shard writing: markers for shards cut short, and clean-up of killed runs' temporaries."""
from __future__ import annotations

import os
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(path: Path) -> int:
    """Delete temporary files of ``path`` left by killed runs (not those of live processes)."""
    removed = 0
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
