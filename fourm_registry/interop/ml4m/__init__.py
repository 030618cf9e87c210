"""apple/ml-4m (EPFL-VILAB) layouts: released tokenizers (``tokenizers``) and models.

Models: ``FourM.from_pretrained(<ml-4m dir or hub id>)`` builds one from the official files
(:mod:`.model`), :func:`save_official` writes one back (:mod:`.write`, also ``fourm convert``),
and :func:`forward_mod_dict` runs an ml-4m ``mod_dict`` through a fourm model with ml-4m's
semantics (:mod:`.moddict`), so code written against the reference keeps working.
"""
from __future__ import annotations

from .moddict import Ml4mOutput, domains_of, forward_mod_dict, to_batch
from .write import official_config, official_tensors, save_official

__all__ = ["Ml4mOutput", "domains_of", "forward_mod_dict", "official_config", "official_tensors",
           "save_official", "to_batch"]
