"""The webdataset training pipeline: shard layouts, decoding, repeat sampling, masking, collation."""
from __future__ import annotations

from .collate import collate, pad_stack
from .config import DataConfig
from .layouts import ShardSource, shard_source
from .loader import TrainLoader, build_train_loader
from .pipeline import StreamPlan, TrainStream
from .prepare import SampleError, prepare_sample, source_field
from .repeat import repeat_sampling

__all__ = ["DataConfig", "SampleError", "ShardSource", "StreamPlan", "TrainLoader", "TrainStream",
           "build_train_loader", "collate", "pad_stack", "prepare_sample", "repeat_sampling", "shard_source",
           "source_field"]
