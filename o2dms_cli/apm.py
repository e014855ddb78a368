"""``apm``: seed 002's deployment commands, exactly as the seed writes them.

apm deploy start --name my-app --version v2.0.0 --platform kubernetes --environment production
apm deploy start --name my-app --version v2.0.0 --watch
apm deploy status ID
apm deploy list --platform kubernetes --status completed --limit 10
apm deploy rollback ID --reason "Performance degradation"
apm deploy rollback ID --dry-run
"""

from __future__ import annotations

from typing import Any

import click

from o2dms_cli.common import api_of, assignments, connection_options, merged
from o2dms_cli.errors import EXIT_CODES_HELP, USAGE, CliError
from o2dms_cli.output import emit, escape, output_option, styled, table, when

V1 = "/api/v1/deployments"
PLATFORMS = ("kubernetes", "helm", "argocd", "flux", "ecs")
STATUSES = (
    "pending",
    "preparing",
    "deploying",
    "verifying",
    "completed",
    "failed",
    "rolling_back",
    "rolled_back",
)


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
def apm(api_url: str | None, token: str | None, profile: str | None) -> None:
    """Deploy application versions and follow them (the service's /api/v1)."""


@apm.group(epilog=EXIT_CODES_HELP)
def deploy() -> None:
    """Start, follow, list and roll back deployments."""


def _where(api: Any, name: str, platform: str | None, environment: str | None) -> tuple[str, str]:
    """Platform and environment as given, else those of the app's newest deployment."""
    if platform and environment:
        return platform, environment
    newest = api.call("GET", V1, params={"name": name, "limit": 1})["deployments"]
    before = newest[0] if newest else {}
    chosen_platform = platform or before.get("platform") or "kubernetes"
    chosen_environment = environment or before.get("environment")
    if not chosen_environment:
        raise CliError(
            f"{name} has never been deployed: say where with --environment (and --platform)",
            USAGE,
        )
    return chosen_platform, chosen_environment


@deploy.command("start", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True, help="the application")
@click.option("--version", "version", required=True, help="the version to roll out")
@click.option(
    "--platform",
    type=click.Choice(PLATFORMS),
    help="default: the app's last platform, else kubernetes",
)
@click.option("--environment", help="default: the app's last environment")
@click.option("--image", help="container image repository (kubernetes: the tag is the version)")
@click.option("--namespace", help="default: the environment")
@click.option(
    "--config",
    "config",
    multiple=True,
    metavar="KEY=VALUE",
    help="a configuration field, e.g. replicas=3, labels.team=ran, timeouts.verifying=300",
)
@click.option("--reason", help="why (kept in the audit trail)")
@click.option("--watch", is_flag=True, help="follow the rollout live until it ends")
@output_option
@click.pass_context
def start(
    ctx: click.Context,
    *,
    name: str,
    version: str,
    platform: str | None,
    environment: str | None,
    image: str | None,
    namespace: str | None,
    config: tuple[str, ...],
    reason: str | None,
    watch: bool,
    output: str,
) -> None:
    """Start rolling out VERSION of an application."""
    api = api_of(ctx)
    chosen_platform, chosen_environment = _where(api, name, platform, environment)
    configuration = assignments(config, option="--config")
    given = {"image": image, "namespace": namespace}
    configuration = merged(configuration, {k: v for k, v in given.items() if v})
    body: dict[str, Any] = {
        "name": name,
        "version": version,
        "platform": chosen_platform,
        "environment": chosen_environment,
        "configuration": configuration,
    }
    if reason:
        body["reason"] = reason
    started = api.call("POST", V1, body=body)
    if watch:
        if output == "table":
            click.echo(f"Started {started['id']} (Ctrl-C stops watching).")
        _follow(ctx, api, started["id"], output)
        return
    emit(started, output, _started)


def _started(d: dict[str, Any]) -> list[Any]:
    return [
        f"Started [bold]{escape(d['name'])}[/] {escape(d['version'])} on "
        f"{escape(d['platform'])}/{escape(d['environment'])}: {styled(d['status'])}",
        f"id {d['id']}",
        f"[dim]follow it: apm deploy status {d['id']} --watch[/]",
    ]


def _follow(
    ctx: click.Context, api: Any, rollout_id: str, output: str, *, rollback: bool = False
) -> None:
    from o2dms_cli.watch import follow

    ctx.exit(follow(api, rollout_id, fmt=output, rollback=rollback))


