"""The ``fourm`` command line (installed as the ``fourm_cli`` package)."""
