"""The CLI's error path: every failure is one line on stderr (``--debug`` adds the traceback),
and a broken third-party plugin does not block ``--help``, ``--version`` or ``fourm modalities``."""
from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import click
import typer

from fourm_registry import FourmError, PluginError

# Commands that still run, without the broken plugin(s), when a plugin fails to load.
LENIENT_COMMANDS = {"modalities", "families"}


def _passthrough() -> tuple[type[BaseException], ...]:
    """Exceptions the CLI framework handles itself (typer vendors its own copy of click)."""
    kinds: list[type[BaseException]] = [click.exceptions.Exit, click.exceptions.Abort, click.ClickException,
                                        typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit]
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        return tuple(kinds)
    return tuple(kinds + [getattr(vendored, n) for n in ("ClickException", "TyperException") if hasattr(vendored, n)])


PASSTHROUGH = _passthrough()


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (pydantic/torch messages run long)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def print_error(exc: BaseException, debug: bool) -> None:
    """``exc`` as one red line; unexpected errors get their type and a hint to ``--debug``."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, FourmError):
        text = str(exc).strip()
    else:
        hint = "" if debug else " (run with --debug for the traceback)"
        text = f"{type(exc).__name__}: {one_line(exc)}{hint}"
    typer.secho(f"Error: {text}", fg="red", err=True)


def guarded(invoke: Callable[[], Any], debug: bool) -> Any:
    """Run a command: user errors and unexpected exceptions both end in one line and exit 1."""
    try:
        return invoke()
    except PASSTHROUGH:
        raise  # click's and typer's own control flow (--help, exit codes, usage errors: exit 2)
    except Exception as exc:  # FourmError: the user's; anything else: ours, still one line
        print_error(exc, debug)
        raise typer.Exit(1) from None


def lenient(argv: Sequence[str]) -> bool:
    """True for invocations that must work even with a broken plugin installed."""
    args = [a for a in argv if a != "--debug"]
    return not args or args[0] in LENIENT_COMMANDS | {"--help", "-h", "--version"} or "--help" in args


def registry_without_broken(first: PluginError, attempts: int = 10) -> tuple[Any, list[PluginError]]:
    """A registry of every plugin except those that fail to load (at most ``attempts`` of them)."""
    from fourm_registry.plugins import third_party_plugins
    from fourm_registry.registry import Registry

    errors, skipped = [first], set()
    for _ in range(attempts):
        plugin = getattr(errors[-1], "plugin", None)
        if plugin is None or plugin in skipped:
            raise errors[-1]
        skipped.add(plugin)
        try:
            return Registry.build(allow=[p for p in third_party_plugins() if p not in skipped]), errors
        except PluginError as exc:
            errors.append(exc)
    raise errors[-1]
