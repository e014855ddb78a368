"""What the ``o2dms`` commands share: paths, status words, options and small renderers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from o2dms_cli.common import assignments, merged
from o2dms_cli.errors import (
    OK,
    ROLLOUT_FAILED,
    USAGE,
    CliError,
)
from o2dms_cli.output import emit, escape, styled, when

O2 = "/o2dms/v1"
DESCRIPTORS = f"{O2}/nfDeploymentDescriptors"
MANAGERS = f"{O2}/deploymentManagers"
DEPLOYMENTS = f"{O2}/nfDeployments"
ADAPTERS = ("helm", "argocd", "flux", "kubernetes", "ecs")
STATUSES = ("NOT_INSTANTIATED", "INSTANTIATED", "FAILED", "DEPLOYING", "ROLLING_BACK", "DELETING")
TRANSIENT = frozenset({"DEPLOYING", "ROLLING_BACK", "DELETING"})
# An operation's end, as an exit code: only a change that did what it was asked succeeded.
OUTCOMES = {"COMPLETED": OK, "FAILED": ROLLOUT_FAILED, "ROLLED_BACK": ROLLOUT_FAILED}
OUTCOMES |= {"CANCELLED": ROLLOUT_FAILED, "SKIPPED": ROLLOUT_FAILED}
# Words of this API that output.STATUS_STYLE leaves plain.
MORE_STYLES = {
    "DEPLOYING": "cyan",
    "RUNNING": "cyan",
    "DELETING": "yellow",
    "pending-install": "cyan",
    "pending-upgrade": "cyan",
    "pending-rollback": "yellow",
    "NOT_INSTANTIATED": "dim",
    "superseded": "dim",
    "uninstalled": "dim",
    "CANCELLED": "dim",
    "SKIPPED": "dim",
    "pending": "cyan",
}
POLL_FIRST, POLL_MOST = 0.5, 2.0
HELP = {"help_option_names": ["-h", "--help"]}


# ------------------------------------------------------------------------------ shared


def state(value: Any) -> str:
    """A status word, coloured by what it means (green done, red failed, cyan running)."""
    text = "" if value is None else str(value)
    style = MORE_STYLES.get(text)
    return f"[{style}]{escape(text)}[/]" if style else styled(text)


def as_text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def short(value: Any) -> str:
    """An instant as ``12-03 12:54`` (UTC): enough to tell rows apart in a list."""
    return when(value)[5:16]


def as_yaml(value: Any) -> str:
    """A parameters object as YAML lines, easier to read in a terminal than JSON."""
    import yaml

    if not value:
        return "{}"
    return str(yaml.safe_dump(value, sort_keys=False, default_flow_style=False)).rstrip()


def fields_table(rows: Sequence[tuple[str, str]]) -> Any:
    """Label/value lines of one object; rows whose value is empty are left out."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        if value:
            grid.add_row(label, value)
    return grid


def paged(page: dict[str, Any], fmt: str, render: Callable[[Any], Any]) -> None:
    """A page of a listing, then how to read the next one: printed as one plain line, so
    that the token is copied whole (rich would fold it at 80 columns)."""
    emit(page, fmt, render)
    if fmt == "table" and page.get("nextToken"):
        click.echo(f"more: --next-token {page['nextToken']}")


def document(path: str, what: str) -> dict[str, Any]:
    """A JSON or YAML object from a file (``-`` for stdin): YAML reads JSON as well."""
    import yaml

    try:
        with click.open_file(path, encoding="utf-8") as stream:
            found = yaml.safe_load(stream)
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc}", USAGE) from exc
    except yaml.YAMLError as exc:
        raise CliError(f"{what} {path} is neither JSON nor YAML: {exc}", USAGE) from exc
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise CliError(f"{what} {path} must hold an object (key: value)", USAGE)
    return found


def params_of(values: str | None, pairs: Sequence[str]) -> dict[str, Any] | None:
    """Parameters from a values file, then ``--param`` pairs over it; None when neither."""
    base = document(values, "values file") if values else {}
    given = merged(base, assignments(pairs, option="--param"))
    return given if values or pairs else None


def given(**fields: Any) -> dict[str, Any]:
    """A request body of the fields that were given (None means not given)."""
    return {key: value for key, value in fields.items() if value is not None}


def page_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--next-token", help="read the page after the one that printed this token"
    )(function)
    return click.option(
        "--limit",
        type=click.IntRange(1, 100),
        default=20,
        show_default=True,
        help="how many to show at most",
    )(function)


def param_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--param",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help="a chart value, dotted for nesting; repeat it (image.tag=1.21.0, replicaCount=3)",
    )(function)


def change_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--watch", is_flag=True, help="follow the change live until it ends (exit 1 if it fails)"
    )(function)
    function = click.option(
        "--dry-run", is_flag=True, help="print the commands the backend would run; change nothing"
    )(function)
    return click.option("--reason", help="why: kept on the operation and in the audit trail")(
        function
    )


def gone(fmt: str, key: str, ident: str, message: str) -> None:
    """What a deletion answered with no body: the id, for scripts; a sentence, for people."""
    emit({key: ident, "deleted": True}, fmt, lambda _: [message])
