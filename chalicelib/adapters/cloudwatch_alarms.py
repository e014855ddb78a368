"""Which deployment a CloudWatch alarm names in its ``o2dms:deployment`` tag."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.lazy import Lazy
from chalicelib.domain.models import DEPLOYMENT_TAG

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

logger = logging.getLogger(__name__)


class CloudWatchAlarmTags:
    def __init__(self, client: Callable[[], CloudWatchClient]) -> None:
        self._client = Lazy(client)

    def tagged_deployment(self, alarm_arn: str) -> str | None:
        """The tag's value; None when the alarm has no such tag or its tags cannot be read
        (then only alarms bound by name act, and the failure is logged)."""
        try:
            tags = self._client().list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
        except (ClientError, BotoCoreError) as exc:
            logger.warning("cannot read alarm tags", extra={"alarm": alarm_arn, "error": str(exc)})
            return None
        for tag in tags:
            if tag.get("Key") == DEPLOYMENT_TAG and tag.get("Value"):
                return str(tag["Value"])
        return None
