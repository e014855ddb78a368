"""The same measures as ``/metrics``, for CloudWatch: Embedded Metric Format lines written
to the function's log when an operation ends (Powertools Metrics), which CloudWatch turns
into metrics of namespace ``O2DMS`` without a call. Each is written once with its
dimensions and once with only the ``service`` one Powertools adds, so that alarms and
totals need no dimension value.

It is an ``EventPublisher``: told of every ended operation, as EventBridge is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from chalicelib.domain.apps import status_of
from chalicelib.domain.metrics import rollback_cause
from chalicelib.domain.models import Deployment, Operation
from chalicelib.domain.ports import EventPublisher

logger = logging.getLogger(__name__)
NAMESPACE = "O2DMS"


def _emit(name: str, unit: str, value: float, dimensions: Sequence[tuple[str, str]]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    for chosen in (dimensions, ()):
        with single_metric(
            name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE
        ) as metric:
            for key, value_ in chosen:
                metric.add_dimension(name=key, value=value_)
        if not dimensions:
            return


class EmfMetrics:
    def operation_ended(self, operation: Operation, deployment: Deployment) -> None:
        try:
            self._emit_all(operation, deployment)
        except Exception:  # measures are best effort; the outcome is stored already
            logger.exception("could not write the operation's metrics")

    def _emit_all(self, op: Operation, deployment: Deployment) -> None:
        adapter = deployment.adapter.value
        took = ((op.finished_at or op.updated_at) - op.started_at).total_seconds()
        kind = [("Operation", op.type.value), ("Adapter", adapter)]
        _emit("OperationsEnded", "Count", 1, [*kind, ("Outcome", op.state.value)])
        _emit("OperationDuration", "Seconds", took, kind)
        app = op.app
        if app is None:
            return
        where = [("Platform", app.platform), ("Environment", app.environment)]
        status = status_of(op).value
        _emit("DeploymentsEnded", "Count", 1, [*where, ("Status", status)])
        if status in {"failed", "rolled_back"} and op.type.value != "rollback":
            _emit("DeploymentsFailed", "Count", 1, where)
        _emit("DeploymentDuration", "Seconds", took, [("Platform", app.platform)])
        cause = rollback_cause(op)
        if cause is not None:
            _emit("Rollbacks", "Count", 1, [*where, ("Cause", cause)])
        for check in op.health_checks:
            _emit(
                "HealthChecks",
                "Count",
                1,
                [
                    ("Platform", app.platform),
                    ("CheckType", check.type),
                    ("Status", check.status.value),
                ],
            )


class Publishers:
    """Several ``EventPublisher``s told in turn."""

    def __init__(self, *publishers: EventPublisher) -> None:
        self._publishers = publishers

    def operation_ended(self, operation: Operation, deployment: Deployment) -> None:
        for publisher in self._publishers:
            publisher.operation_ended(operation, deployment)
