"""Pseudo-labeling: RGB (+caption) inputs → aligned multimodal shards.

``inputs`` decodes what is labeled (img2dataset shards, image folders), ``labelers`` loads one
labeler per modality, ``jobs`` batches samples through them and writes shards, ``resume``
keeps killed or cut-short runs resumable, and ``report`` counts what happened.
"""
from .inputs import (RawItem, SourceShard, folder_sources, load_image, open_sources, read_captions,
                     tar_sources)
from .jobs import label_shards
from .labelers import TextInput, build_labelers, resolve_device
from .report import LabelReport
from .resume import PARTIAL_SUFFIX, remove_stale_tmp

__all__ = ["PARTIAL_SUFFIX", "LabelReport", "RawItem", "SourceShard", "TextInput", "build_labelers",
           "folder_sources", "label_shards", "load_image", "open_sources", "read_captions",
           "remove_stale_tmp", "resolve_device", "tar_sources"]