@deploy.command("status", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--watch", is_flag=True, help="follow it live until it ends")
@output_option
@click.pass_context
def status(ctx: click.Context, deployment_id: str, watch: bool, output: str) -> None:
    """Show one deployment: status, progress, stages, health checks, components."""
    api = api_of(ctx)
    if watch:
        _follow(ctx, api, deployment_id, output)
        return
    from o2dms_cli.watch import rollout_view

    emit(api.call("GET", f"{V1}/{deployment_id}"), output, rollout_view)


@deploy.command("list", epilog=EXIT_CODES_HELP)
@click.option("--platform", type=click.Choice(PLATFORMS))
@click.option("--status", "status_", type=click.Choice(STATUSES))
@click.option("--environment")
@click.option("--name")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--next-token", help="the page after the one that gave this token")
@output_option
@click.pass_context
def list_(
    ctx: click.Context,
    *,
    platform: str | None,
    status_: str | None,
    environment: str | None,
    name: str | None,
    limit: int,
    next_token: str | None,
    output: str,
) -> None:
    """List deployments, newest first."""
    params = {
        "platform": platform,
        "status": status_,
        "environment": environment,
        "name": name,
        "limit": limit,
        "next_token": next_token,
    }
    emit(api_of(ctx).call("GET", V1, params=params), output, _listed)


def _listed(page: dict[str, Any]) -> list[Any]:
    """Three columns, so that the full id (what the other commands take) fits 80 columns."""
    rows = [
        (
            d["id"],
            d["status"],
            f"{escape(d['name'])} {escape(d['version'])}\n"
            f"[dim]{escape(d['platform'])}/{escape(d['environment'])} "
            f"{when(d.get('started_at'))[5:16]}[/]",
        )
        for d in page["deployments"]
    ]
    shown: list[Any] = [table(None, ["id", "status", "deployment"], rows, whole=("id",))]
    if not rows:
        shown = ["No deployments."]
    if page.get("next_token"):
        shown.append(f"[dim]more: --next-token {page['next_token']}[/]")
    return shown


@deploy.command("rollback", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--reason", help="why: required for a real rollback (the audit trail keeps it)")
@click.option("--target-version", help="default: the newest good version before this one")
@click.option("--force", is_flag=True, help="go back to a version whose rollout failed")
@click.option("--dry-run", is_flag=True, help="show the commands, diff and risks; change nothing")
@click.option("--watch", is_flag=True, help="follow it live; exit 0 once rolled back")
@output_option
@click.pass_context
def rollback(
    ctx: click.Context,
    *,
    deployment_id: str,
    reason: str | None,
    target_version: str | None,
    force: bool,
    dry_run: bool,
    watch: bool,
    output: str,
) -> None:
    """Roll a deployment back to an earlier version (or plan it with --dry-run)."""
    body: dict[str, Any] = {}
    if target_version:
        body["target_version"] = target_version
    if force:
        body["force"] = True
    if reason:
        body["reason"] = reason
    api = api_of(ctx)
    if dry_run:
        plan = api.call(
            "POST", f"{V1}/{deployment_id}/rollback", body=body, params={"dry_run": "true"}
        )
        emit(plan, output, _plan)
        return
    if not reason:
        raise CliError(
            "a rollback needs --reason: it is kept in the audit trail with who rolled back "
            "(see what it would do first with --dry-run)",
            USAGE,
        )
    started = api.call("POST", f"{V1}/{deployment_id}/rollback", body=body)
    if watch:
        _follow(ctx, api, started["id"], output, rollback=True)
        return
    emit(started, output, _started_rollback)


def _started_rollback(d: dict[str, Any]) -> list[Any]:
    return [
        f"Rolling [bold]{escape(d['name'])}[/] back from {escape(str(d.get('previous_version')))}"
        f" to {escape(d['version'])}: {styled(d['status'])}",
        f"id {d['id']}",
        f"[dim]follow it: apm deploy status {d['id']} --watch[/]",
    ]


def _plan(p: dict[str, Any]) -> list[Any]:
    from rich.syntax import Syntax

    shown: list[Any] = [
        f"Rollback plan for [bold]{escape(p['name'])}[/] in {escape(p['environment'])}: "
        f"{escape(str(p['current_version']))} -> {escape(p['target_version'])} "
        f"(revision {p['target_revision']}). Nothing has changed.",
        "[bold]Commands[/]",
    ]
    for c in p["commands"]:
        label = f"{c['component']}: " if c.get("component") else ""
        shown.append(f"[dim]# {escape(label + c['description'])}[/]")
        if c.get("command"):
            import shlex

            shown.append(Syntax(shlex.join(c["command"]), "bash", word_wrap=True))
    if p["diff"]:
        shown.append("[bold]Changes[/]")
        for d in p["diff"]:
            shown.append(f"  {escape(d['field'])}")
            shown.append(f"[red]  - {escape(_text(d.get('current')))}[/]")
            shown.append(f"[green]  + {escape(_text(d.get('target')))}[/]")
    shown.append("[bold]Risks[/]" if p["risks"] else "[bold]Risks[/]: none found")
    for r in p["risks"]:
        shown.append(f"[yellow]  ! {escape(r['flag'])}[/]: {escape(r['message'])}")
    return shown


def _text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


@deploy.command("health", epilog=EXIT_CODES_HELP)
@click.argument("deployment_id")
@click.option("--pods", is_flag=True, help="every pod's checks, not one per type")
@output_option
@click.pass_context
def health(ctx: click.Context, deployment_id: str, pods: bool, output: str) -> None:
    """Evaluate a deployment's health checks now."""
    params = {"detail": "pods"} if pods else None
    found = api_of(ctx).call("GET", f"{V1}/{deployment_id}/health_checks", params=params)
    emit(found, output, _health)


def _health(h: dict[str, Any]) -> list[Any]:
    rows = [
        (c.get("component") or "", c["name"], c["type"], c["status"], c.get("message", ""))
        for c in h["health_checks"]
    ]
    verdict = "[green]healthy[/]" if h["healthy"] else "[red]unhealthy[/]"
    return [verdict, table(None, ["component", "check", "type", "status", "message"], rows)]


def main() -> None:
    apm(prog_name="apm")


if __name__ == "__main__":
    main()
