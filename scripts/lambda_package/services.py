"""The AWS services whose models the package keeps; every other one is pruned.

botocore ships a model for each of ~440 services (15.6 MB of the zip), and a client only
ever loads its own. This is the one list of the clients the functions build, each with who
builds it; ``tests/test_package.py`` checks it covers every client ``chalicelib`` makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

BOTOCORE_SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "apigatewaymanagementapi": "posts to WebSocket connections (composition.build_live_ports)",
        "cloudwatch": "reads alarm tags for alarm rollbacks (composition.automation_ports)",
        "dynamodb": "the store, the automation store and live subscriptions (composition)",
        "ecs": "rolls task definitions out to ECS services (adapters/ecs/clients.py)",
        "eks": "describes clusters and lists their regions (adapters/clusters/eks.py)",
        "events": "publishes lifecycle events to EventBridge (composition.build)",
        "kms": "seals secret parameter values (composition.build)",
        "scheduler": "creates and deletes scaling schedules (composition.automation_ports)",
        "secretsmanager": "reads kubeconfigs kept as secrets (adapters/clusters/kubeconfig.py)",
        "ssm": "reads kubeconfigs kept as parameters (adapters/clusters/kubeconfig.py)",
        "stepfunctions": "starts and stops rollout executions (composition._driver)",
        "sts": "EKS tokens (adapters/clusters/eks.py); botocore's assume-role credentials",
        "xray": "aws_xray_sdk's sampling-rule poller, under Powertools' Tracer",
    }
)
