"""The OpenAPI document is exactly as strict as the request validation.

For every request body the document describes, boundary cases are generated from the
document itself: for each string, a value at and just past its minLength and maxLength, a few
that break or keep its pattern, outside its enum, its forbidden constant; for each integer,
its minimum and maximum and one past each; for each field, null and absent; for a manager, the
other kind's fields. The document judges each body (jsonschema); the API must agree:
schema-valid is never a 400, schema-invalid always is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chalicelib.api.openapi import _REQUESTS, document_dict
from tests.api_helpers import NGINX_DESCRIPTOR, call

ONE = "nfDeployments/nginx-prod"
ROLLOUT = "/api/v1/deployments/{rollout}"  # nginx-prod's install, as seed 002 sees it
DROP = object()  # a case that leaves the field out
FILLERS = (" ", "a", "0")  # a space first: it keeps a cron or a reason meaningful
PROBE_LENGTH = 4097  # longer than any maxLength


@dataclass(frozen=True)
class Endpoint:
    model: str
    method: str
    path: str
    base: dict[str, Any]
    # Properties of the model the base leaves out, tried with these values.
    extra: dict[str, Any] = field(default_factory=dict)


EKS = {
    "deploymentManagerId": "eks-paris",
    "kind": "eks",
    "name": "Paris",
    "defaultNamespace": "ran",
    "clusterName": "ran-paris",
    "region": "eu-west-3",
    "roleArn": "arn:aws:iam::123456789012:role/o2dms-deployer",
    "default": False,
}
KUBECONFIG = {
    "deploymentManagerId": "edge-1",
    "kind": "kubeconfig",
    "kubeconfigSource": "ssm:/o2dms/clusters/edge-1",
    "context": "edge-1-admin",
}
GKE = {
    "deploymentManagerId": "gke-paris",
    "kind": "gke",
    "project": "ran-project",
    "location": "europe-west1-b",
    "clusterName": "ran-paris",
    "credentialsSecret": "o2dms/clusters/gke-paris",
}
AKS = {
    "deploymentManagerId": "aks-paris",
    "kind": "aks",
    "subscription": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    "resourceGroup": "ran-rg",
    "clusterName": "aks-paris",
    "credentialsSecret": "o2dms/clusters/aks-paris",
}
REASON = {"reason": "boundary check"}

ENDPOINTS = (
    Endpoint("ManagerCreate", "POST", "deploymentManagers", EKS, extra=KUBECONFIG),
    Endpoint("ManagerCreate", "POST", "deploymentManagers", KUBECONFIG, extra=EKS),
    Endpoint(
        "ManagerCreate", "POST", "deploymentManagers", GKE, extra={**EKS, **AKS, **KUBECONFIG}
    ),
    Endpoint(
        "ManagerCreate", "POST", "deploymentManagers", AKS, extra={**EKS, **GKE, **KUBECONFIG}
    ),
    Endpoint(
        "DescriptorCreate",
        "POST",
        "nfDeploymentDescriptors",
        {**NGINX_DESCRIPTOR, "descriptorId": "strict-1.0", "supportedAdapters": ["helm"]},
    ),
    Endpoint(
        "DeploymentCreate",
        "POST",
        "nfDeployments?dryRun=true",
        {
            "name": "web-1",
            "descriptorId": "nginx-chart-1.2.0",
            "namespace": "production",
            "adapter": "helm",
            "deploymentManagerId": "local",
            **REASON,
        },
    ),
    Endpoint(
        "DeploymentUpgrade",
        "PUT",
        f"{ONE}?dryRun=true",
        {"descriptorId": "nginx-chart-1.2.0", "parameters": {"replicaCount": 3}, **REASON},
    ),
    Endpoint("ScaleRequest", "POST", f"{ONE}/scale?dryRun=true", {"replicas": 3, **REASON}),
    Endpoint("RollbackRequest", "POST", f"{ONE}/rollback?dryRun=true", {"revision": 0, **REASON}),
    Endpoint("TerminateRequest", "DELETE", f"{ONE}?dryRun=true", REASON),
    Endpoint(
        "ScheduleCreate",
        "POST",
        f"{ONE}/scalingSchedules",
        {"expression": "cron(0 8 * * ? *)", "timezone": "Europe/Paris", "replicas": 3, **REASON},
    ),
    Endpoint(
        "ApmDeploymentStart",
        "POST",
        "/api/v1/deployments",
        {
            "name": "strict",
            "version": "v1.0.0",
            "platform": "kubernetes",
            "environment": "lab",
            "configuration": {
                "image": "registry.example.com/strict",
                "chart": {"repository": "https://charts.example.com/stable", "name": "nginx"},
            },
            "deployment_manager_id": "local",
            **REASON,
        },
    ),
    Endpoint(
        "ApmRollbackRequest",
        "POST",
        f"{ROLLOUT}/rollback",
        {"target_version": "1.2.0", "force": False, **REASON},
    ),
    Endpoint(
        "ApmDryRunRollback",
        "POST",
        f"{ROLLOUT}/rollback?dry_run=true",
        {"target_version": "1.2.0", "force": False, **REASON},
    ),
    Endpoint(
        "AlarmBindingIn",
        "PUT",
        f"{ONE}/rollbackAlarms",
        {"alarmNames": ["nginx-5xx"], "watchWindowSeconds": 900, "cooldownSeconds": 300},
    ),
)


# ---------------------------------------------------------------------- the document


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(document_dict(), default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource("urn:o2dms", resource)
    return registry


@functools.cache
def _validator(model: str) -> Draft202012Validator:
    ref = {"$ref": f"urn:o2dms#/components/schemas/{model}"}
    return Draft202012Validator(ref, registry=_registry())


def _schema(model: str) -> dict[str, Any]:
    schema: dict[str, Any] = document_dict()["components"]["schemas"][model]
    return schema


def _value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without its ``null`` alternative."""
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    return {**schema, **branches[0]} if len(branches) == 1 else schema


