"""How answers are shown: ``table`` (rich tables that fit an 80-column terminal), ``json``
(the service's answer, for scripts) or ``yaml``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click

FORMATS = ("table", "json", "yaml")
STATUS_STYLE = {
    "completed": "green",
    "INSTANTIATED": "green",
    "healthy": "green",
    "deployed": "green",
    "COMPLETED": "green",
    "failed": "red",
    "FAILED": "red",
    "unhealthy": "red",
    "rolled_back": "yellow",
    "ROLLED_BACK": "yellow",
    "rolling_back": "yellow",
    "ROLLING_BACK": "yellow",
}


def output_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--output",
        "-o",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people, json or yaml for scripts",
    )(function)


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def styled(value: Any) -> str:
    text = "" if value is None else str(value)
    style = STATUS_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else escape(text)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def when(value: Any) -> str:
    """An instant as ``2026-12-03 12:04:05`` (UTC), short enough for a table."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: Any) -> str:
    if value is None:
        return ""
    total = int(float(value))
    minutes, rest = divmod(total, 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    whole: Sequence[str] = (),
) -> Any:
    """A compact table; the ``whole`` columns (ids) are never wrapped, others fold."""
    from rich import box
    from rich.table import Table

    found = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in columns:
        found.add_column(name, overflow="fold", no_wrap=name in whole)
    for row in rows:
        found.add_row(*(cell if isinstance(cell, str) else styled(cell) for cell in row))
    return found


def emit(data: Any, fmt: str, render: Callable[[Any], Any] | None = None) -> None:
    """``data`` as asked: through ``render`` (rich renderables) for ``table``."""
    if fmt == "json" or (fmt == "table" and render is None):
        click.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    if fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
        return
    assert render is not None
    out = console()
    shown = render(data)
    for part in shown if isinstance(shown, list | tuple) else [shown]:
        out.print(part)


def is_terminal() -> bool:
    return sys.stdout.isatty()
