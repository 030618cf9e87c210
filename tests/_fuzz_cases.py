"""Hostile and corrupt shards for the fuzz tests: each case writes one ``.tar`` and says which
sample keys a correct reader may yield (everything else must be a counted skip or one line).

Every shard holds the good samples ``g0``, ``g1`` (photo, depth, class ids, caption) and, for
member corruptions, one bad sample ``bad``. Cases are plain functions of a path, so every
consumer (read_samples, fourm tokenize, fourm label, fourm train) runs the same files.
"""
from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 32
MARKER = "fourm-fuzz-pwned"  # the file a planted pickle tries to write (must never appear)


@dataclass
class Case:
    name: str
    write: Callable[[Path], None]
    good: set[str]  # keys read_samples must yield, exactly
    shard_error: bool = False  # the file is not a tar at all: one line (tokenize/label) or a counted shard
    limits: dict = field(default_factory=dict)  # read limits to use (a tiny one to trip a bound)
    label_good: set[str] | None = None  # keys fourm label writes, where they differ from ``good``


# -- members ---------------------------------------------------------------------------------
def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def good_members(key: str, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    return {"rgb.jpg": jpg(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)),
            "depth.npy": npy(rng.random((SIDE, SIDE), dtype=np.float32) + 1.0),
            "semseg.png": png(rng.integers(0, 5, (SIDE, SIDE), dtype=np.uint8)),
            "caption.txt": f"a photo of sample {key}".encode()}


