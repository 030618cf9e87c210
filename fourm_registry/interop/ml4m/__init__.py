"""apple/ml-4m (EPFL-VILAB) layouts: released tokenizers (``tokenizers``) and models."""
