"""Check objects against the real Argo CD and Flux CRDs in ``../shared/crds``.

Each CRD's ``spec.versions[].schema.openAPIV3Schema`` is a JSON Schema (OpenAPI v3 flavour,
draft 4 semantics); ``jsonschema`` ignores the ``x-kubernetes-*`` keywords, as annotations.
One thing is stricter than plain JSON Schema, on purpose: where the schema lists
``properties`` and does not preserve unknown fields, an unknown field is an error, because
the API server would prune it silently (a misspelt ``valueObject`` would simply vanish).
CEL rules (``x-kubernetes-validations``) are not evaluated by ``jsonschema``; the one that
matters for what we build (a HelmRelease needs exactly one of ``chart`` and ``chartRef``)
is checked by hand in ``cel_errors``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SHARED = Path(__file__).resolve().parents[2] / "shared"
CRDS = SHARED / "crds"
FIXTURES = SHARED / "fixtures" / "k8s"
_CRD_FILES = {
    "Application": "application-crd.yaml",
    "HelmRelease": "helm.toolkit.fluxcd.io_helmreleases.yaml",
    "HelmRepository": "source.toolkit.fluxcd.io_helmrepositories.yaml",
}


def _closed(node: Any) -> Any:
    """A copy of the schema in which objects with listed properties allow no others."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _closed(value) for key, value in node.items()}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        copied["additionalProperties"] = False
    return copied


@cache
def crd(kind: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CRDS / _CRD_FILES[kind]).read_text())
    assert isinstance(loaded, dict)
    return loaded


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    group, version = api_version.split("/")
    definition = crd(kind)
    assert definition["spec"]["group"] == group, f"{kind} is not in group {group}"
    for served in definition["spec"]["versions"]:
        if served["name"] == version:
            schema = _closed(served["schema"]["openAPIV3Schema"])
            jsonschema.Draft4Validator.check_schema(schema)
            return jsonschema.Draft4Validator(schema)
    raise AssertionError(f"the {kind} CRD serves no version {version}")


def cel_errors(obj: dict[str, Any]) -> list[str]:
    """The CRD's CEL rules that apply to what we build, evaluated by hand."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "HelmRelease" and ("chart" in spec) == ("chartRef" in spec):
        return ["spec: either chart or chartRef must be set"]
    return []


def errors(obj: dict[str, Any]) -> list[str]:
    """Every way ``obj`` breaks its CRD's schema, as ``path: message`` lines."""
    found = validator(obj["apiVersion"], obj["kind"]).iter_errors(obj)
    messages = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found
    ]
    return sorted(messages) + cel_errors(obj)


def assert_valid(obj: dict[str, Any]) -> None:
    problems = errors(obj)
    assert not problems, f"{obj['kind']} breaks its CRD:\n" + "\n".join(problems)
