"""What a dry run shows for ECS: the ``aws ecs`` commands that make the same change by hand.

An upgrade is two commands: ``register-task-definition`` with the whole new revision as
``--cli-input-json`` (the request the backend would send), then ``update-service`` naming the
task definition family (ECS resolves a bare family to its newest ACTIVE revision, the one just
registered). A rollback, scale or termination is one ``update-service``.
"""

from __future__ import annotations

import json

from chalicelib.adapters.ecs.target import Where
from chalicelib.adapters.ecs.taskdefs import short
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import PlanStep


def _aws(region: str | None, *words: str) -> tuple[str, ...]:
    return ("aws", "ecs", *words, *(("--region", region) if region else ()))


def update_service(
    where: Where,
    region: str | None,
    *,
    task_definition: str | None = None,
    desired: int | None = None,
) -> tuple[str, ...]:
    words = ["update-service", "--cluster", where.cluster, "--service", where.service]
    if task_definition is not None:
        words += ["--task-definition", task_definition]
    if desired is not None:
        words += ["--desired-count", str(desired)]
    return _aws(region, *words)


def register_steps(
    where: Where,
    region: str | None,
    *,
    request: JsonObject,
    current: str,
    desired: int | None,
) -> list[PlanStep]:
    """Register ``request`` (copied from the service's ``current`` task definition), then
    point the service at it."""
    family = str(request["family"])
    document = json.dumps(request, sort_keys=True, separators=(",", ":"))
    images = ", ".join(
        f"{c.get('name')}={c.get('image')}" for c in request.get("containerDefinitions") or []
    )
    count = f" with {desired} task{'s' if desired != 1 else ''}" if desired is not None else ""
    return [
        PlanStep(
            f"Register a new revision of task definition {family}, copied from"
            f" {short(current)} ({images})",
            command=_aws(region, "register-task-definition", "--cli-input-json", document),
            body=request,
        ),
        PlanStep(
            f"Point ECS service {where.short} at that revision (the newest of {family}){count}",
            command=update_service(where, region, task_definition=family, desired=desired),
        ),
    ]


def rollback_steps(
    where: Where, region: str | None, *, to: str | None, desired: int | None
) -> list[PlanStep]:
    if to is None:
        return [
            PlanStep(
                f"Register this revision's snapshot as a new task definition revision and"
                f" point ECS service {where.short} at it (no task definition is recorded for it)"
            )
        ]
    return [
        PlanStep(
            f"Point ECS service {where.short} back at task definition {short(to)} (or, if it"
            " was deregistered, at a new revision registered from this revision's snapshot)",
            command=update_service(where, region, task_definition=to, desired=desired),
        )
    ]


def scale_steps(where: Where, region: str | None, desired: int) -> list[PlanStep]:
    return [
        PlanStep(
            f"Set ECS service {where.short} to {desired} task{'s' if desired != 1 else ''}",
            command=update_service(where, region, desired=desired),
        )
    ]


def terminate_steps(where: Where, region: str | None) -> list[PlanStep]:
    return [
        PlanStep(
            f"Scale ECS service {where.short} to 0 tasks (the service itself is kept: o2dms did"
            " not create it)",
            command=update_service(where, region, desired=0),
        )
    ]
