"""NF deployment descriptors: what can be deployed (a chart, its defaults, its schema)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.access import Action
from chalicelib.domain.models import ChartRef, Descriptor, JsonObject, Page
from chalicelib.domain.states import Adapter
from chalicelib.service.access import audit_record, require
from chalicelib.service.context import Caller, Deps
from chalicelib.service.parameters import check_schema, validate_parameters


@dataclass(frozen=True, slots=True)
class NewDescriptor:
    id: str
    name: str
    chart: ChartRef
    default_parameters: JsonObject
    parameter_schema: JsonObject | None
    adapters: tuple[Adapter, ...]


PATH = "nfDeploymentDescriptors"


def create(deps: Deps, new: NewDescriptor, caller: Caller) -> Descriptor:
    """Store a descriptor; its schema must be valid and its defaults must satisfy it."""
    target = f"{PATH}/{new.id}"
    require(deps, caller, Action.MANAGE_DESCRIPTORS, what="create-descriptor", target=target)
    if new.parameter_schema:
        check_schema(new.parameter_schema)
    validate_parameters(new.parameter_schema, new.default_parameters)
    descriptor = Descriptor(
        id=new.id,
        name=new.name,
        chart=new.chart,
        default_parameters=new.default_parameters,
        parameter_schema=new.parameter_schema,
        adapters=new.adapters,
        created_at=deps.clock(),
    )
    audit = audit_record(deps, caller, what="create-descriptor", target=target)
    deps.store.put_descriptor(descriptor, audit=audit)
    return descriptor


def get(deps: Deps, descriptor_id: str, caller: Caller) -> Descriptor:
    target = f"{PATH}/{descriptor_id}"
    require(deps, caller, Action.READ, what="read", target=target, anywhere=True)
    return deps.store.get_descriptor(descriptor_id)


def list_page(deps: Deps, caller: Caller, *, limit: int, token: str | None) -> Page[Descriptor]:
    require(deps, caller, Action.READ, what="list", target=PATH, anywhere=True)
    return deps.store.list_descriptors(limit=limit, token=token)


def delete(deps: Deps, descriptor_id: str, caller: Caller) -> None:
    target = f"{PATH}/{descriptor_id}"
    require(deps, caller, Action.MANAGE_DESCRIPTORS, what="delete-descriptor", target=target)
    audit = audit_record(deps, caller, what="delete-descriptor", target=target)
    deps.store.delete_descriptor(descriptor_id, audit=audit)