def _fits(schema: dict[str, Any], value: Any) -> bool:
    return Draft202012Validator(schema).is_valid(value)


# -------------------------------------------------------------------------- the cases


Resize = Callable[[str, int], str]


def _pad_end(filler: str) -> Resize:
    return lambda base, n: base[:n] if n <= len(base) else base + filler * (n - len(base))


def _pad_inside(filler: str) -> Resize:
    return lambda base, n: (
        base[:n] if n <= len(base) else (base[:-1] + filler * (n - len(base)) + base[-1:])
    )


RESIZES = tuple(resize(f) for f in FILLERS for resize in (_pad_end, _pad_inside))


def _at_length(schema: dict[str, Any], base: str, n: int) -> tuple[str, str] | None:
    """A value of ``n`` characters the schema takes, and the same built one longer."""
    for resize in RESIZES:
        value = resize(base, n)
        if len(value) == n and _fits(schema, value):
            return value, resize(base, n + 1)
    return None


def _string_cases(schema: dict[str, Any], base: str) -> Iterator[tuple[str, Any]]:
    if "enum" in schema:
        yield "first of enum", schema["enum"][0]
        yield "last of enum", schema["enum"][-1]
        yield "outside enum", f"{base}x"
    if "minLength" in schema:
        low = schema["minLength"]
        found = _at_length(schema, base, low)
        yield "at minLength", found[0] if found else base[:low]
        if low > 0:
            yield "below minLength", base[: low - 1]
    if "maxLength" in schema:
        high = schema["maxLength"]
        found = _at_length(schema, base, high)
        assert found is not None, f"no value of {high} characters fits {schema}"
        yield "at maxLength", found[0]
        yield "past maxLength", found[1]
    if "pattern" in schema:
        yield "prefixed", f"!{base}"
        yield "suffixed", f"{base}!"
        yield "upper case", base.upper()
        yield "control character", f"\t{base}"
    if "const" in schema.get("not", {}):
        yield "forbidden constant", schema["not"]["const"]


