"""``o2dms deployments``: create, change, follow and terminate NF deployments."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from o2dms_cli.common import api_of
from o2dms_cli.errors import (
    EXIT_CODES_HELP,
    INTERRUPTED,
    OK,
    USAGE,
    CliError,
)
from o2dms_cli.o2.shared import (
    ADAPTERS,
    DEPLOYMENTS,
    OUTCOMES,
    POLL_FIRST,
    POLL_MOST,
    STATUSES,
    TRANSIENT,
    as_text,
    as_yaml,
    change_options,
    fields_table,
    given,
    page_options,
    paged,
    param_option,
    params_of,
    state,
)
from o2dms_cli.output import emit, output_option, seconds, table, when


@click.group(epilog=EXIT_CODES_HELP)
def deployments() -> None:
    """Create, change, follow, inspect and terminate deployments."""


@dataclass(frozen=True, slots=True)
class _Change:
    """One change to a deployment, as the command line sends it."""

    verb: str  # "Upgrading": how the answer starts
    deployment_id: str
    method: str
    path: str
    body: dict[str, Any] | None


def _apply(ctx: click.Context, change: _Change, *, dry_run: bool, watch: bool, output: str) -> None:
    """Send a change: its plan with --dry-run; else its answer, or, with --watch, the change
    followed to its end (the exit code then says how it ended)."""
    api = api_of(ctx)
    if dry_run:
        plan = api.call(change.method, change.path, body=change.body, params={"dryRun": "true"})
        emit(plan, output, _plan)
        return
    answer, headers = api.call_with_headers(change.method, change.path, body=change.body)
    operation_id = headers.get("x-o2dms-operation-id")
    rollout_id = headers.get("x-o2dms-rollout-id")
    if answer is None:  # a scale answers 204: its ids are in the headers only
        answer = {"deploymentId": change.deployment_id, **(change.body or {})}
        answer |= given(operationId=operation_id, rolloutId=rollout_id)
    if operation_id is None:  # nothing to do: the service says why
        emit(answer, output, lambda d: [as_text(d["message"])])
        return
    if not watch:
        emit(answer, output, lambda d: _started(change, d, operation_id))
        return
    if output == "table":
        click.echo(f"{change.verb} {change.deployment_id}: operation {operation_id}")
        click.echo("(Ctrl-C stops watching; the change goes on.)")
    ctx.exit(_watched(api, change.deployment_id, operation_id, rollout_id, output))


def _started(change: _Change, d: dict[str, Any], operation_id: str) -> list[Any]:
    shown = [f"{change.verb} [bold]{as_text(change.deployment_id)}[/]"]
    if "status" in d:
        shown[0] += f" (revision {d['version']}): {state(d['status'])}"
        shown.append(as_text(d.get("description") or d.get("message")))
    elif "replicas" in d:  # a scale's 204: no deployment in the answer
        shown[0] += f" to {d['replicas']} replicas"
    shown += [
        f"operation {operation_id}",
        f"[dim]follow it: o2dms deployments status {change.deployment_id} --watch[/]",
    ]
    return shown


def _watched(
    api: Any, deployment_id: str, operation_id: str, rollout_id: str | None, output: str
) -> int:
    """Follow a change live (its seed-002 rollout, else its deployment's status), then read
    its operation: the exit code is that of how the operation ended, so that a rollback that
    did its job is a success here."""
    if rollout_id:
        from o2dms_cli.watch import follow

        again = f"o2dms deployments status {deployment_id} --watch"
        code = follow(api, rollout_id, fmt=output, verdict=False, again=again)
    else:
        code = _follow_status(api, deployment_id, output)
    if code == INTERRUPTED:
        return code
    operation = api.call("GET", f"{DEPLOYMENTS}/{deployment_id}/operations/{operation_id}")
    return _ended(operation, output, code)


def _ended(operation: dict[str, Any], output: str, otherwise: int) -> int:
    """Say how an operation ended (for people); its exit code."""
    state = operation["state"]
    if output == "table":
        emit(operation, output, lambda o: [_summary(o)])
    return OUTCOMES.get(state, otherwise)


def _summary(o: dict[str, Any]) -> str:
    return (
        f"Operation {o['operationId']} ({as_text(o['type'])}) {state(o['state'])}: "
        f"{as_text(o.get('failure') or o['message'])}"
    )


def _plan(p: dict[str, Any]) -> list[Any]:
    """A dry run's answer: what would change, and each command the backend would run."""
    import shlex

    from rich.table import Table

    revision = f" as revision {p['revision']}" if p.get("revision") else ""
    steps = Table.grid(padding=(0, 1))
    steps.add_column(no_wrap=True)
    steps.add_column(overflow="fold")
    for number, step in enumerate(p["plan"], 1):
        steps.add_row(f"{number}.", as_text(step["description"]))
        if step.get("command"):
            steps.add_row("", f"[bold]$ {as_text(shlex.join(step['command']))}[/]")
        if step.get("body") is not None:
            steps.add_row("", as_text(json.dumps(step["body"], indent=2)))
    return [
        f"Dry run, {as_text(p['type'])} of [bold]{as_text(p['deploymentId'])}[/]{revision}: "
        f"{as_text(p['description'])}. Nothing has changed.",
        "The backend would run:",
        steps,
    ]


values_option = click.option(
    "-f",
    "--values",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="parameters as a JSON or YAML file ('-' reads stdin); --param goes over it",
)


@deployments.command("create", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True, help="the deployment's name (its id), a DNS label")
@click.option("--descriptor", required=True, help="the descriptor to deploy")
@click.option("--namespace", help="default: the cluster's default namespace")
@click.option("--manager", help="the cluster (deployment manager); default: the default one")
@click.option("--adapter", type=click.Choice(ADAPTERS), help="how to deploy it (default: helm)")
@values_option
@param_option
@change_options
@output_option
@click.pass_context
def deployment_create(
    ctx: click.Context,
    *,
    name: str,
    descriptor: str,
    namespace: str | None,
    manager: str | None,
    adapter: str | None,
    values: str | None,
    params: tuple[str, ...],
    reason: str | None,
    dry_run: bool,
    watch: bool,
    output: str,
) -> None:
    """Deploy a descriptor as a new NF deployment."""
    body = given(
        name=name,
        descriptorId=descriptor,
        namespace=namespace,
        deploymentManagerId=manager,
        adapter=adapter,
        parameters=params_of(values, params),
        reason=reason,
    )
    change = _Change("Creating", name, "POST", DEPLOYMENTS, body)
    _apply(ctx, change, dry_run=dry_run, watch=watch, output=output)


@deployments.command("list", epilog=EXIT_CODES_HELP)
@click.option("--namespace", help="only those in this namespace")
@click.option(
    "--status",
    "status_",
    type=click.Choice(STATUSES, case_sensitive=False),
    metavar="STATUS",
    help="only those in this status: " + ", ".join(STATUSES),
)
@click.option("--descriptor", help="only those of this descriptor")
@click.option("--adapter", type=click.Choice(ADAPTERS), help="only those of this adapter")
@click.option("--manager", help="only those on this cluster")
@page_options
@output_option
@click.pass_context
def deployment_list(
    ctx: click.Context,
    *,
    namespace: str | None,
    status_: str | None,
    descriptor: str | None,
    adapter: str | None,
    manager: str | None,
    limit: int,
    next_token: str | None,
    output: str,
) -> None:
    """List NF deployments."""
    params = {
        "namespace": namespace,
        "status": status_,
        "descriptorId": descriptor,
        "adapter": adapter,
        "deploymentManagerId": manager,
        "limit": limit,
        "nextToken": next_token,
    }
    paged(api_of(ctx).call("GET", DEPLOYMENTS, params=params), output, _deployments)


def _deployments(page: dict[str, Any]) -> list[Any]:
    rows = [
        (
            as_text(d["deploymentId"]),
            as_text(d["namespace"]),
            state(d["status"]),
            str(d["version"]),
            as_text(d.get("replicas")),
            as_text(f"{d['chartName']} {d['chartVersion']}"),
            as_text(d.get("appVersion")),
        )
        for d in page["nfDeployments"]
    ]
    if not rows:
        return ["No deployments."]
    columns = ["deployment", "namespace", "status", "rev", "pods", "chart", "app"]
    return [table(None, columns, rows, whole=("deployment", "status"))]


@deployments.command("get", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@output_option
@click.pass_context
def deployment_get(ctx: click.Context, deployment_id: str, output: str) -> None:
    """Show one deployment: status, chart, revision, parameters."""
    emit(api_of(ctx).call("GET", f"{DEPLOYMENTS}/{deployment_id}"), output, _deployment)


def _deployment(d: dict[str, Any]) -> list[Any]:
    progress = f" {d['progress']}%" if d["status"] in TRANSIENT else ""
    return [
        fields_table(
            [
                ("deployment", f"[bold]{as_text(d['deploymentId'])}[/]"),
                ("status", state(d["status"]) + progress),
                ("message", as_text(d["message"])),
                ("namespace", as_text(d["namespace"])),
                ("descriptor", as_text(d["descriptorId"])),
                ("chart", as_text(f"{d['chartName']} {d['chartVersion']}")),
                ("app version", as_text(d.get("appVersion"))),
                ("replicas", as_text(d.get("replicas"))),
                ("revision", str(d["version"])),
                ("adapter", as_text(d["adapter"])),
                ("cluster", as_text(d["deploymentManagerId"])),
                ("running", as_text(d.get("operationId"))),
                ("created", when(d.get("createdAt"))),
                ("updated", when(d.get("updatedAt"))),
                ("parameters", as_text(as_yaml(d.get("parameters")))),
            ]
        )
    ]


@deployments.command("upgrade", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--descriptor", help="move to this descriptor (another chart version)")
@values_option
@param_option
@change_options
@output_option
@click.pass_context
def deployment_upgrade(
    ctx: click.Context,
    *,
    deployment_id: str,
    descriptor: str | None,
    values: str | None,
    params: tuple[str, ...],
    reason: str | None,
    dry_run: bool,
    watch: bool,
    output: str,
) -> None:
    """Upgrade a deployment: a new descriptor and/or parameters.

    The parameters are merged into the current ones: --param image.tag=1.21.0 changes
    the tag only."""
    body = given(descriptorId=descriptor, parameters=params_of(values, params), reason=reason)
    change = _Change("Upgrading", deployment_id, "PUT", f"{DEPLOYMENTS}/{deployment_id}", body)
    _apply(ctx, change, dry_run=dry_run, watch=watch, output=output)


@deployments.command("scale", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option(
    "--replicas", required=True, type=click.IntRange(min=0), help="how many replicas to run"
)
@change_options
@output_option
@click.pass_context
def deployment_scale(
    ctx: click.Context,
    *,
    deployment_id: str,
    replicas: int,
    reason: str | None,
    dry_run: bool,
    watch: bool,
    output: str,
) -> None:
    """Scale a deployment to --replicas (0 stops it).

    Scaling to 0 keeps the configuration; scaling to the count it runs changes nothing."""
    body = given(replicas=replicas, reason=reason)
    path = f"{DEPLOYMENTS}/{deployment_id}/scale"
    change = _Change("Scaling", deployment_id, "POST", path, body)
    _apply(ctx, change, dry_run=dry_run, watch=watch, output=output)


@deployments.command("rollback", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option(
    "--revision",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="the revision to go back to; 0 is the previous good one (see history)",
)
@change_options
@output_option
@click.pass_context
def deployment_rollback(
    ctx: click.Context,
    *,
    deployment_id: str,
    revision: int,
    reason: str | None,
    dry_run: bool,
    watch: bool,
    output: str,
) -> None:
    """Roll back to an earlier revision (0: the previous good one).

    The rollback is a new revision, with the configuration of the one it goes back to."""
    body = given(revision=revision, reason=reason)
    path = f"{DEPLOYMENTS}/{deployment_id}/rollback"
    change = _Change("Rolling back", deployment_id, "POST", path, body)
    _apply(ctx, change, dry_run=dry_run, watch=watch, output=output)


@deployments.command("delete", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--yes", "-y", is_flag=True, help="do not ask (needed when not run from a terminal)")
@change_options
@output_option
@click.pass_context
def deployment_delete(
    ctx: click.Context,
    *,
    deployment_id: str,
    yes: bool,
    reason: str | None,
    dry_run: bool,
    watch: bool,
    output: str,
) -> None:
    """Terminate a deployment (asks first; say --yes in scripts).

    Its release is uninstalled; its history stays readable."""
    if not (yes or dry_run) and not _confirmed(deployment_id):
        click.echo("Nothing was terminated.")
        return
    body = given(reason=reason) or None
    path = f"{DEPLOYMENTS}/{deployment_id}"
    change = _Change("Terminating", deployment_id, "DELETE", path, body)
    _apply(ctx, change, dry_run=dry_run, watch=watch, output=output)


def _confirmed(deployment_id: str) -> bool:
    """Ask before terminating; refuse when nobody can answer (a script must say --yes)."""
    if not sys.stdin.isatty():
        raise CliError(
            f"terminating {deployment_id} needs --yes when not run from a terminal "
            "(see the plan first with --dry-run)",
            USAGE,
        )
    return click.confirm(f"Terminate {deployment_id} and uninstall its release?", default=False)


@deployments.command("status", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option(
    "--watch",
    is_flag=True,
    help="redraw it until the running change ends; exit 1 if that change failed",
)
@output_option
@click.pass_context
def deployment_status(ctx: click.Context, deployment_id: str, watch: bool, output: str) -> None:
    """Show status, progress, conditions and health checks.

    With --watch, the status is redrawn until the change that runs on the deployment ends;
    the exit code then says how its latest operation ended."""
    api = api_of(ctx)
    if watch:
        code = _follow_status(api, deployment_id, output)
        if code != INTERRUPTED:
            code = _last_outcome(api, deployment_id, output)
        ctx.exit(code)
    emit(api.call("GET", f"{DEPLOYMENTS}/{deployment_id}/status"), output, _status)


def _status(s: dict[str, Any]) -> list[Any]:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[bold]{as_text(s['deploymentId'])}[/]",
        state(s["status"]),
        f"revision {s['revision']}",
        f"stage {as_text(s.get('stage') or '-')}",
    )
    bar = Table.grid(padding=(0, 1))
    eta = s.get("estimatedSecondsRemaining")
    running = s["status"] in TRANSIENT
    bar.add_row(
        ProgressBar(total=100, completed=s["progress"], width=30),
        f"{s['progress']:3d}%",
        f"ETA {seconds(eta)}" if running and eta is not None else "",
    )
    parts: list[Any] = [head, bar, as_text(s["message"])]
    conditions = [
        (as_text(c["type"]), as_text(c["status"]), as_text(c["reason"]), as_text(c["message"]))
        for c in s.get("conditions") or []
    ]
    if conditions:
        parts.append(table(None, ["condition", "status", "reason", "message"], conditions))
    checks = [
        (as_text(c["name"]), state(c["status"]), as_text(c.get("message")))
        for c in s.get("healthChecks") or []
    ]
    if checks:
        parts.append(table(None, ["check", "status", "message"], checks))
    running_op = f"operation {s['operationId']} · " if s.get("operationId") else ""
    parts.append(f"[dim]{running_op}updated {when(s.get('updatedAt'))}[/]")
    return [Group(*parts)]


def _statuses(api: Any, deployment_id: str) -> Iterator[dict[str, Any]]:
    """The deployment's status each time it changes, until no change runs on it."""
    import time

    path = f"{DEPLOYMENTS}/{deployment_id}/status"
    pause, last = POLL_FIRST, None
    while True:
        found: dict[str, Any] = api.call("GET", path)
        if found != last:
            yield found
            last, pause = found, POLL_FIRST
        else:
            pause = min(pause * 2, POLL_MOST)
        if found["status"] not in TRANSIENT:
            return
        time.sleep(pause)


def _follow_status(api: Any, deployment_id: str, output: str) -> int:
    """Redraw the status (table) or print each new one as a JSON line, until it settles.
    The seed-000 API names no rollout to follow, so its /status is read (cheap: one item)."""
    try:
        if output != "table":
            for found in _statuses(api, deployment_id):
                click.echo(json.dumps(found))
            return OK
        if not _live_terminal():  # a file or a pipe: the status it settled in
            *_, last = _statuses(api, deployment_id)
            emit(last, output, _status)
            return OK
        from rich.live import Live

        from o2dms_cli.output import console

        with Live(console=console(), refresh_per_second=8, transient=False) as live:
            for found in _statuses(api, deployment_id):
                live.update(_status(found)[0])
    except KeyboardInterrupt:
        click.echo(f"Stopped watching; what runs on {deployment_id} goes on.", err=True)
        return INTERRUPTED
    return OK


def _live_terminal() -> bool:
    """Whether a live view is redrawn in place (else rich prints only its last frame)."""
    from o2dms_cli.output import console

    return bool(console().is_terminal)


def _last_outcome(api: Any, deployment_id: str, output: str) -> int:
    """How the deployment's latest operation ended, as an exit code (0 with none)."""
    page = api.call("GET", f"{DEPLOYMENTS}/{deployment_id}/operations", params={"limit": 1})
    if not page["operations"]:
        return OK
    return _ended(page["operations"][0], output, OK)
