"""The built-in 4M modalities. Each module is a plugin (entry point group ``fourm``)."""
