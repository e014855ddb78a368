"""Map one ``helm status -o json`` to the port's ``BackendStatus``: the follower's verdict.

Two sources decide the phase. Helm's word for the release says whether helm is done with
it: ``failed`` is FAILED (helm's description is the message), ``pending-*`` and
``uninstalling`` are still PROGRESSING, ``uninstalled`` is ABSENT. Once it says
``deployed``, the live workloads decide (``workloads.py``): with ``wait`` (the seed's
``wait: true``) the release is READY only when every Deployment, StatefulSet and DaemonSet is
rolled out, and with ``wait_for_jobs`` when its Jobs have completed too; a Deployment past its
progress deadline or a failed Job is FAILED. This is the waiting ``helm --wait`` would do,
moved out of the request so the API can answer at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.adapters.helm.models import Release
from chalicelib.adapters.helm.workloads import PodProblem, Readiness, Workload, objects_of, read
from chalicelib.adapters.workloads import health
from chalicelib.domain.health import HealthCheck
from chalicelib.domain.models import Condition, JsonObject
from chalicelib.domain.ports import BackendStatus, Replicas, RolloutPhase, ready_message


def extensions_of(release: Release) -> JsonObject:
    """``helm.*`` extensions, as the seed's status example shows them."""
    found: JsonObject = {
        "helm.revision": release.revision,
        "helm.status": release.status,
        "helm.notes": release.notes,
    }
    if release.chart_name:  # install/upgrade output has the chart; status output has not
        found["helm.chartName"] = release.chart_name
        found["helm.chartVersion"] = release.chart_version
        found["helm.appVersion"] = release.app_version
    return found


def replicas_of(workloads: tuple[Workload, ...]) -> Replicas | None:
    if not workloads:
        return None
    return Replicas(
        desired=sum(w.desired for w in workloads),
        updated=sum(w.updated for w in workloads),
        ready=sum(w.ready for w in workloads),
        available=sum(w.available for w in workloads),
    )


def _problem_condition(problem: PodProblem) -> Condition:
    detail = problem.message or f"container {problem.container} of pod {problem.pod}"
    return Condition(
        "ContainersReady", "False", problem.reason, f"{detail}; restartCount={problem.restarts}"
    )


def conditions_of(
    units: tuple[Workload, ...], problems: tuple[PodProblem, ...]
) -> tuple[Condition, ...]:
    named = len(units) > 1
    found = [
        Condition(
            c.type, c.status, c.reason, f"{u.kind} {u.name}: {c.message}" if named else c.message
        )
        for u in units
        for c in u.conditions
    ]
    found.extend(_problem_condition(p) for p in problems[:3])
    return tuple(found)


def _progress(units: tuple[Workload, ...]) -> int:
    """How far the units are on average, short of done; 0 when there are none."""
    if not units:
        return 0
    return min(99, sum(u.progress for u in units) // len(units))


def _why(problems: tuple[PodProblem, ...]) -> str:
    return f" ({problems[0].describe()})" if problems else ""


def _crash_looping(problems: tuple[PodProblem, ...], limit: int) -> PodProblem | None:
    return next(
        (p for p in problems if limit and p.reason == "CrashLoopBackOff" and p.restarts >= limit),
        None,
    )


def _deployed(
    release: Release,
    seen: Readiness,
    units: tuple[Workload, ...],
    *,
    wait: bool,
    crash_loop_restarts: int,
) -> tuple[RolloutPhase, int, str]:
    deployed = f'Release "{release.name}" revision {release.revision} deployed'
    if not wait:
        return RolloutPhase.READY, 100, deployed
    return rollout_verdict(seen, units, crash_loop_restarts=crash_loop_restarts, done=deployed)


def rollout_verdict(
    seen: Readiness, units: tuple[Workload, ...], *, crash_loop_restarts: int, done: str
) -> tuple[RolloutPhase, int, str]:
    """Phase, progress and message of live ``units`` (``kubectl rollout status`` rules): a
    failed unit or a crash loop of ``crash_loop_restarts`` restarts while waiting is FAILED,
    a waiting unit PROGRESSING, else READY (``done`` is said when there is no workload)."""
    failed = [u.failed for u in units if u.failed]
    if failed:
        return (
            RolloutPhase.FAILED,
            _progress(units),
            "; ".join(failed) + _why(seen.pod_problems),
        )
    waiting = [u.waiting for u in units if u.waiting]
    crashing = _crash_looping(seen.pod_problems, crash_loop_restarts) if waiting else None
    if crashing is not None:
        return (
            RolloutPhase.FAILED,
            _progress(units),
            f"{waiting[0]}: {crashing.describe()}; the new pods keep crashing",
        )
    if waiting:
        return (
            RolloutPhase.PROGRESSING,
            _progress(units),
            waiting[0] + _why(seen.pod_problems),
        )
    desired = sum(w.desired for w in seen.workloads)
    return RolloutPhase.READY, 100, ready_message(desired) if seen.workloads else done


def backend_status(
    release: Release, *, wait: bool, wait_for_jobs: bool, crash_loop_restarts: int = 3
) -> BackendStatus:
    seen = read(release.resources)
    units = seen.workloads + (seen.jobs if wait_for_jobs else ())
    word, name = release.status, release.name
    if word == "deployed":
        phase, progress, message = _deployed(
            release, seen, units, wait=wait, crash_loop_restarts=crash_loop_restarts
        )
    elif word == "failed":
        phase, progress = RolloutPhase.FAILED, _progress(units)
        message = release.description or f'release "{name}" failed'
    elif word == "uninstalled":
        phase, progress, message = RolloutPhase.ABSENT, 100, f'release "{name}" is uninstalled'
    elif word == "uninstalling":
        phase, progress = RolloutPhase.PROGRESSING, 50
        message = f'Uninstalling release "{name}"'
    else:  # pending-install, pending-upgrade, pending-rollback (or a word helm adds later)
        phase, progress = RolloutPhase.PROGRESSING, _progress(units)
        waiting = next((u.waiting for u in units if u.waiting), "")
        message = (
            f'Release "{name}" revision {release.revision} is {word}'
            + (f": {waiting}" if waiting else "")
            + _why(seen.pod_problems)
        )
    return BackendStatus(
        phase=phase,
        progress=progress,
        message=message,
        conditions=conditions_of(units, seen.pod_problems),
        replicas=replicas_of(seen.workloads),
        backend_ref=str(release.revision),
        extensions=extensions_of(release),
        health_checks=pod_health(release),
    )


def pod_health(release: Release) -> tuple[HealthCheck, ...]:
    """The probe checks of the release's pods, as ``helm status`` returns them (it has no
    EndpointSlices: a Helm release's Service endpoints are not checked)."""

    def component(pod: JsonObject) -> str:
        labels = pod.get("metadata", {}).get("labels") or {}
        return str(labels.get("app.kubernetes.io/component") or release.name)

    pods = list(objects_of(release.resources, "Pod"))
    return health.pod_checks(pods, component_of=component, now=datetime.now(UTC))
