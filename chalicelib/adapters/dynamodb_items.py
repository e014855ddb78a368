"""Conversion between domain records and DynamoDB items (low-level attribute-value form).

Free-form JSON (parameters, values, schemas, conditions, extensions) is stored as a JSON
string: DynamoDB would turn floats into Decimals and reject empty keys, and nothing
queries inside those documents. Key layout: see ``infra/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import apps
from chalicelib.domain.audit import AuditRecord, Outcome
from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.domain.models import (
    AlarmBinding,
    AppRollout,
    ChartRef,
    ComponentStatus,
    Condition,
    Deployment,
    DeploymentManager,
    Descriptor,
    Firing,
    Lease,
    Operation,
    OperationError,
    Revision,
    ScalingSchedule,
    StageEntry,
)
from chalicelib.domain.states import (
    Adapter,
    ClusterKind,
    DeploymentStatus,
    FiringOutcome,
    OperationState,
    OperationType,
    RevisionStatus,
    Stage,
    Trigger,
)

Item = dict[str, Any]

DEPLOYMENT_SK = "REV~"
DESCRIPTOR_SK = "DESC"
DEPLOYMENTS_INDEX_PK = "DEPLOYMENTS"
DESCRIPTORS_INDEX_PK = "DESCRIPTORS"
MANAGERS_INDEX_PK = "MANAGERS"
MANAGER_SK = "DM"
SCHEDULE_SK_PREFIX = "SCHED#"
ALARM_BINDING_SK = "ALARMS"
ALARM_PK_PREFIX = "ALARM#"
DEPLOYMENT_PK_PREFIX = "DEP#"
DEFAULT_MANAGER_KEY = {"PK": {"S": "DM~DEFAULT"}, "SK": {"S": MANAGER_SK}}
# Audit records: one partition, sorted by time (``<UTC time>#<id>``), never rewritten.
AUDIT_PK = "AUDIT"
# Seed-002 deployments: every operation on index GSI1 by its UUID, and a lookup item each.
ROLLOUTS_INDEX_PK = "ROLLOUTS"
ROLLOUT_PK_PREFIX = "ROLLOUT#"
ROLLOUT_SK = "ROLLOUT"


def deployment_partition(deployment_id: str) -> str:
    """The partition holding a deployment with its revisions, operations and automation."""
    return f"{DEPLOYMENT_PK_PREFIX}{deployment_id}"


def deployment_key(deployment_id: str) -> Item:
    return {"PK": {"S": deployment_partition(deployment_id)}, "SK": {"S": DEPLOYMENT_SK}}


def revision_key(deployment_id: str, number: int) -> Item:
    return {"PK": {"S": deployment_partition(deployment_id)}, "SK": {"S": f"REV#{number:010d}"}}


def operation_key(deployment_id: str, operation_id: str) -> Item:
    return {"PK": {"S": deployment_partition(deployment_id)}, "SK": {"S": f"OP#{operation_id}"}}


def schedule_key(deployment_id: str, schedule_id: str) -> Item:
    return {
        "PK": {"S": deployment_partition(deployment_id)},
        "SK": {"S": f"{SCHEDULE_SK_PREFIX}{schedule_id}"},
    }


def alarm_binding_key(deployment_id: str) -> Item:
    return {"PK": {"S": deployment_partition(deployment_id)}, "SK": {"S": ALARM_BINDING_SK}}


def alarm_lookup_key(alarm_name: str, deployment_id: str) -> Item:
    return {
        "PK": {"S": f"{ALARM_PK_PREFIX}{alarm_name}"},
        "SK": {"S": deployment_partition(deployment_id)},
    }


def descriptor_key(descriptor_id: str) -> Item:
    return {"PK": {"S": f"DESC#{descriptor_id}"}, "SK": {"S": DESCRIPTOR_SK}}


def manager_key(manager_id: str) -> Item:
    return {"PK": {"S": f"DM#{manager_id}"}, "SK": {"S": MANAGER_SK}}


# ----------------------------------------------------------------- attribute values


def _s(value: str) -> Item:
    return {"S": value}


def _n(value: int) -> Item:
    return {"N": str(value)}


def _json(value: Any) -> Item:
    return {"S": json.dumps(value, separators=(",", ":"), sort_keys=True)}


def _time(value: datetime) -> Item:
    return {"S": value.isoformat()}


def _put_optional(item: Item, name: str, value: Item | None) -> None:
    if value is not None:
        item[name] = value


def _get_s(item: Item, name: str) -> str:
    return str(item[name]["S"])


def _get_opt_s(item: Item, name: str) -> str | None:
    return str(item[name]["S"]) if name in item else None


def _get_n(item: Item, name: str) -> int:
    return int(item[name]["N"])


def _get_opt_n(item: Item, name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def _get_json(item: Item, name: str) -> Any:
    return json.loads(item[name]["S"])


def _get_time(item: Item, name: str) -> datetime:
    return datetime.fromisoformat(item[name]["S"])


def _get_opt_time(item: Item, name: str) -> datetime | None:
    return datetime.fromisoformat(item[name]["S"]) if name in item else None


def _chart(chart: ChartRef) -> Item:
    return {
        "M": {"repoUrl": _s(chart.repo_url), "name": _s(chart.name), "version": _s(chart.version)}
    }


def _read_chart(item: Item, name: str) -> ChartRef:
    chart = item[name]["M"]
    return ChartRef(_get_s(chart, "repoUrl"), _get_s(chart, "name"), _get_s(chart, "version"))


# ---------------------------------------------------------------------- descriptors


def descriptor_item(descriptor: Descriptor) -> Item:
    item: Item = {
        **descriptor_key(descriptor.id),
        "GSI1PK": _s(DESCRIPTORS_INDEX_PK),
        "GSI1SK": _s(descriptor.id),
        "id": _s(descriptor.id),
        "name": _s(descriptor.name),
        "chart": _chart(descriptor.chart),
        "defaultParameters": _json(descriptor.default_parameters),
        "adapters": _json([a.value for a in descriptor.adapters]),
        "createdAt": _time(descriptor.created_at),
        "deploymentCount": _n(descriptor.deployment_count),
    }
    if descriptor.parameter_schema is not None:
        item["parameterSchema"] = _json(descriptor.parameter_schema)
    return item


def read_descriptor(item: Item) -> Descriptor:
    return Descriptor(
        id=_get_s(item, "id"),
        name=_get_s(item, "name"),
        chart=_read_chart(item, "chart"),
        default_parameters=_get_json(item, "defaultParameters"),
        parameter_schema=_get_json(item, "parameterSchema") if "parameterSchema" in item else None,
        adapters=tuple(Adapter(a) for a in _get_json(item, "adapters")),
        created_at=_get_time(item, "createdAt"),
        deployment_count=_get_opt_n(item, "deploymentCount") or 0,
    )


# ------------------------------------------------------------------------- managers

_MANAGER_OPTIONAL = (
    "cluster_name",
    "region",
    "role_arn",
    "kubeconfig_source",
    "context",
    "project",
    "location",
    "subscription",
    "resource_group",
    "credentials_secret",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def manager_item(manager: DeploymentManager) -> Item:
    item: Item = {
        **manager_key(manager.id),
        "GSI1PK": _s(MANAGERS_INDEX_PK),
        "GSI1SK": _s(manager.id),
        "id": _s(manager.id),
        "kind": _s(manager.kind.value),
        "name": _s(manager.name),
        "defaultNamespace": _s(manager.default_namespace),
        "createdAt": _time(manager.created_at),
        "deploymentCount": _n(manager.deployment_count),
    }
    for field_name in _MANAGER_OPTIONAL:
        value = getattr(manager, field_name)
        _put_optional(item, _camel(field_name), _s(value) if value else None)
    return item


def read_manager(item: Item, *, default_id: str | None = None) -> DeploymentManager:
    optional = {name: _get_opt_s(item, _camel(name)) for name in _MANAGER_OPTIONAL}
    manager_id = _get_s(item, "id")
    return DeploymentManager(
        id=manager_id,
        kind=ClusterKind(_get_s(item, "kind")),
        name=_get_s(item, "name"),
        default_namespace=_get_s(item, "defaultNamespace"),
        created_at=_get_time(item, "createdAt"),
        is_default=manager_id == default_id,
        deployment_count=_get_opt_n(item, "deploymentCount") or 0,
        **optional,
    )


# ---------------------------------------------------------------------- deployments


def deployment_item(deployment: Deployment) -> Item:
    d = deployment
    item: Item = {
        **deployment_key(d.id),
        "id": _s(d.id),
        "namespace": _s(d.namespace),
        "adapter": _s(d.adapter.value),
        "deploymentManagerId": _s(d.deployment_manager_id),
        "descriptorId": _s(d.descriptor_id),
        "chart": _chart(d.chart),
        "parameters": _json(d.parameters),
        "status": _s(d.status.value),
        "revision": _n(d.revision),
        "lastRevision": _n(d.last_revision),
        "deployedRevision": _n(d.deployed_revision),
        "createdAt": _time(d.created_at),
        "updatedAt": _time(d.updated_at),
        "message": _s(d.message),
        "progress": _n(d.progress),
        "conditions": _json([_condition(c) for c in d.conditions]),
        "extensions": _json(d.extensions),
        "recordVersion": _n(d.record_version),
    }
    item["GSI1PK"] = _s(DEPLOYMENTS_INDEX_PK)  # terminated ones too: NOT_INSTANTIATED
    item["GSI1SK"] = _s(d.id)
    _put_optional(item, "appVersion", _s(d.app_version) if d.app_version is not None else None)
    _put_optional(item, "replicas", _n(d.replicas) if d.replicas is not None else None)
    _put_optional(item, "etaSeconds", _n(d.eta_seconds) if d.eta_seconds is not None else None)
    _put_optional(item, "terminatedAt", _time(d.terminated_at) if d.terminated_at else None)
    _put_optional(item, "descriptorRef", _s(d.descriptor_ref) if d.descriptor_ref else None)
    _put_optional(item, "stage", _s(d.stage.value) if d.stage else None)
    _put_optional(item, "description", _s(d.description) if d.description else None)
    _put_optional(item, "secretPaths", _json(list(d.secret_paths)) if d.secret_paths else None)
    if d.health_checks:
        item["healthChecks"] = _json([health_json(c) for c in d.health_checks])
    if d.lease is not None:
        item["lease"] = {
            "M": {
                "operationId": _s(d.lease.operation_id),
                "operationType": _s(d.lease.operation_type.value),
                "expiresAt": _time(d.lease.expires_at),
            }
        }
        if d.lease.execution_id:
            item["lease"]["M"]["executionId"] = _s(d.lease.execution_id)
    return item


def _condition(condition: Condition) -> dict[str, str]:
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
    }


def read_deployment(item: Item) -> Deployment:
    lease = None
    if "lease" in item:
        m = item["lease"]["M"]
        lease = Lease(
            operation_id=_get_s(m, "operationId"),
            operation_type=OperationType(_get_s(m, "operationType")),
            expires_at=_get_time(m, "expiresAt"),
            execution_id=_get_opt_s(m, "executionId"),
        )
    return Deployment(
        id=_get_s(item, "id"),
        namespace=_get_s(item, "namespace"),
        adapter=Adapter(_get_s(item, "adapter")),
        deployment_manager_id=_get_s(item, "deploymentManagerId"),
        descriptor_id=_get_s(item, "descriptorId"),
        chart=_read_chart(item, "chart"),
        parameters=_get_json(item, "parameters"),
        status=DeploymentStatus(_get_s(item, "status")),
        revision=_get_n(item, "revision"),
        last_revision=_get_n(item, "lastRevision"),
        deployed_revision=_get_n(item, "deployedRevision"),
        created_at=_get_time(item, "createdAt"),
        updated_at=_get_time(item, "updatedAt"),
        app_version=_get_opt_s(item, "appVersion"),
        replicas=_get_opt_n(item, "replicas"),
        eta_seconds=_get_opt_n(item, "etaSeconds"),
        message=_get_s(item, "message"),
        progress=_get_n(item, "progress"),
        conditions=tuple(Condition(**c) for c in _get_json(item, "conditions")),
        extensions=_get_json(item, "extensions"),
        lease=lease,
        terminated_at=_get_opt_time(item, "terminatedAt"),
        descriptor_ref=_get_opt_s(item, "descriptorRef"),
        stage=Stage(stage) if (stage := _get_opt_s(item, "stage")) else None,
        description=_get_opt_s(item, "description"),
        secret_paths=_secret_paths(item),
        health_checks=_health_checks(item),
        record_version=_get_n(item, "recordVersion"),
    )


# ------------------------------------------------------------------------ revisions


def revision_item(revision: Revision) -> Item:
    r = revision
    item: Item = {
        **revision_key(r.deployment_id, r.number),
        "deploymentId": _s(r.deployment_id),
        "number": _n(r.number),
        "status": _s(r.status.value),
        "operationId": _s(r.operation_id),
        "operationType": _s(r.operation_type.value),
        "description": _s(r.description),
        "descriptorId": _s(r.descriptor_id),
        "chart": _chart(r.chart),
        "parameters": _json(r.parameters),
        "values": _json(r.values),
        "createdAt": _time(r.created_at),
        "updatedAt": _time(r.updated_at),
    }
    _put_optional(item, "appVersion", _s(r.app_version) if r.app_version is not None else None)
    _put_optional(item, "backendRef", _s(r.backend_ref) if r.backend_ref is not None else None)
    _put_optional(item, "rollbackFrom", _n(r.rollback_from) if r.rollback_from else None)
    _put_optional(item, "rollbackTo", _n(r.rollback_to) if r.rollback_to else None)
    _put_optional(item, "secretPaths", _json(list(r.secret_paths)) if r.secret_paths else None)
    return item


def read_revision(item: Item) -> Revision:
    return Revision(
        deployment_id=_get_s(item, "deploymentId"),
        number=_get_n(item, "number"),
        status=RevisionStatus(_get_s(item, "status")),
        operation_id=_get_s(item, "operationId"),
        operation_type=OperationType(_get_s(item, "operationType")),
        description=_get_s(item, "description"),
        descriptor_id=_get_s(item, "descriptorId"),
        chart=_read_chart(item, "chart"),
        parameters=_get_json(item, "parameters"),
        values=_get_json(item, "values"),
        created_at=_get_time(item, "createdAt"),
        updated_at=_get_time(item, "updatedAt"),
        app_version=_get_opt_s(item, "appVersion"),
        backend_ref=_get_opt_s(item, "backendRef"),
        rollback_from=_get_opt_n(item, "rollbackFrom"),
        rollback_to=_get_opt_n(item, "rollbackTo"),
        secret_paths=_secret_paths(item),
    )


def _secret_paths(item: Item) -> tuple[str, ...]:
    return tuple(_get_json(item, "secretPaths")) if "secretPaths" in item else ()


# ----------------------------------------------------------------------- operations


def operation_item(operation: Operation) -> Item:
    o = operation
    item: Item = {
        **operation_key(o.deployment_id, o.id),
        "id": _s(o.id),
        "deploymentId": _s(o.deployment_id),
        "type": _s(o.type.value),
        "state": _s(o.state.value),
        "stage": _s(o.stage.value),
        "stages": _json([{"stage": e.stage.value, "at": e.at.isoformat()} for e in o.stages]),
        "trigger": _s(o.trigger.value),
        "actor": _s(o.actor),
        "startedAt": _time(o.started_at),
        "updatedAt": _time(o.updated_at),
        "deadline": _time(o.deadline),
        "progress": _n(o.progress),
        "message": _s(o.message),
    }
    _put_optional(item, "revision", _n(o.revision) if o.revision is not None else None)
    _put_optional(item, "etaSeconds", _n(o.eta_seconds) if o.eta_seconds is not None else None)
    _put_optional(item, "fromRevision", _n(o.from_revision) if o.from_revision else None)
    _put_optional(item, "reason", _s(o.reason) if o.reason else None)
    _put_optional(item, "finishedAt", _time(o.finished_at) if o.finished_at else None)
    _put_optional(item, "executionId", _s(o.execution_id) if o.execution_id else None)
    _put_optional(item, "descriptorRef", _s(o.descriptor_ref) if o.descriptor_ref else None)
    _put_optional(
        item, "rollbackRevision", _n(o.rollback_revision) if o.rollback_revision else None
    )
    _put_optional(item, "failure", _s(o.failure) if o.failure else None)
    if o.error is not None:
        item["error"] = _json({"error": o.error.error, "message": o.error.message})
    if o.app is not None:
        item.update(_app_attributes(o, o.app))
    if o.components:
        item["components"] = _json([component_json(c) for c in o.components])
    if o.health_checks:
        item["healthChecks"] = _json([health_json(c) for c in o.health_checks])
    _put_optional(item, "healthySince", _time(o.healthy_since) if o.healthy_since else None)
    _put_optional(item, "checkFailures", _json(o.check_failures) if o.check_failures else None)
    _put_optional(item, "scaleDirection", _s(o.scale_direction) if o.scale_direction else None)
    return item


def health_json(c: HealthCheck) -> dict[str, Any]:
    found = {k: v for k, v in asdict(c).items() if v is not None}
    found["status"] = c.status.value
    if c.since is not None:
        found["since"] = c.since.isoformat()
    return found


def read_health(data: dict[str, Any]) -> HealthCheck:
    since = data.get("since")
    return HealthCheck(
        name=data["name"],
        type=data["type"],
        status=HealthStatus(data["status"]),
        message=data["message"],
        since=datetime.fromisoformat(since) if since else None,
        component=data.get("component"),
        pod=data.get("pod"),
        required=data.get("required", True),
        failure_threshold=data.get("failure_threshold"),
    )


def _health_checks(item: Item) -> tuple[HealthCheck, ...]:
    if "healthChecks" not in item:
        return ()
    return tuple(read_health(c) for c in _get_json(item, "healthChecks"))


def component_json(c: ComponentStatus) -> dict[str, Any]:
    found = asdict(c)
    found["depends_on"] = list(c.depends_on)
    for key in ("started_at", "finished_at"):
        at = getattr(c, key)
        found[key] = at.isoformat() if at else None
    return found


def read_component(data: dict[str, Any]) -> ComponentStatus:
    times = {
        key: datetime.fromisoformat(data[key]) if data.get(key) else None
        for key in ("started_at", "finished_at")
    }
    return ComponentStatus(
        name=data["name"],
        version=data.get("version"),
        desired=data["desired"],
        updated=data["updated"],
        ready=data["ready"],
        available=data["available"],
        status=data["status"],
        depends_on=tuple(data.get("depends_on") or ()),
        **times,
    )


def _app_attributes(operation: Operation, app: AppRollout) -> Item:
    """The seed-002 view of an operation: listed on index GSI1 by its UUID (version 7, so
    by time), with the attributes the list filters on."""
    attributes: Item = {
        "GSI1PK": _s(ROLLOUTS_INDEX_PK),
        "GSI1SK": _s(app.id),
        "app": _json({k: v for k, v in asdict(app).items() if v is not None}),
        "appName": _s(app.name),
        "appEnvironment": _s(app.environment),
        "appPlatform": _s(app.platform),
        "appStatus": _s(apps.status_of(operation).value),
        "appNamespace": _s(app.namespace),
    }
    return attributes


def rollout_lookup_key(rollout_id: str) -> Item:
    return {"PK": {"S": f"{ROLLOUT_PK_PREFIX}{rollout_id}"}, "SK": {"S": ROLLOUT_SK}}


def rollout_lookup_item(operation: Operation) -> Item | None:
    """Where a seed-002 id leads (the operation's key), written when the operation begins so
    that a read right after the create never depends on the index having caught up."""
    if operation.app is None or len(operation.stages) != 1:
        return None
    return {
        **rollout_lookup_key(operation.app.id),
        "deploymentId": _s(operation.deployment_id),
        "operationId": _s(operation.id),
    }


def read_rollout_lookup(item: Item) -> tuple[str, str]:
    return _get_s(item, "deploymentId"), _get_s(item, "operationId")


def read_operation(item: Item) -> Operation:
    error = _get_json(item, "error") if "error" in item else None
    return Operation(
        id=_get_s(item, "id"),
        deployment_id=_get_s(item, "deploymentId"),
        type=OperationType(_get_s(item, "type")),
        state=OperationState(_get_s(item, "state")),
        stage=Stage(_get_s(item, "stage")),
        stages=tuple(
            StageEntry(Stage(e["stage"]), datetime.fromisoformat(e["at"]))
            for e in _get_json(item, "stages")
        ),
        trigger=Trigger(_get_s(item, "trigger")),
        actor=_get_s(item, "actor"),
        started_at=_get_time(item, "startedAt"),
        updated_at=_get_time(item, "updatedAt"),
        deadline=_get_time(item, "deadline"),
        revision=_get_opt_n(item, "revision"),
        from_revision=_get_opt_n(item, "fromRevision"),
        reason=_get_opt_s(item, "reason"),
        progress=_get_n(item, "progress"),
        eta_seconds=_get_opt_n(item, "etaSeconds"),
        message=_get_s(item, "message"),
        finished_at=_get_opt_time(item, "finishedAt"),
        error=OperationError(error["error"], error["message"]) if error else None,
        execution_id=_get_opt_s(item, "executionId"),
        descriptor_ref=_get_opt_s(item, "descriptorRef"),
        rollback_revision=_get_opt_n(item, "rollbackRevision"),
        failure=_get_opt_s(item, "failure"),
        app=AppRollout(**_get_json(item, "app")) if "app" in item else None,
        components=tuple(read_component(c) for c in _get_json(item, "components"))
        if "components" in item
        else (),
        health_checks=_health_checks(item),
        healthy_since=_get_opt_time(item, "healthySince"),
        check_failures=_get_json(item, "checkFailures") if "checkFailures" in item else {},
        scale_direction=_get_opt_s(item, "scaleDirection"),
    )


# ------------------------------------------------------------------- audit trail

_AUDIT_OPTIONAL = (
    "deployment_id",
    "namespace",
    "reason",
    "request_id",
    "source_ip",
    "operation_id",
    "detail",
)


def audit_sort_key(at: datetime, record_id: str = "") -> str:
    return f"{utc_text(at)}#{record_id}"


def audit_item(record: AuditRecord) -> Item:
    r = record
    item: Item = {
        "PK": _s(AUDIT_PK),
        "SK": _s(audit_sort_key(r.at, r.id)),
        "id": _s(r.id),
        "at": _time(r.at),
        "actor": _s(r.actor),
        "action": _s(r.action),
        "target": _s(r.target),
        "outcome": _s(r.outcome.value),
        "trigger": _s(r.trigger),
    }
    for name in _AUDIT_OPTIONAL:
        value = getattr(r, name)
        _put_optional(item, _camel(name), _s(value) if value else None)
    return item


def read_audit(item: Item) -> AuditRecord:
    return AuditRecord(
        id=_get_s(item, "id"),
        at=_get_time(item, "at"),
        actor=_get_s(item, "actor"),
        action=_get_s(item, "action"),
        target=_get_s(item, "target"),
        outcome=Outcome(_get_s(item, "outcome")),
        trigger=_get_s(item, "trigger"),
        **{name: _get_opt_s(item, _camel(name)) for name in _AUDIT_OPTIONAL},
    )


# ------------------------------------------------------------- automation triggers


def utc_text(value: datetime) -> str:
    """A UTC time as text that sorts in time order (conditional writes compare it)."""
    return value.astimezone(UTC).isoformat(timespec="seconds")


def schedule_item(schedule: ScalingSchedule) -> Item:
    sc = schedule
    item: Item = {
        **schedule_key(sc.deployment_id, sc.id),
        "scheduleId": _s(sc.id),
        "deploymentId": _s(sc.deployment_id),
        "expression": _s(sc.expression),
        "timezone": _s(sc.timezone),
        "replicas": _n(sc.replicas),
        "createdAt": _time(sc.created_at),
        "createdBy": _s(sc.created_by),
    }
    _put_optional(item, "startDate", _time(sc.start_date) if sc.start_date else None)
    _put_optional(item, "endDate", _time(sc.end_date) if sc.end_date else None)
    _put_optional(item, "reason", _s(sc.reason) if sc.reason else None)
    if sc.last_firing is not None:
        item["lastFiring"] = firing_value(sc.last_firing)
    return item


def firing_value(firing: Firing) -> Item:
    return _json(
        {
            "scheduledTime": firing.scheduled_time.isoformat(),
            "firedAt": firing.fired_at.isoformat(),
            "outcome": firing.outcome.value,
            "message": firing.message,
            "operationId": firing.operation_id,
        }
    )


def read_schedule(item: Item) -> ScalingSchedule:
    last = _get_json(item, "lastFiring") if "lastFiring" in item else None
    return ScalingSchedule(
        id=_get_s(item, "scheduleId"),
        deployment_id=_get_s(item, "deploymentId"),
        expression=_get_s(item, "expression"),
        timezone=_get_s(item, "timezone"),
        replicas=_get_n(item, "replicas"),
        created_at=_get_time(item, "createdAt"),
        created_by=_get_s(item, "createdBy"),
        start_date=_get_opt_time(item, "startDate"),
        end_date=_get_opt_time(item, "endDate"),
        reason=_get_opt_s(item, "reason"),
        last_firing=Firing(
            scheduled_time=datetime.fromisoformat(last["scheduledTime"]),
            fired_at=datetime.fromisoformat(last["firedAt"]),
            outcome=FiringOutcome(last["outcome"]),
            message=last["message"],
            operation_id=last.get("operationId"),
        )
        if last
        else None,
    )


def alarm_binding_item(binding: AlarmBinding) -> Item:
    b = binding
    item: Item = {
        **alarm_binding_key(b.deployment_id),
        "deploymentId": _s(b.deployment_id),
        "alarmNames": _json(list(b.alarm_names)),
        "watchWindowSeconds": _n(b.watch_window_seconds),
        "cooldownSeconds": _n(b.cooldown_seconds),
    }
    _put_optional(item, "updatedAt", _time(b.updated_at) if b.updated_at else None)
    _put_optional(
        item, "lastRollbackAt", _s(utc_text(b.last_rollback_at)) if b.last_rollback_at else None
    )
    return item


def read_alarm_binding(item: Item, *, watch_window: int, cooldown: int) -> AlarmBinding:
    """The binding; an item holding only a cooldown mark (a tag-bound alarm's rollback)
    reads as no names with the given default windows."""
    return AlarmBinding(
        deployment_id=item["PK"]["S"].removeprefix(DEPLOYMENT_PK_PREFIX),
        alarm_names=tuple(_get_json(item, "alarmNames")) if "alarmNames" in item else (),
        watch_window_seconds=_get_opt_n(item, "watchWindowSeconds") or watch_window,
        cooldown_seconds=_n_or(item, "cooldownSeconds", cooldown),
        updated_at=_get_opt_time(item, "updatedAt"),
        last_rollback_at=_get_opt_time(item, "lastRollbackAt"),
    )


def _n_or(item: Item, name: str, default: int) -> int:
    value = _get_opt_n(item, name)
    return default if value is None else value
