"""NF deployment descriptors: what can be deployed (a chart, its defaults, its schema)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.models import ChartRef, Descriptor, JsonObject, Page
from chalicelib.domain.states import Adapter
from chalicelib.service.context import Deps
from chalicelib.service.parameters import check_schema, validate_parameters


@dataclass(frozen=True, slots=True)
class NewDescriptor:
    id: str
    name: str
    chart: ChartRef
    default_parameters: JsonObject
    parameter_schema: JsonObject | None
    adapters: tuple[Adapter, ...]


def create(deps: Deps, new: NewDescriptor) -> Descriptor:
    """Store a descriptor; its schema must be valid and its defaults must satisfy it."""
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
    deps.store.put_descriptor(descriptor)
    return descriptor


def get(deps: Deps, descriptor_id: str) -> Descriptor:
    return deps.store.get_descriptor(descriptor_id)


def list_page(deps: Deps, *, limit: int, token: str | None) -> Page[Descriptor]:
    return deps.store.list_descriptors(limit=limit, token=token)


def delete(deps: Deps, descriptor_id: str) -> None:
    deps.store.delete_descriptor(descriptor_id)
