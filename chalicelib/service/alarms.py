"""Alarm rollbacks: CloudWatch alarms that roll a deployment back after a bad rollout.

An alarm acts on a deployment when it is bound by name (``PUT .../rollbackAlarms``) or
tagged ``o2dms:deployment`` with the deployment's name, and it *entered* ``ALARM`` after
the current revision's rollout started and within the watch window. Then the deployment
goes back to its previous good revision (trigger ``alarm``), at most once per cooldown.
Everything else is ignored, with the reason logged and returned:

- an alarm already in ``ALARM`` before the rollout began did not see the new revision fail;
- a revision that is itself a rollback is not reversed by an alarm (that would restore the
  revision the rollback left);
- a second delivery of the same event finds the rollback already under way (the new
  revision started after the alarm went off), and the cooldown holds anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.access import Action as Permission
from chalicelib.domain.errors import (
    Conflict,
    NotFound,
    O2DmsError,
    StoreUnavailable,
)
from chalicelib.domain.models import AlarmBinding, Deployment
from chalicelib.domain.states import OperationType, Trigger
from chalicelib.service import lifecycle
from chalicelib.service.access import audit_record, require_then_read
from chalicelib.service.context import Caller, Deps, system_caller
from chalicelib.service.records import Started

logger = logging.getLogger(__name__)

ALARM = "ALARM"


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """One "CloudWatch Alarm State Change" event, as the handler receives it."""

    alarm_name: str
    alarm_arn: str | None
    state: str
    previous_state: str | None
    reason: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    deployment_id: str
    acted: bool
    message: str
    operation_id: str | None = None


# ---------------------------------------------------------------------- bindings


def _bound(
    deps: Deps, caller: Caller, deployment_id: str, what: str, action: Permission
) -> tuple[Deployment, AlarmBinding]:
    """The deployment and its binding, once the caller is known to be allowed ``what``."""
    return require_then_read(
        deps,
        caller,
        action,
        what=what,
        target=f"nfDeployments/{deployment_id}/rollbackAlarms",
        deployment_id=deployment_id,
        read=lambda: deps.automation.deployment_alarm_binding(deployment_id),
        namespace_of=lambda bound: bound[0].namespace,
    )


def binding(deps: Deps, deployment_id: str, caller: Caller) -> AlarmBinding:
    """The deployment's binding; defaults (no names) when none was ever set, or once it is
    terminated (terminating removes the binding)."""
    _, found = _bound(deps, caller, deployment_id, "read", Permission.READ)
    return found


def bind(
    deps: Deps,
    deployment_id: str,
    *,
    alarm_names: tuple[str, ...],
    watch_window_seconds: int | None,
    cooldown_seconds: int | None,
    caller: Caller,
) -> AlarmBinding:
    what = "bind-rollback-alarms"
    deployment, previous = _bound(deps, caller, deployment_id, what, Permission.MANAGE_ALARMS)
    lifecycle.ensure_live(deployment)
    updated = replace(
        previous,
        alarm_names=tuple(dict.fromkeys(alarm_names)),
        watch_window_seconds=watch_window_seconds or deps.settings.alarm_watch_window_seconds,
        cooldown_seconds=deps.settings.alarm_cooldown_seconds
        if cooldown_seconds is None
        else cooldown_seconds,
        updated_at=deps.clock(),
    )
    audit = audit_record(
        deps,
        caller,
        what=what,
        target=f"nfDeployments/{deployment_id}/rollbackAlarms",
        namespace=deployment.namespace,
        deployment_id=deployment_id,
    )
    deps.automation.put_alarm_binding(updated, previous.alarm_names, audit=audit)
    return updated


# ------------------------------------------------------------------------ events


def on_state_change(deps: Deps, change: AlarmChange) -> list[Verdict]:
    """Roll back every deployment the alarm watches, where the rules above allow it."""
    if change.state != ALARM or change.previous_state == ALARM:
        logger.info(
            "alarm change ignored",
            extra={"alarm": change.alarm_name, "state": change.state},
        )
        return []
    targets = list(deps.automation.deployments_for_alarm(change.alarm_name))
    if change.alarm_arn:
        tagged = deps.alarms.tagged_deployment(change.alarm_arn)
        if tagged and tagged not in targets:
            targets.append(tagged)
    verdicts = [_judge(deps, change, deployment_id) for deployment_id in targets]
    for verdict in verdicts:
        logger.info(
            "alarm judged",
            extra={
                "alarm": change.alarm_name,
                "deployment": verdict.deployment_id,
                "acted": verdict.acted,
                "why": verdict.message,
                "operation": verdict.operation_id,
            },
        )
    return verdicts


def _judge(deps: Deps, change: AlarmChange, deployment_id: str) -> Verdict:
    try:
        deployment, rules = deps.automation.deployment_alarm_binding(deployment_id)
        lifecycle.ensure_live(deployment)
        refusal = _refusal(deps, deployment, rules, change)
        if refusal:
            return Verdict(deployment_id, False, refusal)
        now, event = deps.clock(), _event_key(change)
        if not deps.automation.claim_alarm_rollback(
            deployment_id, now=now, cooldown_seconds=rules.cooldown_seconds, event=event
        ):
            return Verdict(
                deployment_id,
                False,
                f"an alarm rolled {deployment_id} back less than "
                f"{rules.cooldown_seconds} s ago (cooldown)",
            )
        started = _roll_back(deps, change, deployment_id, event)
    except (NotFound, Conflict) as exc:
        return Verdict(deployment_id, False, exc.message)
    except StoreUnavailable:
        raise  # the handler fails and EventBridge delivers the event again
    except O2DmsError as exc:
        logger.warning(
            "alarm rollback failed to start",
            extra={"deployment": deployment_id, "error": exc.message},
        )
        return Verdict(deployment_id, False, exc.message)
    return Verdict(deployment_id, True, started.operation.message, started.operation.id)


def _event_key(change: AlarmChange) -> str:
    """The same for every delivery of one state change, and only for it."""
    return f"{change.alarm_name}@{change.changed_at.isoformat()}"


def _roll_back(deps: Deps, change: AlarmChange, deployment_id: str, event: str) -> Started:
    """The rollback the claim was made for; if it does not start, the claim is withdrawn
    (and should that fail too, a redelivery of the event is still granted the claim)."""
    try:
        return lifecycle.rollback(
            deps,
            deployment_id,
            revision=0,
            caller=system_caller(
                f"alarm/{change.alarm_name}",
                Trigger.ALARM,
                f"CloudWatch alarm {change.alarm_name} is in ALARM: {change.reason}"[:1024],
            ),
            note=f"alarm {change.alarm_name} in ALARM: {change.reason}"[:300],
            discredit=True,
        )
    except Exception:
        try:
            deps.automation.release_alarm_rollback(deployment_id, event=event)
        except Exception:  # the store is still out: the redelivery is granted anyway
            logger.warning("could not withdraw the cooldown claim", extra={"event": event})
        raise


def _refusal(
    deps: Deps, deployment: Deployment, rules: AlarmBinding, change: AlarmChange
) -> str | None:
    """Why this alarm may not roll this deployment back, or None if it may."""
    revision = deps.store.get_revision(deployment.id, deployment.revision)
    started = revision.created_at
    if change.changed_at < started:
        return (
            f"{change.alarm_name} entered ALARM at {change.changed_at.isoformat()}, before "
            f"revision {revision.number} started rolling out ({started.isoformat()})"
        )
    if change.changed_at > started + timedelta(seconds=rules.watch_window_seconds):
        return (
            f"{change.alarm_name} entered ALARM more than {rules.watch_window_seconds} s "
            f"after revision {revision.number} started rolling out"
        )
    if revision.operation_type is OperationType.ROLLBACK:
        return f"revision {revision.number} is itself a rollback; an alarm does not reverse it"
    return None
