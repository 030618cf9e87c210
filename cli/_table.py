"""How listing commands print their rows: a rich table, or JSON with ``--json``."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def print_rows(rows: list[dict[str, Any]], columns: Sequence[str], title: str, as_json: bool,
               width: int = 160) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console(width=width).print(table)
