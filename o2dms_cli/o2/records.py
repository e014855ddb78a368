"""``o2dms deployments health | history | operations``: what a deployment has been through."""

from __future__ import annotations

from typing import Any

import click

from o2dms_cli.common import api_of
from o2dms_cli.errors import (
    EXIT_CODES_HELP,
)
from o2dms_cli.o2.deployments import deployments
from o2dms_cli.o2.shared import (
    DEPLOYMENTS,
    as_text,
    as_yaml,
    fields_table,
    page_options,
    paged,
    short,
    state,
)
from o2dms_cli.output import emit, output_option, seconds, table, when


@deployments.command("health", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--pods", is_flag=True, help="every pod's checks, not one per component and type")
@output_option
@click.pass_context
def deployment_health(ctx: click.Context, deployment_id: str, pods: bool, output: str) -> None:
    """Evaluate a deployment's health checks now."""
    params = {"detail": "pods"} if pods else None
    found = api_of(ctx).call("GET", f"{DEPLOYMENTS}/{deployment_id}/healthChecks", params=params)
    emit(found, output, _health)


def _health(h: dict[str, Any]) -> list[Any]:
    rows = [
        (
            as_text(c.get("pod") or c["name"]),
            as_text(c["type"]),
            state(c["status"]) + ("" if c.get("required", True) else " [dim](optional)[/]"),
            as_text(c.get("message")),
        )
        for c in h["healthChecks"]
    ]
    verdict = "[green]healthy[/]" if h["healthy"] else "[red]unhealthy[/]"
    head = f"[bold]{as_text(h['deploymentId'])}[/] {verdict} at {when(h.get('evaluatedAt'))}"
    return [head, table(None, ["check", "type", "status", "message"], rows)]


@deployments.command("history", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option(
    "--revision",
    type=click.IntRange(min=1),
    help="show this revision in full: its parameters and the values it deployed",
)
@page_options
@output_option
@click.pass_context
def deployment_history(
    ctx: click.Context,
    *,
    deployment_id: str,
    revision: int | None,
    limit: int,
    next_token: str | None,
    output: str,
) -> None:
    """List a deployment's revisions, newest first.

    * marks the current revision; --revision N shows one revision in full."""
    api = api_of(ctx)
    path = f"{DEPLOYMENTS}/{deployment_id}/history"
    if revision is not None:
        emit(api.call("GET", f"{path}/{revision}"), output, _revision)
        return
    page = api.call("GET", path, params={"limit": limit, "nextToken": next_token})
    paged(page, output, _history)


def _history(h: dict[str, Any]) -> list[Any]:
    current = h["currentRevision"]
    rows = [
        (
            f"{r['revision']}{' *' if r['revision'] == current else ''}",
            state(r["status"]),
            as_text(r["operationType"]),
            as_text(r.get("appVersion")),
            as_text(r["description"]),
            short(r.get("deployedAt")),
        )
        for r in h["revisions"]
    ]
    if not rows:
        return ["No revisions."]
    columns = ["rev", "status", "change", "app", "description", "deployed"]
    title = f"{as_text(h['deploymentId'])}: revision {current}"
    return [table(title, columns, rows, whole=("rev", "status", "deployed"))]


def _revision(r: dict[str, Any]) -> list[Any]:
    moved = ""
    if r.get("rollbackFrom") is not None:
        moved = f"from revision {r['rollbackFrom']} back to {r['rollbackTo']}"
    return [
        fields_table(
            [
                ("revision", f"[bold]{r['revision']}[/] of {as_text(r['deploymentId'])}"),
                ("status", state(r["status"])),
                ("change", as_text(r["operationType"])),
                ("description", as_text(r["description"])),
                ("rollback", moved),
                ("descriptor", as_text(r["descriptorId"])),
                ("chart", as_text(f"{r['chartName']} {r['chartVersion']}")),
                ("repository", as_text(r.get("artifactRepoUrl"))),
                ("app version", as_text(r.get("appVersion"))),
                ("operation", as_text(r["operationId"])),
                ("deployed", when(r.get("deployedAt"))),
                ("updated", when(r.get("updatedAt"))),
                ("parameters", as_text(as_yaml(r.get("parameters")))),
                ("values", as_text(as_yaml(r.get("values")))),
            ]
        )
    ]


@deployments.command("operations", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.argument("operation_id", required=False)
@page_options
@output_option
@click.pass_context
def deployment_operations(
    ctx: click.Context,
    *,
    deployment_id: str,
    operation_id: str | None,
    limit: int,
    next_token: str | None,
    output: str,
) -> None:
    """List a deployment's operations, or show OPERATION_ID.

    The list says who changed the deployment, when, and how each change ended, newest
    first; one operation is shown with its stages and how long each took."""
    api = api_of(ctx)
    path = f"{DEPLOYMENTS}/{deployment_id}/operations"
    if operation_id:
        emit(api.call("GET", f"{path}/{operation_id}"), output, _operation)
        return
    page = api.call("GET", path, params={"limit": limit, "nextToken": next_token})
    paged(page, output, _operations)


def _operations(page: dict[str, Any]) -> list[Any]:
    rows = [
        (
            as_text(o["operationId"]),
            as_text(o["type"]),
            state(o["state"]),
            as_text(o.get("revision")),
            short(o.get("startedAt")),
            as_text(o["actor"]) + ("" if o["trigger"] == "api" else f" ({as_text(o['trigger'])})"),
        )
        for o in page["operations"]
    ]
    if not rows:
        return ["No operations."]
    columns = ["operation", "type", "state", "rev", "started", "by"]
    whole = ("operation", "state", "started")
    return [table(None, columns, rows, whole=whole)]


def _operation(o: dict[str, Any]) -> list[Any]:
    revisions = ""
    if o.get("revision") is not None:
        revisions = f"{o.get('fromRevision') or '-'} -> {o['revision']}"
    error = o.get("error") or {}
    took = _took(o.get("startedAt"), o.get("finishedAt"))
    shown: list[Any] = [
        fields_table(
            [
                ("operation", f"[bold]{as_text(o['operationId'])}[/]"),
                ("deployment", as_text(o["deploymentId"])),
                ("type", as_text(o["type"])),
                ("state", f"{state(o['state'])} ({as_text(o['stage'])}, {o['progress']}%)"),
                ("message", as_text(o["message"])),
                ("failure", as_text(o.get("failure"))),
                ("error", as_text(error.get("message"))),
                ("by", f"{as_text(o['actor'])} ({as_text(o['trigger'])})"),
                ("reason", as_text(o.get("reason"))),
                ("revision", revisions),
                ("rolled back to", as_text(o.get("rollbackRevision"))),
                ("started", when(o.get("startedAt"))),
                ("finished", f"{when(o.get('finishedAt'))} ({took})" if took else ""),
                ("deadline", when(o.get("deadline")) if o["state"] == "RUNNING" else ""),
            ]
        )
    ]
    stages = o.get("stages") or []
    rows = [
        (state(s["stage"]), when(s["at"]), _took(s["at"], later["at"]))
        for s, later in zip(stages, [*stages[1:], {"at": None}], strict=True)
    ]
    if rows:
        shown.append(table(None, ["stage", "at", "took"], rows))
    return shown


def _took(start: Any, end: Any) -> str:
    """The time between two instants, or '' when either is missing."""
    from datetime import datetime

    if not start or not end:
        return ""
    began = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    ended = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    return seconds((ended - began).total_seconds())


# --------------------------------------------------------------------------- schedules
