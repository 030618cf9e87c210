"""Helpers shared by the 4M-21 modality plugins (a library: it registers no modality).

- :mod:`.coords`: coordinate-token text (``v0=12``) for sequence serialisations.
- :mod:`.vector_vq`: an MLP quantiser for one-vector values (global embeddings, body poses).
- :mod:`.edges`: edge-map codec, VQ adapter and picture (Canny, SAM edges).
- :mod:`.draw`, :mod:`.images`: pictures of sequence values; checks of labeler inputs.

Submodules are imported where used, so loading a plugin stays cheap (no torch at import).
"""
