"""A new task definition revision, copied from the one a service runs.

``DescribeTaskDefinition`` answers with everything ``RegisterTaskDefinition`` takes plus what
ECS adds (ARN, revision, status, compatibilities, who registered it and when). The request
keeps exactly the fields the register call accepts (``REGISTER_FIELDS``; a test holds it to
botocore's model), so nothing of the old revision is lost and nothing ECS refuses is sent.
Tags are not copied: registering with tags needs ``ecs:TagResource`` as well, which the
functions are not given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.ecs.target import Wanted
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import JsonObject

# What RegisterTaskDefinition takes that DescribeTaskDefinition's taskDefinition also holds.
REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
    "trustedExecutionConfiguration",
)


def container_of(task_definition: Mapping[str, Any], name: str | None, service: str) -> JsonObject:
    """The container whose image a revision sets: the one named, else the only one, else the
    only essential one (sidecars are usually not), else the essential one named like the
    service."""
    containers = [c for c in task_definition.get("containerDefinitions") or [] if c.get("name")]
    family = short(str(task_definition.get("taskDefinitionArn") or task_definition.get("family")))
    if name is not None:
        found = next((c for c in containers if c["name"] == name), None)
        if found is None:
            known = ", ".join(c["name"] for c in containers) or "none"
            raise InvalidRequest(f"task definition {family} has no container {name} ({known})")
        return dict(found)
    essential = [c for c in containers if c.get("essential", True)]
    for found in (containers, essential, [c for c in essential if c["name"] == service]):
        if len(found) == 1:
            return dict(found[0])
    known = ", ".join(c["name"] for c in containers)
    raise InvalidRequest(
        f"task definition {family} has {len(containers)} containers ({known}): name the one"
        " to set with the container parameter"
    )


def split_image(image: str) -> tuple[str, str | None]:
    """``repository`` and tag (``None`` for a digest or no tag) of an image reference; a
    registry's port is not a tag (``host:5000/app``)."""
    if "@" in image:
        return image.split("@", 1)[0], None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, None


def register_request(task_definition: Mapping[str, Any], wanted: Wanted) -> JsonObject:
    """The ``RegisterTaskDefinition`` parameters of the revision ``wanted`` asks for."""
    request: JsonObject = {
        key: copy.deepcopy(task_definition[key])
        for key in REGISTER_FIELDS
        if task_definition.get(key) not in (None, [], {})
    }
    chosen = container_of(task_definition, wanted.container, wanted.where.service)
    containers = request.get("containerDefinitions") or []
    for index, container in enumerate(containers):
        if container.get("name") == chosen["name"]:
            containers[index] = _changed_container(container, wanted)
    if wanted.cpu is not None:
        request["cpu"] = wanted.cpu
    if wanted.memory is not None:
        request["memory"] = wanted.memory
    return request


def _changed_container(container: JsonObject, wanted: Wanted) -> JsonObject:
    repository, _ = split_image(str(container.get("image") or ""))
    changed = dict(container)
    changed["image"] = f"{wanted.repository or repository}:{wanted.tag}"
    if wanted.environment:
        kept = [
            e for e in container.get("environment") or [] if e.get("name") not in wanted.environment
        ]
        given = [{"name": k, "value": v} for k, v in sorted(wanted.environment.items())]
        changed["environment"] = sorted([*kept, *given], key=lambda e: str(e.get("name")))
    return changed


def snapshot(task_definition: Mapping[str, Any], container: str | None, service: str) -> JsonObject:
    """What a revision shows of the task definition it runs: its ARN, the container's image,
    the names of its variables (the values o2dms set are in the revision's own values; the
    others are the team's, and may be what only those who can describe it should read), the
    task's size."""
    chosen = container_of(task_definition, container, service)
    return {
        "ecs.taskDefinition": task_definition.get("taskDefinitionArn"),
        "ecs.container": chosen.get("name"),
        "ecs.image": chosen.get("image"),
        "ecs.environment": sorted(str(e.get("name")) for e in chosen.get("environment") or []),
        "ecs.cpu": task_definition.get("cpu"),
        "ecs.memory": task_definition.get("memory"),
    }


def short(arn: str) -> str:
    """``family:revision`` of a task definition ARN (or the text as it is)."""
    return arn.rsplit("/", 1)[-1]
