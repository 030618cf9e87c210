"""A strict tar shard reader: members grouped into samples, every oddity a counted skip.

Webdataset's reader trusts the tar: a member declaring 10¹¹ bytes makes it seek for
minutes, ``./key.x`` names become keys with a dot, absolute names are copied through,
duplicate keys are yielded twice and a truncated tar yields its partial last sample as if
it were whole. This reader checks each header before reading its data:

- a declared size past the end of the file or over ``max_member_bytes`` is refused unread;
- ``./`` prefixes are dropped; absolute names, ``..`` components, links and devices are
  refused; directory entries are ignored;
- members of one key may be spread over the tar (GNU tar's directory order): headers are
  scanned first, then samples read; the same member twice under one key refuses that key;
- a tar without its end-of-archive blocks (cut off, or a corrupt header) drops its last
  sample, since it may be incomplete.

A file that is not an uncompressed tar at all (empty, gzip, garbage) raises :class:`ShardError`.
"""
from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import FourmError
from .limits import ReadLimits

BLOCK = 512
TRUNCATED = "incomplete sample: truncated or corrupt shard"

Problem = Callable[[str, str, bool], None]
"""``problem(reason, detail, is_sample)``: a skipped sample (True) or an ignored member (False)."""


class ShardError(FourmError):
    """A shard file that cannot be read as a tar at all."""


def split_name(name: str) -> tuple[str, str] | None:
    """``dir/key.field.ext`` → ``("dir/key", "field.ext")``; ``None`` if the basename has no dot."""
    m = re.match(r"^((?:.*/)?[^./][^/.]*)\.([^/]+)$", name)
    return (m.group(1), m.group(2)) if m else None


def clean_name(name: str) -> str:
    """Member name without ``./`` prefixes; ``ValueError`` for absolute or ``..`` names."""
    while name.startswith("./"):
        name = name[2:]
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise ValueError(f"absolute member name {name!r} refused")
    parts = name.split("/")
    if ".." in parts or "\\" in name:
        raise ValueError(f"member name {name!r} escapes the shard ('..' or backslash)")
    if not name or "" in parts or "." in parts:
        raise ValueError(f"malformed member name {name!r}")
    return name


def _open(path: str) -> tuple[Any, tarfile.TarFile]:
    fh = open(path, "rb")
    try:
        head = fh.read(BLOCK)
        if not head:
            raise ShardError(f"{path}: empty file (0 bytes), not a tar shard.")
        if head[:2] == b"\x1f\x8b":
            raise ShardError(f"{path}: a gzip-compressed file; fourm reads uncompressed .tar shards "
                             "(gunzip it first).")
        fh.seek(0)
        try:
            return fh, tarfile.open(fileobj=fh, mode="r:")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ShardError(f"{path}: not a readable tar file ({exc}).") from None
    except BaseException:
        fh.close()
        raise


def _ended_cleanly(fh: Any, offset: int, size: int) -> bool:
    """True if the archive's end-of-archive zero block sits where the member list stopped."""
    if offset >= size:
        return False
    fh.seek(offset)
    block = fh.read(BLOCK)
    return len(block) == BLOCK and not block.strip(b"\0")


@dataclass
class _Group:
    """One key's members, found by the header scan; ``bad`` = (reason, detail) refuses it."""

    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)
    bad: tuple[str, str] | None = None


def _scan(path: str, tar: tarfile.TarFile, fh: Any, size: int, limits: ReadLimits,
          problem: Problem) -> tuple[dict[str, _Group], str | None, str | None, bool]:
    """Headers only (no data read): groups by key, why the archive ends early, last key, interleaving."""
    groups: dict[str, _Group] = {}
    truncated: str | None = None
    last: str | None = None
    interleaved = False
    while True:
        try:
            info = tar.next()
        except (tarfile.TarError, EOFError, OSError) as exc:
            truncated = f"corrupt tar header ({exc})"
            break
        if info is None:
            if not _ended_cleanly(fh, tar.offset, size):
                truncated = "no end-of-archive marker: the shard is cut off or a header is corrupt"
            break
        if info.isdir():
            continue
        unsafe = None
        try:
            name = clean_name(info.name)
        except ValueError as exc:  # still grouped under its own key, so that sample is refused
            name, unsafe = info.name.lstrip("./") or info.name, ("unsafe member name", str(exc))
        parts = split_name(name)
        if parts is None:
            problem("member without a suffix", f"{path}: member {name!r} ignored", False)
            continue
        key, suffix = parts
        interleaved = interleaved or (key in groups and key != last)
        group = groups.setdefault(key, _Group())
        last = key
        group.bad = group.bad or unsafe
        if not info.isfile():
            group.bad = group.bad or ("link or special member", f"member {suffix!r} is a link or special file")
        elif info.offset_data + info.size > size:
            truncated = (f"member {suffix!r} declares {info.size} bytes but the file ends "
                         f"{size - info.offset_data} bytes later (truncated or corrupt)")
            break  # the next header cannot be found
        elif info.size > limits.max_member_bytes:
            group.bad = group.bad or ("member over the size limit", f"member {suffix!r} is {info.size} bytes, "
                                      f"over the limit {limits.max_member_bytes} (data.limits.max_member_bytes)")
        elif suffix in group.members:
            group.bad = ("duplicate key", f"member {suffix!r} appears twice: two samples share this key")
        else:
            group.members[suffix] = info
    return groups, truncated, last, interleaved


def iter_tar_samples(path: str, limits: ReadLimits, problem: Problem) -> Iterator[dict[str, Any]]:
    """Yield ``{"__key__", "__url__", suffix: bytes}`` per sample of the tar at ``path``, in the
    order keys first appear. Members of a key need not be consecutive (``tar -C dir -cf x.tar .``
    lists files in directory order): the headers are scanned first, then each sample is read."""
    size = os.path.getsize(path)
    fh, tar = _open(path)
    try:
        groups, truncated, last, interleaved = _scan(path, tar, fh, size, limits, problem)
        if truncated is not None:
            if last is None:
                problem("truncated shard", f"{path}: {truncated}", False)
            for key in (groups if interleaved else [last] if last is not None else []):
                # cut off: the last sample may be incomplete (with interleaved members, any may be)
                groups[key].bad = groups[key].bad or (TRUNCATED, truncated)
        for key, group in groups.items():
            sample: dict[str, Any] = {"__key__": key, "__url__": path}
            for suffix, info in group.members.items():
                if group.bad is not None:
                    break
                stream = tar.extractfile(info)
                data = stream.read() if stream is not None else b""
                if len(data) != info.size:
                    group.bad = (TRUNCATED, f"member {suffix!r} is truncated")
                sample[suffix] = data
            if group.bad is not None:
                problem(group.bad[0], f"{path}, sample {key!r}: {group.bad[1]}", True)
            elif group.members:
                yield sample
    finally:
        tar.close()
        fh.close()
