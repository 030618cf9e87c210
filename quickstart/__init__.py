"""The main job end to end on the embedded synthetic data (``fourm quickstart``)."""
