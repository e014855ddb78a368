"""The pods of the simulated cluster, as a kube-apiserver would show them, so that its health
checks are read by the same rules as a real cluster's (``workloads/health.py``): a pod is
ready once the rollout has reached it; a ``crash`` image's pods crash-loop."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.adapters.workloads import health
from chalicelib.domain.health import HealthCheck
from chalicelib.domain.models import JsonObject

WORKLOAD = "o2dms.local/workload"


def pods(
    workload: str,
    pod_hash: str,
    *,
    desired: int,
    ready: int,
    restarts: int,
    crashing: bool,
    since: datetime,
    component: str | None = None,
    flaky: bool = False,
) -> list[JsonObject]:
    """``flaky``: ready pods whose container was killed a moment ago (out of memory) and
    restarted, as a liveness probe or the kernel leaves them."""
    found = []
    for index in range(desired):
        is_ready = not crashing and index < ready
        container: JsonObject = {
            "name": workload,
            "ready": is_ready,
            "started": is_ready,
            "restartCount": restarts if crashing else 0,
            "state": {"running": {"startedAt": since.isoformat()}}
            if is_ready
            else {"waiting": {"reason": "CrashLoopBackOff" if crashing else "ContainerCreating"}},
        }
        if crashing and restarts:
            ended = (since + timedelta(seconds=restarts)).isoformat()
            container["lastState"] = {
                "terminated": {"reason": "Error", "exitCode": 1, "finishedAt": ended}
            }
        if flaky and is_ready:
            container["restartCount"] = 1
            container["lastState"] = {
                "terminated": {
                    "reason": "OOMKilled",
                    "exitCode": 137,
                    "finishedAt": since.isoformat(),
                }
            }
        labels = {WORKLOAD: workload}
        if component:
            labels["app.kubernetes.io/component"] = component
        found.append(
            {
                "metadata": {"name": f"{workload}-{pod_hash[:10]}-{index:05d}", "labels": labels},
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True" if is_ready else "False",
                            "lastTransitionTime": since.isoformat(),
                            **(
                                {}
                                if is_ready
                                else {"message": f"containers with unready status: [{workload}]"}
                            ),
                        }
                    ],
                    "containerStatuses": [container],
                },
            }
        )
    return found


def _component(pod: JsonObject) -> str | None:
    labels = pod["metadata"]["labels"]
    found = labels.get("app.kubernetes.io/component") or labels.get(WORKLOAD)
    return str(found) if found else None


def _ready(pod: JsonObject) -> bool:
    return bool(pod["status"]["conditions"][0]["status"] == "True")


def checks(
    found: list[JsonObject], *, services: dict[str, str], now: datetime
) -> tuple[HealthCheck, ...]:
    """The pods' probe checks, and each Service's (``services``: name to the workload it
    selects; its endpoints are that workload's ready pods)."""
    slices = [
        {
            "metadata": {"labels": {"kubernetes.io/service-name": name}},
            "endpoints": [
                {"conditions": {"ready": True}}
                for p in found
                if _ready(p) and p["metadata"]["labels"][WORKLOAD] == workload
            ],
        }
        for name, workload in services.items()
    ]
    objects = [
        {"metadata": {"name": name}, "spec": {"selector": {WORKLOAD: workload}}}
        for name, workload in services.items()
    ]
    return (
        *health.pod_checks(found, component_of=_component, now=now),
        *health.endpoint_checks(objects, slices, found),
    )
