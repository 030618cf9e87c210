"""Resumable shard writing: markers for shards cut short, and clean-up of killed runs' temporaries."""
from __future__ import annotations

from ..shards import remove_stale_tmp  # noqa: F401  (re-exported: one clean-up for every writer)

PARTIAL_SUFFIX = ".partial"
