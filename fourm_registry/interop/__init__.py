"""Interop with other layouts: every converter to or from files fourm did not write lives here.

``ml4m``: the released apple/ml-4m (EPFL-VILAB) models and tokenizers. Plugins that speak a
layout of their own (e.g. a transformers model family) keep their converters in the plugin.
``model/`` and ``tokenizers/`` never import this package's converters; ``model/pretrained.py``
only registers the ml-4m reader, so ``FourM.from_pretrained`` opens released directories too.
"""
