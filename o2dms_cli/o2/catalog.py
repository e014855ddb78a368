"""``o2dms descriptors`` and ``o2dms managers``: what can be deployed, and where."""

from __future__ import annotations

from typing import Any

import click

from o2dms_cli.common import api_of, assignments, merged
from o2dms_cli.errors import (
    EXIT_CODES_HELP,
    USAGE,
    CliError,
)
from o2dms_cli.o2.shared import (
    ADAPTERS,
    DESCRIPTORS,
    MANAGERS,
    as_text,
    as_yaml,
    document,
    fields_table,
    given,
    gone,
    page_options,
    paged,
    param_option,
)
from o2dms_cli.output import emit, output_option, table, when

# ------------------------------------------------------------------------- descriptors


@click.group(epilog=EXIT_CODES_HELP)
def descriptors() -> None:
    """What can be deployed: a chart and its default parameters."""


@descriptors.command("create", epilog=EXIT_CODES_HELP)
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="the descriptor as JSON or YAML, as the API takes it ('-' reads stdin); "
    "the options below override its fields",
)
@click.option("--id", "descriptor_id", help="the descriptor's id, e.g. nginx-chart-1.2.0")
@click.option("--name", help="a name for people")
@click.option("--repo", help="the chart repository (https://, oci://)")
@click.option("--chart", help="the chart's name in that repository")
@click.option("--version", "chart_version", help="the chart's version")
@click.option(
    "--adapter",
    "adapters",
    multiple=True,
    type=click.Choice(ADAPTERS),
    help="an adapter that may deploy it; repeat it (default: all)",
)
@param_option
@output_option
@click.pass_context
def descriptor_create(
    ctx: click.Context,
    *,
    path: str | None,
    descriptor_id: str | None,
    name: str | None,
    repo: str | None,
    chart: str | None,
    chart_version: str | None,
    adapters: tuple[str, ...],
    params: tuple[str, ...],
    output: str,
) -> None:
    """Create a descriptor, from a file (-f) or from options.

    --param sets default parameters, which a deployment's own parameters override."""
    body = document(path, "descriptor file") if path else {}
    flags = given(
        descriptorId=descriptor_id,
        name=name,
        artifactRepoUrl=repo,
        artifactName=chart,
        artifactVersion=chart_version,
        supportedAdapters=list(adapters) or None,
    )
    if not path:
        wanted = {"--id": descriptor_id, "--name": name, "--repo": repo, "--chart": chart}
        missing = [
            flag for flag, value in {**wanted, "--version": chart_version}.items() if not value
        ]
        if missing:
            raise CliError(f"without -f, say {', '.join(missing)}", USAGE)
    body = {**body, **flags}
    if params:
        defaults = body.get("defaultParameters") or {}
        body["defaultParameters"] = merged(defaults, assignments(params, option="--param"))
    emit(api_of(ctx).call("POST", DESCRIPTORS, body=body), output, _descriptor)


@descriptors.command("list", epilog=EXIT_CODES_HELP)
@page_options
@output_option
@click.pass_context
def descriptor_list(ctx: click.Context, *, limit: int, next_token: str | None, output: str) -> None:
    """List descriptors."""
    page = api_of(ctx).call("GET", DESCRIPTORS, params={"limit": limit, "nextToken": next_token})
    paged(page, output, _descriptors)


def _descriptors(page: dict[str, Any]) -> list[Any]:
    rows = [
        (
            as_text(d["descriptorId"]),
            as_text(f"{d['artifactName']} {d['artifactVersion']}"),
            as_text(d["artifactRepoUrl"]),
            str(d["deploymentCount"]),
        )
        for d in page["nfDeploymentDescriptors"]
    ]
    if not rows:
        return ["No descriptors."]
    columns = ["descriptor", "chart", "repository", "used"]
    return [table(None, columns, rows, whole=("descriptor",))]


@descriptors.command("get", epilog=EXIT_CODES_HELP)
@click.argument("descriptor_id")
@output_option
@click.pass_context
def descriptor_get(ctx: click.Context, descriptor_id: str, output: str) -> None:
    """Show one descriptor, with its default parameters."""
    emit(api_of(ctx).call("GET", f"{DESCRIPTORS}/{descriptor_id}"), output, _descriptor)


def _descriptor(d: dict[str, Any]) -> list[Any]:
    schema = d.get("parameterSchema")
    return [
        fields_table(
            [
                ("descriptor", f"[bold]{as_text(d['descriptorId'])}[/]"),
                ("name", as_text(d["name"])),
                ("chart", as_text(f"{d['artifactName']} {d['artifactVersion']}")),
                ("repository", as_text(d["artifactRepoUrl"])),
                ("adapters", as_text(", ".join(d.get("supportedAdapters") or []))),
                ("used by", f"{d['deploymentCount']} deployment(s)"),
                ("created", when(d.get("createdAt"))),
                ("schema", "yes" if schema else "none"),
                ("defaults", as_text(as_yaml(d.get("defaultParameters")))),
            ]
        )
    ]


@descriptors.command("delete", epilog=EXIT_CODES_HELP)
@click.argument("descriptor_id")
@output_option
@click.pass_context
def descriptor_delete(ctx: click.Context, descriptor_id: str, output: str) -> None:
    """Delete a descriptor that no deployment uses."""
    api_of(ctx).call("DELETE", f"{DESCRIPTORS}/{descriptor_id}")
    gone(output, "descriptorId", descriptor_id, f"Deleted descriptor {as_text(descriptor_id)}.")


# ---------------------------------------------------------------------------- managers


@click.group(epilog=EXIT_CODES_HELP)
def managers() -> None:
    """The clusters deployments go to (deployment managers)."""


