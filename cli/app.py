"""The typer app: global options, one-line user errors, core command groups, plugin commands."""
from __future__ import annotations

import os
import sys
from typing import Any

import click
import typer
from typer.core import TyperGroup

from fourm_registry import FourmError, PluginError, __version__
from fourm_registry.plugins import call_each
from fourm_registry.registry import get_registry

from . import convert as convert_cmd
from . import errors
from . import generate as generate_cmd
from . import data as data_cmd
from . import families as families_cmd
from . import probe as probe_cmd
from . import label as label_cmd
from . import merge as merge_cmd
from . import modalities as modalities_cmd
from . import inspect as inspect_cmd
from . import masking as masking_cmd
from . import plugin as plugin_cmd
from . import quickstart as quickstart_cmd
from . import tokenize as tokenize_cmd
from . import tokenizer as tokenizer_cmd
from . import train as train_cmd
from ._registry import registry_from  # noqa: F401  (re-exported: plugins' commands import it from here)

# Each core command group lives in its own module exposing ``register(app)``.
COMMAND_MODULES = [modalities_cmd, families_cmd, probe_cmd, quickstart_cmd, train_cmd, generate_cmd, data_cmd, label_cmd,
                   tokenizer_cmd, tokenize_cmd, merge_cmd, plugin_cmd, inspect_cmd, masking_cmd, convert_cmd]


class FourmGroup(TyperGroup):
    """Turns user errors into one red line and exit code 1; ``--debug`` shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug") or os.environ.get("FOURM_DEBUG"))
        return errors.guarded(lambda: super(FourmGroup, self).invoke(ctx), debug)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fourm {__version__}")
        raise typer.Exit()


def build_app(registry: Any = None) -> typer.Typer:
    """The ``fourm`` app with core commands and every plugin's ``register_commands``."""
    app = typer.Typer(
        cls=FourmGroup, no_args_is_help=True, add_completion=False,
        help="fourm: massively multimodal masked modeling (4M) with modality plugins.",
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Show the version and exit."),
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    ) -> None:
        ctx.obj = {"registry": registry}

    for module in COMMAND_MODULES:
        module.register(app)
    reg = registry if registry is not None else get_registry()
    if reg.plugin_manager is not None:
        call_each(reg.plugin_manager, "register_commands", lambda plugin: {"cli": app})
    return app


def main() -> None:
    from fourm_registry.allocator import tune_malloc

    tune_malloc()  # before torch allocates anything large
    debug = "--debug" in sys.argv or bool(os.environ.get("FOURM_DEBUG"))
    try:
        app = build_app()
    except PluginError as exc:  # a broken plugin: --help and `fourm modalities` still run without it
        if not errors.lenient(sys.argv[1:]):
            errors.print_error(exc, debug)
            raise SystemExit(1) from None
        try:
            reg, broken = errors.registry_without_broken(exc)
            app = build_app(reg)
        except FourmError as again:
            errors.print_error(again, debug)
            raise SystemExit(1) from None
        for err in broken:
            typer.secho(f"Warning: {err}", fg="yellow", err=True)
    except FourmError as exc:
        errors.print_error(exc, debug)
        raise SystemExit(1) from None
    app()


if __name__ == "__main__":
    main()
