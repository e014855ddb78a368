"""``GET /metrics``: both seeds' metrics, counted in the transactions that end operations,
read back in one request and rendered in Prometheus's text format."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.api_helpers import call, create_deployment, create_descriptor
from tests.apm_bodies import V1, my_app
from tests.auth_helpers import bearer
from tests.conftest import World

NF = "/o2dms/v1/nfDeployments/nginx-prod"


def scrape(client: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = client.http.get("/metrics", headers=bearer("viewer"))
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(found: dict[str, Any], name: str, **labels: str) -> float:
    return float(found.get(name, {}).get(tuple(sorted(labels.items())), 0.0))


def test_each_ended_operation_is_counted_once_in_both_seeds_terms(
    client: Any, world: World
) -> None:
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    for replicas in (5, 2):
        assert call(client, "POST", f"{NF}/scale", {"replicas": replicas}).status == 204
        world.settle()
    body = {"parameters": {"image": {"tag": "1.21.0"}}}
    assert call(client, "PUT", NF, body).status == 200
    world.settle()
    assert call(client, "POST", f"{NF}/rollback", {"revision": 0}).status == 200
    world.settle()
    crash = {"parameters": {"image": {"tag": "crash"}}}
    assert call(client, "PUT", NF, crash).status == 200
    for _ in range(6):
        world.settle()
    assert call(client, "POST", V1, my_app("v1.0.0")).status == 201
    world.settle()

    found = scrape(client)
    helm = {"adapter": "helm"}
    scaled = "o2dms_scale_operations_total"
    assert value(found, scaled, direction="up", status="COMPLETED", **helm) == 1
    assert value(found, scaled, direction="down", status="COMPLETED", **helm) == 1
    assert value(found, "o2dms_upgrade_operations_total", status="COMPLETED", **helm) == 1
    assert value(found, "o2dms_upgrade_operations_total", status="ROLLED_BACK", **helm) == 1
    # the requested rollback, and the crash's automatic one
    assert value(found, "o2dms_rollback_operations_total", status="COMPLETED", **helm) == 2
    counts = found["o2dms_operation_duration_seconds_count"]
    assert sum(counts.values()) == 7  # install, 2 scales, 2 upgrades, rollback, app install
    assert value(found, "o2dms_operation_duration_seconds_count", operation="scale", **helm) == 2
    infinity = value(
        found, "o2dms_operation_duration_seconds_bucket", operation="scale", le="+Inf", **helm
    )
    assert infinity == 2

    app = {"platform": "kubernetes", "environment": "production", "version": "v1.0.0"}
    assert value(found, "deployment_total", **app) == 1
    assert value(found, "deployment_status", status="completed", **app) == 1
    assert value(found, "deployment_duration_seconds", **app) > 0
    healthy = value(
        found,
        "deployment_health_check_status",
        platform="kubernetes",
        check_type="readiness",
        status="healthy",
    )
    assert healthy == 1


def test_metrics_need_a_reader_of_every_namespace(client: Any) -> None:
    assert client.http.get("/metrics", headers={"Authorization": ""}).status_code == 401
    scoped = client.http.get("/metrics", headers=bearer("o2dms-viewer:production"))
    assert scoped.status_code == 403
    assert client.http.get("/metrics?x=1", headers=bearer("viewer")).status_code == 400
