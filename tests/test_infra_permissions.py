"""Statements built for one function, without synthesizing the whole stack: cluster access
exists only when clusters are configured; posting to connections needs the WebSocket API."""

from __future__ import annotations

import os
from typing import Any

import pytest

from infra import jsii_quiet
from tests.cdk_template import as_list


def _statements(
    function: str, context: dict[str, Any], *, connections_arn: str | None = None
) -> list[dict[str, Any]]:
    """``function``'s statements (a ``FunctionSpec`` name in ``infra.functions``), resolved."""
    jsii_quiet.silence(os.environ)
    import aws_cdk as cdk

    from infra import functions, permissions
    from infra.settings import from_context

    stack = cdk.Stack(cdk.App(), "dev")
    resources = permissions.ServiceResources(
        table_arn="table",
        table_name="o2dms-dev",
        key_arn="key",
        state_machine_arn="machine",
        schedules_arn="schedules",
        scheduler_role_arn="role",
        event_bus_arn="bus",
        stream_arn="stream",
        connections_arn=connections_arn,
    )
    found = permissions.statements(
        stack,
        getattr(functions, function),
        settings=from_context(context.get),
        resources=resources,
    )
    return [stack.resolve(s.to_statement_json()) for s in found]


def _allowed(found: list[dict[str, Any]]) -> dict[str, Any]:
    """Allowed action -> its statement's resource."""
    return {
        action: s["Resource"]
        for s in found
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
    }


def _api_actions(*, cluster_role_arns: list[str], cluster_arns: list[str]) -> set[str]:
    context = {"clusterRoleArns": cluster_role_arns, "clusterArns": cluster_arns}
    return {a for s in _statements("API_HANDLER", context) for a in as_list(s["Action"])}


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


def test_posting_to_connections_needs_the_websocket_api() -> None:
    with pytest.raises(ValueError, match="no WebSocket API"):
        _statements("LIVE_UPDATES", {})


def test_live_updates_reads_the_stream_and_posts_where_it_is_told() -> None:
    context = {"clusterRoleArns": ["arn:aws:iam::1:role/r"]}
    allowed = _allowed(_statements("LIVE_UPDATES", context, connections_arn="connections"))

    assert allowed["execute-api:ManageConnections"] == "connections"
    assert allowed["dynamodb:GetRecords"] == allowed["dynamodb:DescribeStream"] == "stream"
    assert allowed["dynamodb:ListStreams"] == "table/stream/*"
    found = _statements("LIVE_UPDATES", context, connections_arn="connections")
    allowing = [s for s in found if s["Effect"] == "Allow"]
    (updating,) = [s for s in allowing if "dynamodb:UpdateItem" in as_list(s["Action"])]
    # Only its followers' items (a snapshot sent is marked on its subscription).
    assert updating["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONN#*", "LIVE#*"]}
    }
    assert "sts:AssumeRole" not in allowed  # it never reaches a cluster


def test_only_the_stream_function_reads_the_stream() -> None:
    for function in ("API_HANDLER", "WEBSOCKET_CONNECT", "WEBSOCKET_MESSAGE"):
        allowed = _allowed(_statements(function, {}, connections_arn="connections"))
        assert not {"dynamodb:GetRecords", "dynamodb:ListStreams"} & allowed.keys(), function
