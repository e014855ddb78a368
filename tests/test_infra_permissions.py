"""Statements built for one function, without synthesizing the whole stack: cluster access
exists only when clusters are configured."""

from __future__ import annotations

import os

from infra import jsii_quiet
from tests.cdk_template import as_list


def _api_actions(*, cluster_role_arns: list[str], cluster_arns: list[str]) -> set[str]:
    jsii_quiet.silence(os.environ)
    import aws_cdk as cdk

    from infra import functions, permissions
    from infra.settings import from_context

    context = {"clusterRoleArns": cluster_role_arns, "clusterArns": cluster_arns}
    stack = cdk.Stack(cdk.App(), "dev")
    resources = permissions.ServiceResources(
        table_arn="table",
        table_name="o2dms-dev",
        key_arn="key",
        state_machine_arn="machine",
        schedules_arn="schedules",
        scheduler_role_arn="role",
        event_bus_arn="bus",
    )
    found = permissions.statements(
        stack, functions.API_HANDLER, settings=from_context(context.get), resources=resources
    )
    return {a for s in found for a in as_list(stack.resolve(s.to_statement_json())["Action"])}


def test_permissions_without_clusters_omit_cluster_statements() -> None:
    actions = _api_actions(cluster_role_arns=[], cluster_arns=[])

    assert "sts:AssumeRole" not in actions
    assert "eks:DescribeCluster" not in actions
    assert "dynamodb:Query" in actions


def test_permissions_with_clusters_allow_assume_and_describe() -> None:
    actions = _api_actions(
        cluster_role_arns=["arn:aws:iam::1:role/r"],
        cluster_arns=["arn:aws:eks:us-east-1:1:cluster/c"],
    )

    assert {"sts:AssumeRole", "eks:DescribeCluster"} <= actions
