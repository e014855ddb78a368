"""A seed-002 dry-run rollback: the commands for manual intervention, what would change,
and what could go wrong. Nothing is written and nothing reaches the cluster."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain.models import JsonObject, Revision
from chalicelib.domain.secrets import SEALED_MARK
from chalicelib.domain.states import Adapter
from chalicelib.service import lifecycle
from chalicelib.service.apps import Chosen, RollbackApp, choose, newest_first, version_of
from chalicelib.service.context import Caller, Deps

OLD_TARGET = timedelta(days=30)
# Values of the kubernetes platform that live in the pod template; others change the
# Deployment or its Service around it.
POD_TEMPLATE_VALUES = ("image.", "labels.", "container")
# Values of the ecs platform that a task definition holds (replicaCount is the service's).
TASK_DEFINITION_VALUES = ("image.", "environment.", "cpu", "memory", "container")
REFERENCE_WORDS = ("configmap", "secret", "persistentvolumeclaim", "pvc", "volume", "envfrom")


@dataclass(frozen=True, slots=True)
class Command:
    component: str
    description: str
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    current: Any
    target: Any


@dataclass(frozen=True, slots=True)
class Risk:
    flag: str
    message: str


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    chosen: Chosen
    current_version: str | None
    target_version: str | None
    commands: tuple[Command, ...]
    diff: tuple[Difference, ...]
    risks: tuple[Risk, ...]


def plan(deps: Deps, request: RollbackApp, caller: Caller) -> RollbackPlan:
    chosen = choose(deps, request, caller, what="plan-rollback")
    deployment, target = chosen.deployment, chosen.target
    planned = lifecycle.plan_rollback(deps, deployment.id, revision=target.number, caller=caller)
    component = str(deployment.parameters.get("deploymentName") or deployment.id)
    commands = tuple(
        Command(s.component or component, s.description, s.command) for s in planned.steps
    )
    before = chosen.current.values if chosen.current else {}
    diff = differences(before, target.values)
    if chosen.current is not None and chosen.current.chart != target.chart:
        diff = (Difference("chart", _chart(chosen.current), _chart(target)), *diff)
    return RollbackPlan(
        chosen=chosen,
        current_version=version_of(deployment, chosen.current) if chosen.current else None,
        target_version=version_of(deployment, target),
        commands=commands,
        diff=diff,
        risks=risks(deps, chosen, diff),
    )


def _chart(revision: Revision) -> str:
    return f"{revision.chart.name} {revision.chart.version}"


def _leaves(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths and values; a list of named objects (components) by their names."""
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        elif _named(value):
            for item in value:
                yield from _leaves(item, f"{prefix}{key}.{item['name']}.")
        else:
            yield f"{prefix}{key}", value


def _named(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value)
    )


def _shown(value: Any) -> Any:
    """A value as the plan may show it: never a secret's."""
    if isinstance(value, str) and value.startswith(SEALED_MARK):
        return "(secret)"
    return value


def differences(current: JsonObject, target: JsonObject) -> tuple[Difference, ...]:
    """The leaves that differ between the current values and the target's, by path."""
    now, then = dict(_leaves(current)), dict(_leaves(target))
    changed = sorted(path for path in {*now, *then} if now.get(path) != then.get(path))
    return tuple(Difference(p, _shown(now.get(p)), _shown(then.get(p))) for p in changed)


def risks(deps: Deps, chosen: Chosen, diff: tuple[Difference, ...]) -> tuple[Risk, ...]:
    target = chosen.target
    found: list[Risk] = []
    age = deps.clock() - target.created_at
    if age > OLD_TARGET:
        found.append(
            Risk("target_older_than_30_days", f"revision {target.number} is {age.days} days old")
        )
    rolled = [
        r.number for r in _recent(deps, chosen.deployment.id) if r.rollback_from == target.number
    ]
    if rolled:
        found.append(
            Risk(
                "target_was_rolled_back_from",
                f"revision {target.number} was itself rolled back from (by revision"
                f" {', '.join(map(str, rolled))})",
            )
        )
    outside = [d.field for d in diff if not _in_pod_template(chosen.deployment.adapter, d.field)]
    if outside:
        found.append(
            Risk(
                "changes_outside_pod_template",
                f"the rollback also changes {', '.join(outside[:5])}",
            )
        )
    references = [d.field for d in diff if any(w in d.field.lower() for w in REFERENCE_WORDS)]
    if references:
        found.append(
            Risk(
                "config_references_changed",
                f"ConfigMap, Secret or volume references change: {', '.join(references[:5])}",
            )
        )
    reversed_pairs = _reversed_dependencies(
        chosen.current.values if chosen.current else {}, target.values
    )
    if reversed_pairs:
        found.append(
            Risk(
                "dependency_order_reverses",
                "the target rolls these components out in the opposite order: "
                + ", ".join(f"{a} after {b}" for a, b in reversed_pairs),
            )
        )
    return tuple(found)


def _dependencies(values: JsonObject) -> set[tuple[str, str]]:
    """(component, one it depends on) pairs."""
    found = values.get("components")
    if not isinstance(found, list):
        return set()
    return {
        (str(c["name"]), str(d))
        for c in found
        if isinstance(c, dict) and "name" in c
        for d in c.get("dependsOn") or ()
    }


def _reversed_dependencies(current: JsonObject, target: JsonObject) -> list[tuple[str, str]]:
    now = _dependencies(current)
    return sorted((a, b) for a, b in _dependencies(target) if (b, a) in now)


def _in_pod_template(adapter: Adapter, path: str) -> bool:
    if adapter is Adapter.ECS:  # the task definition is ECS's pod template
        return path == "chart" or path.startswith(TASK_DEFINITION_VALUES)
    if adapter is Adapter.KUBERNETES:
        # its "chart" is only the version's record: the version is the image tag
        return path == "chart" or path.startswith(POD_TEMPLATE_VALUES) or _component_template(path)
    return path.startswith("image.")


def _component_template(path: str) -> bool:
    """A component's own pod-template values, or the application's version."""
    if path == "version":
        return True
    parts = path.split(".", 2)
    return len(parts) == 3 and parts[0] == "components" and parts[2].startswith(POD_TEMPLATE_VALUES)


def _recent(deps: Deps, deployment_id: str) -> list[Revision]:
    found: list[Revision] = []
    for revision in newest_first(deps, deployment_id):
        found.append(revision)
        if len(found) >= 200:
            break
    return found
