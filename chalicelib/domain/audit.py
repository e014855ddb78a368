"""The audit trail: one record per accepted change and per refused attempt.

A record is written in the same transaction as the change it tells of, so no change lands
without its record and no record tells of a change that did not land. Records are never
changed or deleted: the API has no route for it, each is written on condition that it does
not exist yet, and in AWS the functions' roles may not update or delete them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    at: datetime
    actor: str
    action: str  # what was asked: "upgrade", "create-descriptor", ...
    target: str  # the resource's path below /o2dms/v1, e.g. "nfDeployments/nginx-prod"
    outcome: Outcome
    trigger: str
    deployment_id: str | None = None
    namespace: str | None = None
    reason: str | None = None
    request_id: str | None = None
    source_ip: str | None = None
    operation_id: str | None = None
    detail: str | None = None  # a refusal's reason


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    deployment_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
