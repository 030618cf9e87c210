"""User-facing errors: the CLI prints these as one line (no traceback unless --debug)."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class FourmError(Exception):
    """An error caused by user input (config, data, plugin): shown without a traceback."""


class PluginError(FourmError):
    """A plugin failed to load, raised in a hook, or declared something invalid."""


class UnknownNameError(FourmError, KeyError):
    """A name (modality, labeler, objective…) that no plugin registered."""

    def __init__(self, what: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "none registered"
        super().__init__(f"Unknown {what} {name!r}.{hint} Known: {listing}.")
        self.name = name

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def not_built(modality: str, part: str, area: str) -> NotImplementedError:
    """The error a declared-but-missing part raises, naming the issue area that delivers it."""
    return NotImplementedError(
        f"The {part} of modality {modality!r} is not available yet (area: {area})."
    )
