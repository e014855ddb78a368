"""Detach a deployment's automation (scaling schedules, alarm binding) when it goes away."""

from __future__ import annotations

import logging

from chalicelib.domain.errors import DeploymentNotFound, O2DmsError
from chalicelib.service.context import Deps

logger = logging.getLogger(__name__)


def detach(deps: Deps, deployment_id: str) -> None:
    """Best effort: the terminate has already begun. A schedule left behind by a failure
    here removes itself when it next fires and finds the deployment gone."""
    try:
        _, schedules = deps.automation.deployment_schedules(deployment_id)
        for schedule in schedules:
            deps.scheduler.delete(schedule.id)
            deps.automation.delete_schedule(deployment_id, schedule.id)
        deps.automation.delete_alarm_binding(deployment_id)
    except DeploymentNotFound:
        return
    except O2DmsError as exc:
        logger.warning(
            "could not detach schedules or alarms",
            extra={"deployment": deployment_id, "error": exc.message},
        )
