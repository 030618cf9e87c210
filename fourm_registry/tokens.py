"""The special-token layout of 4M's shared text vocabulary (ids fixed by the published tokenizer).

[PAD]=0, [UNK]=1, [SOS]=2, [EOS]=3, sentinels [S_0]…[S_199] = 4…203, coordinate tokens
v0=0…v0=999, v1=…, v2=…, v3=… = 204…4203, then ordinary word pieces.
"""
from __future__ import annotations

PAD_ID, UNK_ID, SOS_ID, EOS_ID = 0, 1, 2, 3
NUM_SENTINELS = 200
SENTINEL_BASE = 4
NUM_COORD_AXES, COORD_BINS = 4, 1000
COORD_BASE = SENTINEL_BASE + NUM_SENTINELS  # 204

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[SOS]", "[EOS]"]
SENTINEL_TOKENS = [f"[S_{i}]" for i in range(NUM_SENTINELS)]
COORD_TOKENS = [f"v{axis}={i}" for axis in range(NUM_COORD_AXES) for i in range(COORD_BINS)]


def sentinel_id(i: int) -> int:
    """Id of sentinel ``[S_i]``."""
    if not 0 <= i < NUM_SENTINELS:
        raise ValueError(f"sentinel index {i} outside 0..{NUM_SENTINELS - 1}")
    return SENTINEL_BASE + i


def is_sentinel(token_id: int) -> bool:
    return SENTINEL_BASE <= token_id < SENTINEL_BASE + NUM_SENTINELS


def coord_id(axis: int, value: int) -> int:
    """Id of coordinate token ``v{axis}={value}``."""
    return COORD_BASE + axis * COORD_BINS + value
