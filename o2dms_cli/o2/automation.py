"""``o2dms schedules`` and ``o2dms alarms``: changes a deployment makes by itself."""

from __future__ import annotations

from typing import Any

import click

from o2dms_cli.common import api_of
from o2dms_cli.errors import (
    EXIT_CODES_HELP,
    USAGE,
    CliError,
)
from o2dms_cli.o2.shared import (
    DEPLOYMENTS,
    as_text,
    fields_table,
    given,
    gone,
    short,
)
from o2dms_cli.output import emit, output_option, seconds, table, when


@click.group(epilog=EXIT_CODES_HELP)
def schedules() -> None:
    """Scale a deployment on a schedule (EventBridge Scheduler)."""


@schedules.command("create", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option(
    "--expression",
    "-e",
    required=True,
    help="when: 'cron(0 8 * * ? *)', 'rate(1 hour)' or 'at(2026-12-01T08:00:00)'",
)
@click.option("--replicas", required=True, type=click.IntRange(min=0), help="scale to this many")
@click.option("--timezone", help="an IANA zone the expression is read in (default: UTC)")
@click.option("--start", help="not before this instant, e.g. 2026-12-01T08:00:00Z")
@click.option("--end", help="not after this instant")
@click.option("--reason", help="why: kept with the schedule and its operations")
@output_option
@click.pass_context
def schedule_create(
    ctx: click.Context,
    *,
    deployment_id: str,
    expression: str,
    replicas: int,
    timezone: str | None,
    start: str | None,
    end: str | None,
    reason: str | None,
    output: str,
) -> None:
    """Scale a deployment to --replicas on a schedule.

    Each time --expression comes due (read in --timezone), DEPLOYMENT_ID is scaled to
    --replicas, as by 'o2dms deployments scale'."""
    body = given(
        expression=expression,
        replicas=replicas,
        timezone=timezone,
        startDate=start,
        endDate=end,
        reason=reason,
    )
    path = f"{DEPLOYMENTS}/{deployment_id}/scalingSchedules"
    emit(api_of(ctx).call("POST", path, body=body), output, _schedule)


@schedules.command("list", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@output_option
@click.pass_context
def schedule_list(ctx: click.Context, deployment_id: str, output: str) -> None:
    """List a deployment's schedules, with their next and last firing."""
    found = api_of(ctx).call("GET", f"{DEPLOYMENTS}/{deployment_id}/scalingSchedules")
    emit(found, output, _schedules)


def _last(sc: dict[str, Any]) -> str:
    last = sc.get("lastFiring")
    return f"{as_text(last['outcome'])} {short(last['firedAt'])}" if last else ""


def _schedules(found: dict[str, Any]) -> list[Any]:
    rows = [
        (
            as_text(sc["scheduleId"]),
            f"{as_text(sc['expression'])}\n[dim]{as_text(sc['timezone'])}[/]",
            str(sc["replicas"]),
            short(sc.get("nextFiring")),
            _last(sc),
        )
        for sc in found["scalingSchedules"]
    ]
    if not rows:
        return [f"{as_text(found['deploymentId'])} has no scaling schedule."]
    columns = ["schedule", "when", "replicas", "next", "last"]
    return [table(None, columns, rows, whole=("schedule",))]


@schedules.command("get", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.argument("schedule_id")
@output_option
@click.pass_context
def schedule_get(ctx: click.Context, deployment_id: str, schedule_id: str, output: str) -> None:
    """Show one schedule and how its last firing went."""
    path = f"{DEPLOYMENTS}/{deployment_id}/scalingSchedules/{schedule_id}"
    emit(api_of(ctx).call("GET", path), output, _schedule)


def _schedule(sc: dict[str, Any]) -> list[Any]:
    last = sc.get("lastFiring") or {}
    return [
        fields_table(
            [
                ("schedule", f"[bold]{as_text(sc['scheduleId'])}[/]"),
                ("deployment", as_text(sc["deploymentId"])),
                ("when", f"{as_text(sc['expression'])} ({as_text(sc['timezone'])})"),
                ("replicas", str(sc["replicas"])),
                ("from", when(sc.get("startDate"))),
                ("until", when(sc.get("endDate"))),
                ("next", when(sc.get("nextFiring")) or "never again"),
                ("last", f"{_last(sc)}: {as_text(last.get('message'))}" if last else "never"),
                ("reason", as_text(sc.get("reason"))),
                ("created", f"{when(sc.get('createdAt'))} by {as_text(sc.get('createdBy'))}"),
            ]
        )
    ]


@schedules.command("delete", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.argument("schedule_id")
@output_option
@click.pass_context
def schedule_delete(ctx: click.Context, deployment_id: str, schedule_id: str, output: str) -> None:
    """Delete a schedule (what it already scaled stays)."""
    path = f"{DEPLOYMENTS}/{deployment_id}/scalingSchedules/{schedule_id}"
    api_of(ctx).call("DELETE", path)
    gone(output, "scheduleId", schedule_id, f"Deleted schedule {as_text(schedule_id)}.")


# ------------------------------------------------------------------------------ alarms


@click.group(epilog=EXIT_CODES_HELP)
def alarms() -> None:
    """Roll a deployment back when a CloudWatch alarm fires."""


@alarms.command("set", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--alarm", "alarm_names", multiple=True, help="a CloudWatch alarm's name; repeat it")
@click.option("--clear", is_flag=True, help="watch no alarm any more")
@click.option(
    "--watch-window",
    type=click.IntRange(60, 604_800),
    help="seconds after a change during which an alarm rolls it back",
)
@click.option(
    "--cooldown",
    type=click.IntRange(0, 604_800),
    help="seconds after a rollback before an alarm may roll back again",
)
@output_option
@click.pass_context
def alarm_set(
    ctx: click.Context,
    *,
    deployment_id: str,
    alarm_names: tuple[str, ...],
    clear: bool,
    watch_window: int | None,
    cooldown: int | None,
    output: str,
) -> None:
    """Set the alarms that roll DEPLOYMENT_ID back.

    They replace those set before. An alarm that goes to ALARM within the watch window
    after a change rolls the deployment back to its previous good revision."""
    if bool(alarm_names) == clear:
        raise CliError("say the alarms with --alarm NAME (or --clear for none)", USAGE)
    body = given(
        alarmNames=list(alarm_names),
        watchWindowSeconds=watch_window,
        cooldownSeconds=cooldown,
    )
    path = f"{DEPLOYMENTS}/{deployment_id}/rollbackAlarms"
    emit(api_of(ctx).call("PUT", path, body=body), output, _alarms)


@alarms.command("get", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@output_option
@click.pass_context
def alarm_get(ctx: click.Context, deployment_id: str, output: str) -> None:
    """Show the alarms that roll a deployment back.

    With the watch window and cooldown, and when an alarm last rolled it back."""
    found = api_of(ctx).call("GET", f"{DEPLOYMENTS}/{deployment_id}/rollbackAlarms")
    emit(found, output, _alarms)


def _alarms(b: dict[str, Any]) -> list[Any]:
    names = ", ".join(b["alarmNames"]) or "none"
    return [
        fields_table(
            [
                ("deployment", f"[bold]{as_text(b['deploymentId'])}[/]"),
                ("alarms", as_text(names)),
                ("watch window", seconds(b["watchWindowSeconds"]) + " after each change"),
                ("cooldown", seconds(b["cooldownSeconds"]) + " after a rollback"),
                ("tag", as_text(b.get("tagKey"))),
                ("updated", when(b.get("updatedAt"))),
                ("last rollback", when(b.get("lastRollbackAt")) or "never"),
            ]
        )
    ]
