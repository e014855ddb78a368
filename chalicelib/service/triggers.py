"""Detach a deployment's automation (scaling schedules, alarm binding) when it goes away.

The items go with the write that begins the termination (``Detach``); what is left is
the schedules' EventBridge side, stopped here once that write has landed."""

from __future__ import annotations

import logging

from chalicelib.domain.errors import O2DmsError
from chalicelib.service.context import Deps

logger = logging.getLogger(__name__)


def stop_schedules(deps: Deps, schedule_ids: tuple[str, ...]) -> None:
    """Best effort: the terminate has already begun. A schedule left behind by a failure
    here removes itself when it next fires and finds its item gone."""
    for schedule_id in schedule_ids:
        try:
            deps.scheduler.delete(schedule_id)
        except O2DmsError as exc:
            logger.warning(
                "could not stop a scaling schedule",
                extra={"schedule": schedule_id, "error": exc.message},
            )
