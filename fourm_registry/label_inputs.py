"""Deprecated alias of :mod:`fourm_registry.labeling.inputs` (kept for one release)."""
import warnings

from .labeling.inputs import (CAPTION_SUFFIXES, IMAGE_SUFFIXES, RawItem, SourceShard, folder_sources, load_image,  # noqa: F401
                              open_sources, read_captions, tar_sources)

warnings.warn("fourm_registry.label_inputs moved to fourm_registry.labeling.inputs",
              DeprecationWarning, stacklevel=2)
