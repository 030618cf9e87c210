"""A strict tar shard reader: members grouped into samples, every oddity a counted skip.

Webdataset's reader trusts the tar: a member declaring 10¹¹ bytes makes it seek for
minutes, ``./key.x`` names become keys with a dot, absolute names are copied through,
duplicate keys are yielded twice and a truncated tar yields its partial last sample as if
it were whole. This reader checks each header before reading its data:

- a declared size past the end of the file or over ``max_member_bytes`` is refused unread;
- ``./`` prefixes are dropped; absolute names, ``..`` components, links and devices are
  refused; directory entries are ignored;
- a key seen earlier in the shard, or the same member twice in a sample, is refused;
- a tar without its end-of-archive blocks (cut off, or a corrupt header) drops its last
  sample, since it may be incomplete.

A file that is not an uncompressed tar at all (empty, gzip, garbage) raises :class:`ShardError`.
"""
from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Callable, Iterator
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


def iter_tar_samples(path: str, limits: ReadLimits, problem: Problem) -> Iterator[dict[str, Any]]:
    """Yield ``{"__key__", "__url__", suffix: bytes}`` per sample of the tar at ``path``."""
    size = os.path.getsize(path)
    fh, tar = _open(path)
    seen: set[str] = set()
    current: dict[str, Any] | None = None
    bad: tuple[str, str] | None = None  # (countable reason, detail) why the current sample is refused

    def finish() -> Iterator[dict[str, Any]]:
        if current is None:
            return
        if bad is None:
            yield current
        else:
            problem(bad[0], f"{path}, sample {current['__key__']!r}: {bad[1]}", True)

    try:
        while True:
            try:
                info = tar.next()
            except (tarfile.TarError, EOFError, OSError) as exc:
                bad = bad or (TRUNCATED, f"corrupt tar header ({exc})")
                break
            if info is None:
                if not _ended_cleanly(fh, tar.offset, size) and current is not None:
                    bad = bad or (TRUNCATED, "no end-of-archive marker after it: the shard is cut off "
                                             "or a header is corrupt, so this sample may be incomplete")
                elif not _ended_cleanly(fh, tar.offset, size):
                    problem("truncated shard", f"{path}: no end-of-archive marker", False)
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
            if current is None or key != current["__key__"]:
                yield from finish()
                current, bad = {"__key__": key, "__url__": path}, None
                if key in seen:
                    bad = ("duplicate key", "the key appears earlier in this shard")
                seen.add(key)
            bad = bad or unsafe
            if not info.isfile():
                bad = bad or ("link or special member", f"member {suffix!r} is a link or special file")
                continue
            if info.offset_data + info.size > size:
                bad = bad or (TRUNCATED, f"member {suffix!r} declares {info.size} bytes but the file "
                                         f"ends {size - info.offset_data} bytes later (truncated or corrupt)")
                break  # the next header cannot be found
            if info.size > limits.max_member_bytes:
                bad = bad or ("member over the size limit", f"member {suffix!r} is {info.size} bytes, over "
                              f"the limit {limits.max_member_bytes} (data.limits.max_member_bytes)")
                continue
            if suffix in current:
                bad = bad or ("duplicate member", f"member {suffix!r} appears twice")
                continue
            if bad is None:
                stream = tar.extractfile(info)
                data = stream.read() if stream is not None else b""
                if len(data) != info.size:
                    bad = (TRUNCATED, f"member {suffix!r} is truncated")
                current[suffix] = data
        yield from finish()
    finally:
        tar.close()
        fh.close()