def member(name: str, data: bytes, kind: bytes = tarfile.REGTYPE, size: int | None = None,
           link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    info.type, info.linkname, info.mtime = kind, link, 0
    return info, data


def raw_tar(members: list[tuple[tarfile.TarInfo, bytes]], end: bool = True) -> bytes:
    """A ustar/GNU byte stream from headers and payloads, honouring lying sizes."""
    out = bytearray()
    for info, data in members:
        out += info.tobuf(format=tarfile.GNU_FORMAT)
        if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            out += data + b"\0" * (-len(data) % 512)
    if end:
        out += b"\0" * 1024
    return bytes(out)


def sample_members(key: str, seed: int, prefix: str = "", **override: bytes | None) -> list:
    parts = good_members(key, seed)
    for suffix, data in override.items():
        suffix = suffix.replace("__", ".")
        if data is None:
            parts.pop(suffix, None)
        else:
            parts[suffix] = data
    return [member(f"{prefix}{key}.{s}", d) for s, d in parts.items()]


def standard(extra: list | None = None, prefix: str = "", end: bool = True) -> bytes:
    return raw_tar(sample_members("g0", 0, prefix) + sample_members("g1", 1, prefix) + (extra or []), end)


def with_bad(**override: bytes | None) -> Callable[[Path], None]:
    """Two good samples plus ``bad`` whose members are the good ones with ``override`` applied."""
    return lambda p: p.write_bytes(standard(sample_members("bad", 2, **override)))


# -- hostile payloads ----------------------------------------------------------------------
class Planted:
    """Unpickling this writes MARKER into the working directory: it must never happen."""

    def __reduce__(self):
        return (Path.write_text, (Path(MARKER), "code ran"))


def planted_npy() -> bytes:
    arr = np.empty(1, dtype=object)
    arr[0] = Planted()
    return npy(arr, allow_pickle=True)


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares ``width``×``height`` (a decompression bomb's header)."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def palette_png(ids: np.ndarray) -> bytes:
    """Class ids as palette indices, with colours whose luminance is NOT the id."""
    pal = Image.new("P", (ids.shape[1], ids.shape[0]))
    pal.putpalette([(i * 97 + 40) % 256 for i in range(768)])
    pal.putdata(ids.reshape(-1).tolist())
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    return buf.getvalue()


def truncated(fraction: float) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        data = standard()
        p.write_bytes(data[: int(len(data) * fraction)])
    return write


def cut_at_end_of_data(p: Path) -> None:
    p.write_bytes(standard(end=False))


def cut_mid_header(p: Path) -> None:
    data = standard(end=False)
    p.write_bytes(data + tarfile.TarInfo("g2.caption.txt").tobuf()[:200])


def huge_declared(p: Path) -> None:
    info, _ = member("bad.caption.txt", b"", size=10**11)
    p.write_bytes(standard()[:-1024] + info.tobuf(format=tarfile.GNU_FORMAT) + b"x" * 28_000)


def garbage_header(p: Path) -> None:
    p.write_bytes(standard(end=False) + bytes(range(256)) * 2 + standard(end=True))


def gzip_tar(p: Path) -> None:
    p.write_bytes(gzip.compress(standard()))


def non_consecutive_duplicate(p: Path) -> None:
    p.write_bytes(raw_tar(sample_members("g0", 0) + sample_members("g1", 1) + sample_members("g0", 3)))


def interleaved(p: Path) -> None:
    """Members of different keys interleaved, as ``tar -C dir -cf x.tar .`` writes them."""
    a, b = sample_members("g0", 0, "./"), sample_members("g1", 1, "./")
    p.write_bytes(raw_tar([m for pair in zip(a, b) for m in pair]))


def duplicate_member(p: Path) -> None:
    p.write_bytes(standard(sample_members("bad", 2) + [member("bad.caption.txt", b"again")]))


def dirs_and_dot_slash(p: Path) -> None:
    p.write_bytes(raw_tar([member("./", b"", kind=tarfile.DIRTYPE)] + sample_members("g0", 0, "./")
                          + sample_members("g1", 1, "./")))


def special(kind: bytes, link: str = "") -> Callable[[Path], None]:
    return lambda p: p.write_bytes(standard(sample_members("bad", 2)[:3] + [
        member("bad.caption.txt", b"", kind=kind, link=link)]))


def named(name: str) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(standard([member(name, b"a caption")]))


def seg16(values: np.ndarray) -> bytes:
    return png(values.astype(np.uint16))


def cases() -> list[Case]:
    good = {"g0", "g1"}
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 5, (SIDE, SIDE), dtype=np.uint8)
    colour = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    grey_rgb = np.repeat(ids[..., None], 3, axis=2)
    jpeg = jpg(colour)
    depth = rng.random((SIDE, SIDE), dtype=np.float32)
    nan_depth, inf_depth = depth.copy(), depth.copy()
    nan_depth[3, 4], inf_depth[0, 0] = np.nan, np.inf
    det = {"image_size": [SIDE, SIDE], "instances": [{"box": [1, 2, 10, 12], "label": "cat", "score": 0.9}]}
    out = [
        # tar structure
        Case("truncated_in_last_sample", truncated(0.8), {"g0"}),
        Case("truncated_in_first_sample", truncated(0.3), set()),
        Case("cut_at_end_of_data", cut_at_end_of_data, {"g0"}),
        Case("cut_mid_header", cut_mid_header, {"g0"}),
        Case("huge_declared_size", huge_declared, good),
        Case("garbage_header_mid_file", garbage_header, {"g0"}),
        Case("member_over_size_limit", with_bad(**{"caption.txt": b"x" * 5000}), good,
             limits={"max_member_bytes": 4500}),
        Case("absolute_name", named("/etc/bad.caption.txt"), good),
        Case("dotdot_name", named("../../bad.caption.txt"), good),
        Case("backslash_name", named("..\\bad.caption.txt"), good),
        Case("dot_slash_names_and_dir", dirs_and_dot_slash, good),
        Case("non_consecutive_duplicate_key", non_consecutive_duplicate, {"g1"}),  # which g0? neither
        Case("interleaved_members_gnu_tar_order", interleaved, good),
        Case("duplicate_member", duplicate_member, good),
        Case("symlink_member", special(tarfile.SYMTYPE, "/etc/passwd"), good),
        Case("hardlink_member", special(tarfile.LNKTYPE, "g0.caption.txt"), good),
        Case("fifo_member", special(tarfile.FIFOTYPE), good),
        Case("char_device_member", special(tarfile.CHRTYPE), good),
        Case("empty_file", lambda p: p.write_bytes(b""), set(), shard_error=True),
        Case("empty_tar", lambda p: p.write_bytes(b"\0" * 10240), set()),
        Case("gzip_file", gzip_tar, set(), shard_error=True),
        Case("garbage_file", lambda p: p.write_bytes(bytes(range(256)) * 40), set(), shard_error=True),
        Case("member_without_suffix", named("README"), good),
        Case("multi_dot_name", named("a.b.c.d.e.npy"), good),
        # members
        Case("depth_complex_dtype", with_bad(**{"depth.npy": npy(depth.astype(np.complex64))}), good),
        Case("depth_string_dtype", with_bad(**{"depth.npy": npy(np.array([["1.5"] * SIDE] * SIDE))}), good),
        Case("depth_wrong_rank", with_bad(**{"depth.npy": npy(depth[None])}), good),
        Case("depth_nan", with_bad(**{"depth.npy": npy(nan_depth)}), good),
        Case("depth_inf", with_bad(**{"depth.npy": npy(inf_depth)}), good),
        Case("depth_other_size_than_rgb", with_bad(**{"depth.npy": npy(depth[:16, :16])}), good,
             label_good=good | {"bad"}),  # fourm label -m depth replaces the depth
        Case("pickled_npy_planted", with_bad(**{"depth.npy": planted_npy()}), good),
        Case("npy_garbage", with_bad(**{"depth.npy": b"\x93NUMPY garbage"}), good),
        Case("npy_truncated", with_bad(**{"depth.npy": npy(depth)[:200]}), good),
        Case("npy_too_many_dims", with_bad(**{"depth.npy": npy(np.zeros((1,) * 9, np.float32))}), good),
        Case("npy_huge_declared_shape", with_bad(**{"depth.npy": _huge_npy()}), good),
        Case("caption_not_utf8", with_bad(**{"caption.txt": b"\xff\xfe caption \xc3\x28"}), good),
        Case("det_nan_box", with_bad(det__json=b'{"image_size": [32, 32], "instances": '
                                               b'[{"box": [NaN, 1, 2, 3], "label": "cat"}]}'), good),
        Case("det_infinite_box", with_bad(det__json=json.dumps(
            {**det, "instances": [{"box": [0, 1, 2, float("inf")], "label": "cat"}]}).encode()), good),
        Case("det_negative_image_size", with_bad(det__json=json.dumps({**det, "image_size": [-5, 32]}).encode()), good),
        Case("det_not_json", with_bad(det__json=b"{not json"), good),
        Case("rgb_not_an_image", with_bad(**{"rgb.jpg": b"this is not a jpeg"}), good),
        Case("rgb_truncated_jpeg", with_bad(**{"rgb.jpg": jpeg[: len(jpeg) // 2]}), good),
        Case("rgb_bomb_header", with_bad(**{"rgb.jpg": png_with_size(20000, 20000)}), good),
        Case("semseg_colour_png", with_bad(**{"semseg.png": png(colour)}), good),
        Case("semseg_16bit_over_255", with_bad(**{"semseg.png": seg16(ids.astype(np.uint16) + 300)}), good),
        Case("semseg_out_of_range_ids", with_bad(**{"semseg.png": png(ids + 200)}), good),
        Case("semseg_wrong_extension", with_bad(**{"semseg.png": None, "semseg.jpg": jpg(grey_rgb)}), good),
        # lossless variants a reader must accept as the same ids
        Case("semseg_palette_png_is_ids", with_bad(**{"semseg.png": palette_png(ids)}), good | {"bad"}),
        Case("semseg_16bit_small_values_ok", with_bad(**{"semseg.png": seg16(ids)}), good | {"bad"}),
        Case("semseg_grey_rgb_ok", with_bad(**{"semseg.png": png(grey_rgb)}), good | {"bad"}),
        # token arrays
        Case("tok_float_ids", with_bad(tok_rgb__npy=npy(np.zeros((4, 4), np.float32))), good),
        Case("tok_pickled_planted", with_bad(tok_rgb__npy=planted_npy()), good),
        Case("tok_bad_name", with_bad(**{"tok_rgb.x.npy": npy(np.zeros((4, 4), np.int16))}), good),
        Case("tok_garbage", with_bad(tok_rgb__npy=b"\x00" * 50), good),
    ]
    for c in out:  # the label job reads images only: members it carries over are validated too
        if c.label_good is None:
            c.label_good = c.good
    return out


def _huge_npy() -> bytes:
    """A .npy header declaring 10¹⁰ float32 values followed by 100 bytes."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
    header = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 100


IDS_EXPECTED = {"semseg_palette_png_is_ids", "semseg_16bit_small_values_ok", "semseg_grey_rgb_ok"}
# valid inputs: nothing to count
CLEAN = IDS_EXPECTED | {"empty_tar", "dot_slash_names_and_dir", "interleaved_members_gnu_tar_order"}


# -- token shards for fourm train (the tiny config: 4×4 grids of 64 codes, captions ≤ 12) ---------
def token_members(key: str, seed: int, **override: bytes | None) -> list:
    from ._train_shards import make_sample

    sample = make_sample(np.random.default_rng(seed), key)
    parts = {f"{k}.npy": npy(v) for k, v in sample.items() if k != "__key__"}
    for suffix, data in override.items():
        suffix = suffix.replace("__", ".")
        if data is None:
            parts.pop(suffix, None)
        else:
            parts[suffix] = data
    return [member(f"{key}.{s}", d) for s, d in parts.items()]


def bad_token_samples() -> list:
    """One of each token corruption the training stream must refuse and count."""
    grid = np.ones((4, 4), np.int16)
    bad = {"tok_rgb.npy": npy(grid + 1000), "tok_depth.npy": npy(grid - 2),
           "tok_caption.npy": npy(np.ones((2, 3), np.int16))}
    out = token_members("bad_dtype", 99, **{"tok_rgb.npy": npy(grid.astype(np.float32))})
    for i, (suffix, data) in enumerate(sorted(bad.items())):
        out += token_members(f"bad{i}", 100 + i, **{suffix: data})
    out += token_members("bad_pickle", 200, **{"tok_rgb.npy": planted_npy()})
    out += token_members("bad_shape", 201, **{"tok_rgb.npy": npy(np.ones((5, 5), np.int16))})
    out += token_members("bad_missing", 202, **{"tok_depth.npy": None})
    return out


def token_shard(path: Path, good: int, bad: bool) -> None:
    members = [m for i in range(good) for m in token_members(f"t{i:04d}", i)]
    path.write_bytes(raw_tar(members + (bad_token_samples() if bad else [])))


def only_bad_ids(path: Path) -> None:
    grid = np.full((4, 4), 999, np.int16)
    path.write_bytes(raw_tar([m for i in range(6) for m in token_members(f"b{i}", i, **{"tok_rgb.npy": npy(grid)})]))
