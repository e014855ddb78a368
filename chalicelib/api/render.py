"""Domain records to response bodies (the wire models in ``schemas``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.api import schemas as s
from chalicelib.domain.audit import AuditRecord
from chalicelib.domain.health import HealthCheck
from chalicelib.domain.models import (
    DEPLOYMENT_TAG,
    AlarmBinding,
    Deployment,
    DeploymentManager,
    Descriptor,
    Operation,
    Revision,
    ScalingSchedule,
)
from chalicelib.domain.secrets import hide, mask, schema_secret_paths
from chalicelib.domain.states import OperationType
from chalicelib.service.lifecycle import Planned, Unchanged
from chalicelib.service.records import Started
from chalicelib.service.schedules import next_firing


def dump(model: s._Wire) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


def descriptor(d: Descriptor) -> s.DescriptorOut:
    return s.DescriptorOut(
        descriptor_id=d.id,
        name=d.name,
        artifact_repo_url=d.chart.repo_url,
        artifact_name=d.chart.name,
        artifact_version=d.chart.version,
        default_parameters=mask(d.default_parameters, schema_secret_paths(d.parameter_schema)),
        parameter_schema=d.parameter_schema,
        supported_adapters=list(d.adapters),
        deployment_count=d.deployment_count,
        created_at=d.created_at,
    )


def manager(m: DeploymentManager) -> s.ManagerOut:
    return s.ManagerOut(
        deployment_manager_id=m.id,
        name=m.name,
        kind=m.kind,
        default_namespace=m.default_namespace,
        cluster_name=m.cluster_name,
        region=m.region,
        role_arn=m.role_arn,
        kubeconfig_source=m.kubeconfig_source,
        context=m.context,
        project=m.project,
        location=m.location,
        subscription=m.subscription,
        resource_group=m.resource_group,
        credentials_secret=m.credentials_secret,
        default=m.is_default,
        deployment_count=m.deployment_count,
        created_at=m.created_at,
    )


def unchanged(result: Unchanged) -> s.DeploymentOut:
    """The answer to a change that changed nothing: the deployment, saying so."""
    body = deployment(result.deployment, description=result.message)
    return body.model_copy(update={"message": result.message})


def deployment(d: Deployment, *, description: str | None = None) -> s.DeploymentOut:
    return s.DeploymentOut(
        deployment_id=d.id,
        name=d.name,
        namespace=d.namespace,
        descriptor_id=d.descriptor_id,
        adapter=d.adapter,
        deployment_manager_id=d.deployment_manager_id,
        status=d.status,
        version=d.revision,
        description=description if description is not None else d.description,
        message=d.message,
        progress=d.progress,
        parameters=mask(d.parameters, d.secret_paths),
        chart_name=d.chart.name,
        chart_version=d.chart.version,
        app_version=d.app_version,
        replicas=d.replicas,
        operation_id=d.lease.operation_id if d.lease else None,
        created_at=d.created_at,
        updated_at=d.updated_at,
        extensions=d.extensions,
    )


def started(result: Started) -> s.DeploymentOut:
    """A mutation's answer: the deployment, the new revision's description, its operation."""
    revision = result.revision
    body = deployment(result.deployment, description=revision.description if revision else None)
    extensions = dict(body.extensions)
    if revision is not None and revision.operation_type is OperationType.ROLLBACK:
        prefix = result.deployment.adapter.value
        extensions[f"{prefix}.previousRevision"] = revision.rollback_from
        extensions[f"{prefix}.targetRevision"] = revision.rollback_to
        extensions[f"{prefix}.rollbackTime"] = revision.created_at.isoformat().replace(
            "+00:00", "Z"
        )
    return body.model_copy(update={"operation_id": result.operation.id, "extensions": extensions})


def status(d: Deployment) -> s.StatusOut:
    extensions = {f"{d.adapter.value}.revision": d.revision, **d.extensions}
    return s.StatusOut(
        deployment_id=d.id,
        status=d.status,
        message=d.message,
        progress=d.progress,
        estimated_seconds_remaining=d.eta_seconds if d.lease else None,
        execution_id=d.lease.execution_id if d.lease else None,
        conditions=[
            s.ConditionOut(type=c.type, status=c.status, reason=c.reason, message=c.message)
            for c in d.conditions
        ],
        revision=d.revision,
        operation_id=d.lease.operation_id if d.lease else None,
        stage=d.stage,
        updated_at=d.updated_at,
        extensions=extensions,
        health_checks=[health_check(c) for c in d.health_checks],
    )


def health_check(c: HealthCheck) -> s.HealthCheckOut:
    return s.HealthCheckOut.model_validate(c, from_attributes=True)


def revision(r: Revision) -> s.RevisionOut:
    return s.RevisionOut(
        revision=r.number,
        status=r.status,
        chart_name=r.chart.name,
        chart_version=r.chart.version,
        app_version=r.app_version,
        description=r.description,
        descriptor_id=r.descriptor_id,
        operation_id=r.operation_id,
        operation_type=r.operation_type,
        deployed_at=r.created_at,
        updated_at=r.updated_at,
        rollback_from=r.rollback_from,
        rollback_to=r.rollback_to,
        backend_ref=r.backend_ref,
    )


def revision_detail(r: Revision) -> s.RevisionDetail:
    return s.RevisionDetail(
        **revision(r).model_dump(),
        deployment_id=r.deployment_id,
        artifact_repo_url=r.chart.repo_url,
        parameters=mask(r.parameters, r.secret_paths),
        values=mask(r.values, r.secret_paths),
    )


def operation(o: Operation) -> s.OperationOut:
    return s.OperationOut(
        operation_id=o.id,
        deployment_id=o.deployment_id,
        type=o.type,
        state=o.state,
        stage=o.stage,
        stages=[s.StageOut(stage=e.stage, at=e.at) for e in o.stages],
        progress=o.progress,
        estimated_seconds_remaining=o.eta_seconds,
        message=o.message,
        actor=o.actor,
        reason=o.reason,
        trigger=o.trigger,
        revision=o.revision,
        from_revision=o.from_revision,
        rollback_revision=o.rollback_revision,
        failure=o.failure,
        started_at=o.started_at,
        updated_at=o.updated_at,
        deadline=o.deadline,
        finished_at=o.finished_at,
        error=s.OperationErrorOut(error=o.error.error, message=o.error.message)
        if o.error
        else None,
        execution_id=o.execution_id,
    )


def plan(deployment_id: str, planned: Planned) -> s.PlanOut:
    return s.PlanOut(
        dry_run=True,
        deployment_id=deployment_id,
        type=planned.type,
        revision=planned.revision,
        description=planned.description,
        plan=[
            s.PlanStepOut(
                description=p.description,
                command=list(p.command),
                body=hide(p.body, planned.secrets) if p.body is not None else None,
            )
            for p in planned.steps
        ],
    )


def schedule(sc: ScalingSchedule, *, now: datetime) -> s.ScheduleOut:
    last = sc.last_firing
    return s.ScheduleOut(
        schedule_id=sc.id,
        deployment_id=sc.deployment_id,
        expression=sc.expression,
        timezone=sc.timezone,
        replicas=sc.replicas,
        start_date=sc.start_date,
        end_date=sc.end_date,
        next_firing=next_firing(sc, now),
        reason=sc.reason,
        created_at=sc.created_at,
        created_by=sc.created_by,
        last_firing=s.FiringOut(
            scheduled_time=last.scheduled_time,
            fired_at=last.fired_at,
            outcome=last.outcome,
            message=last.message,
            operation_id=last.operation_id,
        )
        if last
        else None,
    )


def alarm_binding(b: AlarmBinding) -> s.AlarmBindingOut:
    return s.AlarmBindingOut(
        deployment_id=b.deployment_id,
        alarm_names=list(b.alarm_names),
        watch_window_seconds=b.watch_window_seconds,
        cooldown_seconds=b.cooldown_seconds,
        tag_key=DEPLOYMENT_TAG,
        updated_at=b.updated_at,
        last_rollback_at=b.last_rollback_at,
    )


def audit_record(r: AuditRecord) -> s.AuditRecordOut:
    return s.AuditRecordOut(
        audit_id=r.id,
        at=r.at,
        actor=r.actor,
        action=r.action,
        target=r.target,
        outcome=r.outcome.value,
        trigger=r.trigger,
        deployment_id=r.deployment_id,
        namespace=r.namespace,
        reason=r.reason,
        request_id=r.request_id,
        source_ip=r.source_ip,
        operation_id=r.operation_id,
        detail=r.detail,
    )