def _integer_cases(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, step in (("minimum", -1), ("maximum", 1)):
        if key in schema:
            yield f"at {key}", schema[key]
            yield f"past {key}", schema[key] + step


def _array_cases(schema: dict[str, Any], base: list[Any]) -> Iterator[tuple[str, Any]]:
    items = _value_schema(schema.get("items", {}))
    if base and isinstance(base[0], str):
        for what, value in _string_cases(items, base[0]):
            yield f"item {what}", [value, *base[1:]]
    if "maxItems" in schema:
        many = [f"{base[0]}-{i}" for i in range(schema["maxItems"] + 1)]
        yield "at maxItems", many[:-1]
        yield "past maxItems", many


def _field_cases(schema: dict[str, Any], base: Any) -> Iterator[tuple[str, Any]]:
    value_schema = _value_schema(schema)
    kind = value_schema.get("type")
    if isinstance(base, str):
        yield from _string_cases(value_schema, base)
        # Probes whatever the document states: a limit it leaves out shows up here.
        yield "empty", ""
        yield "very long", _pad_end("a")(base, PROBE_LENGTH)
    elif kind == "integer" and isinstance(base, int):
        yield from _integer_cases(value_schema)
        yield "negative", -1
        yield "huge", 10**9
    elif kind == "array" and isinstance(base, list):
        yield from _array_cases(value_schema, base)
    yield "null", None
    yield "absent", DROP


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    field: str
    what: str
    body: dict[str, Any]

    @property
    def valid(self) -> bool:
        return _validator(self.endpoint.model).is_valid(self.body)

    def __str__(self) -> str:
        value = self.body.get(self.field, "<absent>")
        shown = repr(value) if len(repr(value)) < 60 else f"{repr(value)[:57]}..."
        return f"{self.endpoint.model}.{self.field} {self.what} ({shown})"


def _cases(endpoint: Endpoint) -> Iterator[Case]:
    properties = _schema(endpoint.model)["properties"]
    assert set(endpoint.base) <= set(properties), "the base body has unknown fields"
    for name, base in endpoint.base.items():
        for what, value in _field_cases(properties[name], base):
            body = {k: v for k, v in endpoint.base.items() if k != name}
            if value is not DROP:
                body[name] = value
            yield Case(endpoint, name, what, body)
    for name, value in endpoint.extra.items():
        if name not in endpoint.base:
            yield Case(endpoint, name, "added", {**endpoint.base, name: value})


def _disagreements(client: Any, endpoint: Endpoint) -> tuple[list[str], int]:
    wrong, checked = [], 0
    rollouts = call(client, "GET", "/api/v1/deployments?name=nginx-prod").body["deployments"]
    path = endpoint.path.replace("{rollout}", rollouts[-1]["id"])
    for case in _cases(endpoint):
        answer = call(client, endpoint.method, path, case.body)
        checked += 1
        message = (answer.body or {}).get("message", "") if answer.status >= 400 else ""
        if case.valid and answer.status == 400:
            wrong.append(f"{case}: schema-valid, answered 400 {message!r}")
        elif not case.valid and answer.status != 400:
            wrong.append(f"{case}: schema-invalid, answered {answer.status}")
        if answer.status == 201 and endpoint.model == "ScheduleCreate":
            call(client, "DELETE", answer.headers["Location"])  # at most 50 per deployment
    return wrong, checked


# ------------------------------------------------------------------------------ tests


def test_openapi_strictness_covers_every_request_model() -> None:
    assert {e.model for e in ENDPOINTS} == {m.__name__ for m in _REQUESTS}


def test_openapi_strictness_base_bodies_are_schema_valid() -> None:
    invalid = [e.model for e in ENDPOINTS if not _validator(e.model).is_valid(e.base)]

    assert invalid == []


def test_openapi_strictness_cases_hit_both_sides_of_every_boundary() -> None:
    cases = [c for e in ENDPOINTS for c in _cases(e)]

    inside = {(c.endpoint.model, c.field, c.what) for c in cases if c.valid}
    outside = {(c.endpoint.model, c.field, c.what) for c in cases if not c.valid}

    lengths = {(m, f) for m, f, w in inside if w == "at maxLength"}
    assert lengths == {(m, f) for m, f, w in outside if w == "past maxLength"}
    assert ("ScaleRequest", "replicas", "at maximum") in inside
    assert ("ScaleRequest", "replicas", "past maximum") in outside
    assert ("ManagerCreate", "deploymentManagerId", "forbidden constant") in outside
    assert ("ScheduleCreate", "expression", "upper case") in outside


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.model}-{e.base.get('kind', '')}")
def test_openapi_strictness_api_agrees_with_the_document(running: Any, endpoint: Endpoint) -> None:
    wrong, checked = _disagreements(running, endpoint)

    assert checked > 0
    assert wrong == [], "\n".join(wrong)


def test_openapi_strictness_next_token_is_as_the_document_states(client: Any) -> None:
    for i in range(2):
        call(
            client, "POST", "nfDeploymentDescriptors", {**NGINX_DESCRIPTOR, "descriptorId": f"d{i}"}
        )
    parameters = document_dict()["paths"]["/o2dms/v1/nfDeploymentDescriptors"]["get"]
    schema = next(p["schema"] for p in parameters["parameters"] if p["name"] == "nextToken")
    token = call(client, "GET", "nfDeploymentDescriptors?limit=1").body["nextToken"]

    padded = f"{token}{'=' * (-len(token) % 4 or 4)}"
    answers = {
        value: call(client, "GET", f"nfDeploymentDescriptors?limit=1&nextToken={value}").status
        for value in (token, padded, "a" * (schema["maxLength"] + 1))
    }

    assert _fits(schema, token)
    assert answers == {token: 200, padded: 400, "a" * (schema["maxLength"] + 1): 400}
    assert not _fits(schema, padded)
