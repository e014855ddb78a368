"""What an ECS deployment's parameters ask for, read and checked once.

The parameters (a revision's values) of an ``ecs`` deployment:

- ``cluster``, ``service`` (required): the ECS service to roll out, by name or ARN;
- ``container``: the container whose image is set (default: the task definition's only
  container, else its only essential one, else the essential one named like the service);
- ``image.tag``: the version (default: the descriptor's version); ``image.repository``: the
  image without its tag (default: the container's current repository);
- ``environment``: variables set on that container (the task definition's others are kept);
- ``cpu``, ``memory``: the task's size, in ECS's units (``256``, ``"0.5 vCPU"``, ``"1 GB"``);
- ``replicaCount``: the service's ``desiredCount`` (default: left as it is).

A bad value is an ``InvalidRequest`` (400) here, before anything is sent to ECS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import ReleaseTarget

# Cluster and service names as ECS allows them, or their ARNs.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(cluster|service)/[A-Za-z0-9/_-]{1,512}$")
CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
REPOSITORY = re.compile(r"^[a-z0-9][a-z0-9._/:-]{0,511}$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SIZE = re.compile(r"^[0-9]+(\.[0-9]+)? ?(vCPU|vcpu|GB|gb)?$")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


@dataclass(frozen=True, slots=True)
class Where:
    """The service a deployment rolls out."""

    cluster: str
    service: str

    @property
    def short(self) -> str:
        return f"{_last(self.cluster)}/{_last(self.service)}"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What one revision puts on the service."""

    where: Where
    tag: str
    container: str | None = None
    repository: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    cpu: str | None = None
    memory: str | None = None
    desired: int | None = None


def where_of(parameters: Mapping[str, Any]) -> Where:
    """The service the parameters name; 400 when they name none."""
    cluster, service = parameters.get("cluster"), parameters.get("service")
    if not isinstance(cluster, str) or not isinstance(service, str):
        raise InvalidRequest(
            "an ecs deployment needs parameters cluster and service: the ECS service to roll out"
        )
    for name, value in (("cluster", cluster), ("service", service)):
        if not (NAME.match(value) or ARN.match(value)):
            raise InvalidRequest(
                f"{name} {value[:80]!r} is not an ECS {name} name (letters, digits, '-', '_')"
                " or ARN"
            )
    return Where(cluster, service)


def wanted(target: ReleaseTarget) -> Wanted:
    """What ``target``'s values ask of the service."""
    values = target.values
    image = values.get("image") or {}
    if not isinstance(image, Mapping):
        raise InvalidRequest("image must be an object (repository, tag)")
    tag = image.get("tag") or target.chart.version
    return Wanted(
        where=where_of(values),
        tag=_matching("image.tag", tag, TAG),
        container=_optional("container", values.get("container"), CONTAINER),
        repository=_optional("image.repository", image.get("repository"), REPOSITORY),
        environment=environment_of(values.get("environment")),
        cpu=size_of("cpu", values.get("cpu")),
        memory=size_of("memory", values.get("memory")),
        desired=desired_of(values),
    )


def desired_of(values: JsonObject) -> int | None:
    count = values.get("replicaCount")
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidRequest(f"replicaCount must be a whole number from 0, not {count!r}")
    return count


def environment_of(value: Any) -> dict[str, str]:
    """Variables as ECS takes them: names and text values (numbers and booleans as JSON
    writes them)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest("environment must be an object of variable names to values")
    found: dict[str, str] = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not VARIABLE.match(name):
            raise InvalidRequest(f"environment: {str(name)[:80]!r} is not a variable name")
        if isinstance(raw, bool):
            found[name] = "true" if raw else "false"
        elif isinstance(raw, str | int | float):
            found[name] = str(raw)
        else:
            raise InvalidRequest(f"environment.{name} must be text, a number or a boolean")
    return found


def size_of(name: str, value: Any) -> str | None:
    """A task size as ECS's API takes it: text (``"256"``, ``"0.5 vCPU"``, ``"1 GB"``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequest(f"{name} must be a number of units or text such as '1 GB'")
    text = str(value).strip()
    if not SIZE.match(text):
        raise InvalidRequest(f"{name} {text[:40]!r} is not a task size ECS reads")
    return text


def _optional(name: str, value: Any, pattern: re.Pattern[str]) -> str | None:
    return None if value is None else _matching(name, value, pattern)


def _matching(name: str, value: Any, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidRequest(f"{name} {str(value)[:80]!r} is not valid for an ECS container")
    return value


def _last(name: str) -> str:
    return name.rsplit("/", 1)[-1]