@managers.command("register", epilog=EXIT_CODES_HELP)
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="the manager as JSON or YAML, as the API takes it ('-' reads stdin); "
    "the options below override its fields",
)
@click.option("--id", "manager_id", help="the manager's id, a DNS label such as edge-1")
@click.option(
    "--kind",
    type=click.Choice(("eks", "gke", "aks", "kubeconfig")),
    help="how to reach the cluster",
)
@click.option("--name", help="a name for people (default: the id)")
@click.option("--namespace", help="where deployments go when they name no namespace")
@click.option("--cluster-name", help="eks, gke, aks: the cluster's name")
@click.option("--region", help="eks: the cluster's AWS region")
@click.option("--role-arn", help="eks: a role to assume to reach it")
@click.option("--project", help="gke: the Google Cloud project")
@click.option("--location", help="gke: the cluster's region or zone")
@click.option("--subscription", help="aks: the Azure subscription id")
@click.option("--resource-group", help="aks: the cluster's resource group")
@click.option("--credentials-secret", help="gke, aks: the secret holding the credentials")
@click.option(
    "--kubeconfig-source",
    help="kubeconfig: ssm:<parameter>, secretsmanager:<secret> or file:<path>",
)
@click.option("--context", "kube_context", help="kubeconfig: the context to use")
@click.option("--default", "is_default", is_flag=True, default=None, help="make it the default")
@output_option
@click.pass_context
def manager_register(
    ctx: click.Context,
    *,
    path: str | None,
    manager_id: str | None,
    kind: str | None,
    name: str | None,
    namespace: str | None,
    cluster_name: str | None,
    region: str | None,
    role_arn: str | None,
    project: str | None,
    location: str | None,
    subscription: str | None,
    resource_group: str | None,
    credentials_secret: str | None,
    kubeconfig_source: str | None,
    kube_context: str | None,
    is_default: bool | None,
    output: str,
) -> None:
    """Register a cluster: EKS, GKE, AKS, or any by kubeconfig.

    From a file (-f) or from options; the service says which fields each kind needs."""
    body = document(path, "manager file") if path else {}
    body |= given(
        deploymentManagerId=manager_id,
        kind=kind,
        name=name,
        defaultNamespace=namespace,
        clusterName=cluster_name,
        region=region,
        roleArn=role_arn,
        project=project,
        location=location,
        subscription=subscription,
        resourceGroup=resource_group,
        credentialsSecret=credentials_secret,
        kubeconfigSource=kubeconfig_source,
        context=kube_context,
        default=is_default,
    )
    if not path and not (manager_id and kind):
        raise CliError("without -f, say --id and --kind", USAGE)
    emit(api_of(ctx).call("POST", MANAGERS, body=body), output, _manager)


@managers.command("list", epilog=EXIT_CODES_HELP)
@page_options
@output_option
@click.pass_context
def manager_list(ctx: click.Context, *, limit: int, next_token: str | None, output: str) -> None:
    """List the registered clusters (* marks the default)."""
    page = api_of(ctx).call("GET", MANAGERS, params={"limit": limit, "nextToken": next_token})
    paged(page, output, _managers)


def _where(m: dict[str, Any]) -> str:
    """How a cluster is reached, in a few words."""
    if m["kind"] == "eks":
        return f"{m.get('clusterName')} ({m.get('region')})"
    if m["kind"] == "gke":
        return f"{m.get('project')}/{m.get('location')}/{m.get('clusterName')}"
    if m["kind"] == "aks":
        return f"{m.get('resourceGroup')}/{m.get('clusterName')}"
    if m["kind"] == "kubeconfig":
        context = f" ({m['context']})" if m.get("context") else ""
        return f"{m.get('kubeconfigSource')}{context}"
    return str(m["name"])


def _managers(page: dict[str, Any]) -> list[Any]:
    rows = [
        (
            as_text(m["deploymentManagerId"]) + (" *" if m["default"] else ""),
            as_text(m["kind"]),
            as_text(_where(m)),
            as_text(m["defaultNamespace"]),
            str(m["deploymentCount"]),
        )
        for m in page["deploymentManagers"]
    ]
    if not rows:
        return ["No deployment managers."]
    columns = ["manager", "kind", "cluster", "namespace", "used"]
    return [table(None, columns, rows, whole=("manager",))]


@managers.command("get", epilog=EXIT_CODES_HELP)
@click.argument("manager_id")
@output_option
@click.pass_context
def manager_get(ctx: click.Context, manager_id: str, output: str) -> None:
    """Show one cluster."""
    emit(api_of(ctx).call("GET", f"{MANAGERS}/{manager_id}"), output, _manager)


def _manager(m: dict[str, Any]) -> list[Any]:
    return [
        fields_table(
            [
                ("manager", f"[bold]{as_text(m['deploymentManagerId'])}[/]"),
                ("name", as_text(m["name"])),
                ("kind", as_text(m["kind"])),
                ("cluster", as_text(_where(m))),
                ("role", as_text(m.get("roleArn"))),
                ("namespace", as_text(m["defaultNamespace"])),
                ("default", "yes" if m["default"] else "no"),
                ("used by", f"{m['deploymentCount']} deployment(s)"),
                ("created", when(m.get("createdAt"))),
            ]
        )
    ]


@managers.command("delete", epilog=EXIT_CODES_HELP)
@click.argument("manager_id")
@output_option
@click.pass_context
def manager_delete(ctx: click.Context, manager_id: str, output: str) -> None:
    """Unregister a cluster that no deployment uses."""
    api_of(ctx).call("DELETE", f"{MANAGERS}/{manager_id}")
    gone(output, "deploymentManagerId", manager_id, f"Unregistered {as_text(manager_id)}.")


# ------------------------------------------------------------------------- deployments
