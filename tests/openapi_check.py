"""Checks an API answer against the served OpenAPI document: status declared, body valid."""

from __future__ import annotations

import functools
import re
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chalicelib.api.openapi import document_dict


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in document_dict()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        routes.append((re.compile(f"^{pattern}$"), template))
    # Literal segments must win over parameters (".../history/{revision}" vs ".../history").
    return sorted(routes, key=lambda r: r[1].count("{"))


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(document_dict(), default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource("urn:o2dms", resource)
    return registry


def _absolute(schema: Any) -> Any:
    """The schema with its local ``$ref``s pointed into the registered document."""
    if isinstance(schema, dict):
        return {k: ("urn:o2dms" + v if k == "$ref" else _absolute(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_absolute(v) for v in schema]
    return schema


def check_answer(method: str, url: str, status: int, body: Any) -> None:
    path = url.split("?", 1)[0]
    template = next((t for p, t in _routes() if p.match(path)), None)
    assert template is not None, f"{path} is not in the OpenAPI document"
    operation = document_dict()["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not in the OpenAPI document"
    answer = operation["responses"].get(str(status))
    assert answer is not None, f"{method} {template} answered {status}, which is not documented"
    content = answer.get("content")
    if content is None:
        assert body is None, f"{method} {template} {status} should have no body"
        return
    schema = _absolute(content["application/json"]["schema"])
    validator = Draft202012Validator(schema, registry=_registry())
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, f"{method} {path} {status} does not match the document: {problems}"


def model_validator(model: str) -> Draft202012Validator:
    """A validator for one of the document's component schemas, by its name."""
    return Draft202012Validator(
        {"$ref": f"urn:o2dms#/components/schemas/{model}"}, registry=_registry()
    )
