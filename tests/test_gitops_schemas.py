"""Every object the GitOps adapters build, and every object their patches leave behind,
satisfies the real Argo CD and Flux CRDs; and the check is sharp enough to catch a bad one."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonpatch
import pytest
import yaml

from chalicelib.adapters.gitops.argocd import ArgoCDBackend
from chalicelib.adapters.gitops.flux import FluxBackend
from chalicelib.adapters.gitops.settings import ArgoCDSettings, FluxSettings
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import Action, ClusterCredentials, ReleaseTarget
from chalicelib.domain.states import OperationType
from tests.crd_schema import FIXTURES, assert_valid, errors

HTTPS = ChartRef("https://charts.example.com/stable", "demo", "0.1.0")
OCI = ChartRef("oci://registry.example.com/charts", "demo", "0.2.0")
KINDS = (OperationType.UPGRADE, OperationType.SCALE, OperationType.ROLLBACK)


def _no_cluster(*, operation_id: str | None = None) -> ClusterCredentials:
    raise AssertionError("building objects must not ask for credentials")


ARGOCD = ArgoCDBackend(_no_cluster)
ARGOCD_BY_NAME = ArgoCDBackend(
    _no_cluster,
    ArgoCDSettings(namespace="gitops", destination_server=None, destination_name="edge-1"),
)
FLUX = FluxBackend(_no_cluster)
FLUX_CUSTOM = FluxBackend(_no_cluster, FluxSettings(namespace="flux", interval="1m30s"))


def target(chart: ChartRef = HTTPS, revision: int = 1) -> ReleaseTarget:
    return ReleaseTarget(
        release="nginx-prod",
        namespace="production",
        chart=chart,
        values={"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}},
        revision=revision,
        operation_id=f"op-{revision}",
        timeout_seconds=300,
    )


def _created_at(backend: ArgoCDBackend | FluxBackend, chart: ChartRef) -> dict[str, dict[str, Any]]:
    """The objects an install plan creates, by the path they are then patched at."""
    found = {}
    for step in backend.plan(Action(OperationType.INSTALL, target(chart))):
        assert step.body is not None
        assert step.body["method"] == "POST"
        obj = step.body["body"]
        found[f"{step.body['path']}/{obj['metadata']['name']}"] = obj
    return found


def _created(backend: ArgoCDBackend | FluxBackend, chart: ChartRef) -> list[dict[str, Any]]:
    return list(_created_at(backend, chart).values())


def _patched(
    backend: ArgoCDBackend | FluxBackend, chart: ChartRef, kinds: tuple[OperationType, ...]
) -> list[dict[str, Any]]:
    """Each created object after the patches that ``kinds`` plan, applied in order."""
    objects = _created_at(backend, chart)
    for number, kind in enumerate(kinds, start=2):
        replicas = 5 if kind is OperationType.SCALE else None
        for step in backend.plan(Action(kind, target(chart, number), replicas=replicas)):
            assert step.body is not None
            assert step.body["method"] == "PATCH"
            assert step.body["contentType"] == "application/json-patch+json"
            path = step.body["path"]
            objects[path] = jsonpatch.apply_patch(objects[path], step.body["body"])
    return list(objects.values())


BACKENDS: dict[str, Callable[[], ArgoCDBackend | FluxBackend]] = {
    "argocd": lambda: ARGOCD,
    "argocd-by-cluster-name": lambda: ARGOCD_BY_NAME,
    "flux": lambda: FLUX,
    "flux-custom": lambda: FLUX_CUSTOM,
}


@pytest.mark.parametrize("chart", [HTTPS, OCI], ids=["https", "oci"])
@pytest.mark.parametrize("backend", list(BACKENDS), ids=list(BACKENDS))
def test_gitops_schemas_created_objects_satisfy_their_crds(backend: str, chart: ChartRef) -> None:
    for obj in _created(BACKENDS[backend](), chart):
        assert_valid(obj)


@pytest.mark.parametrize(
    "kinds",
    [
        (OperationType.UPGRADE,),
        (OperationType.SCALE,),
        (OperationType.ROLLBACK,),
        (OperationType.ROLLBACK, OperationType.UPGRADE),
        (OperationType.UPGRADE, OperationType.SCALE, OperationType.ROLLBACK, OperationType.SCALE),
    ],
    ids=lambda kinds: "-".join(k.value for k in kinds),
)
@pytest.mark.parametrize("chart", [HTTPS, OCI], ids=["https", "oci"])
@pytest.mark.parametrize("backend", list(BACKENDS), ids=list(BACKENDS))
def test_gitops_schemas_patched_objects_satisfy_their_crds(
    backend: str, chart: ChartRef, kinds: tuple[OperationType, ...]
) -> None:
    for obj in _patched(BACKENDS[backend](), chart, kinds):
        assert_valid(obj)


@pytest.mark.parametrize(
    ("backend", "kind", "path"),
    [
        ("argocd", "Application", ("spec", "destination")),
        ("argocd", "Application", ("spec", "project")),
        ("argocd", "Application", ("spec", "source", "repoURL")),
        ("argocd", "Application", ("operation", "info", 0, "value")),
        ("flux", "HelmRelease", ("spec", "interval")),
        ("flux", "HelmRelease", ("spec", "chart", "spec", "chart")),
        ("flux", "HelmRelease", ("spec", "chart", "spec", "sourceRef", "kind")),
        ("flux", "HelmRelease", ("spec", "chart")),
        ("flux", "HelmRepository", ("spec", "url")),
    ],
)
def test_gitops_schemas_catch_a_missing_required_field(
    backend: str, kind: str, path: tuple[str | int, ...]
) -> None:
    # Given an object the adapter builds, valid as built
    obj = next(o for o in _created(BACKENDS[backend](), HTTPS) if o["kind"] == kind)
    assert_valid(obj)
    broken = copy.deepcopy(obj)
    parent: Any = broken
    for part in path[:-1]:
        parent = parent[part]

    # When a required field is removed
    del parent[path[-1]]

    # Then the check fails, naming the field
    problems = errors(broken)
    assert problems
    assert any(str(path[-1]) in p for p in problems), problems


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        (("spec", "syncPolicy", "automated", "prune"), "yes", "is not of type 'boolean'"),
        (("spec", "source", "helm", "valueObject"), {}, "Additional properties"),
        (("spec", "syncPolicy", "retry", "limit"), "5", "is not of type 'integer'"),
    ],
)
def test_gitops_schemas_catch_wrong_types_and_misspelt_fields(
    field: tuple[str, ...], value: object, says: str
) -> None:
    broken = copy.deepcopy(ARGOCD.application(target()))
    parent: Any = broken
    for part in field[:-1]:
        parent = parent[part]
    parent[field[-1]] = value

    assert any(says in p for p in errors(broken)), errors(broken)


def test_gitops_schemas_catch_a_bad_flux_duration_and_repository_url() -> None:
    release = copy.deepcopy(FLUX.helm_release(target()))
    release["spec"]["interval"] = "five minutes"
    repository = copy.deepcopy(FLUX.helm_repository(target()))
    repository["spec"]["url"] = "ftp://charts.example.com"

    assert any("spec.interval" in p for p in errors(release))
    assert any("spec.url" in p for p in errors(repository))


@pytest.mark.parametrize(
    "name", ["argocd-application.json", "flux-helmrelease.json", "flux-helmrepository.json"]
)
def test_gitops_schemas_accept_what_a_real_api_server_accepted(name: str) -> None:
    assert_valid(json.loads((FIXTURES / name).read_text()))


@pytest.mark.parametrize(
    ("name", "answer", "rejected"),
    [
        (
            "input-application-invalid.yaml",
            "argocd-application-invalid.stderr.txt",
            ["spec.syncPolicy.automated.prune", "destination"],
        ),
        (
            "input-helmrelease-invalid.yaml",
            "flux-helmrelease-invalid.stderr.txt",
            ["either chart or chartRef must be set"],
        ),
    ],
)
def test_gitops_schemas_reject_what_a_real_api_server_rejected(
    name: str, answer: str, rejected: list[str]
) -> None:
    # Given a manifest the real API server refused, and its answer
    manifest = yaml.safe_load((FIXTURES / name).read_text())
    server_said = (FIXTURES / answer).read_text()

    # Then the schema check refuses it for the same reasons
    problems = "\n".join(errors(manifest))
    for reason in rejected:
        assert reason in problems
        assert reason in server_said
