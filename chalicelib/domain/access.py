"""Who may do what: roles, the grants a principal holds, and the action each role allows.

A principal's grants come from its groups: ``o2dms-viewer``, ``o2dms-operator`` and
``o2dms-admin`` grant a role everywhere; ``o2dms-operator:production`` grants it only in the
namespace ``production`` (a seed-002 environment is a namespace). Each role includes the
ones below it. Actions that touch no namespace (descriptors, deployment managers, the audit
trail) need an unscoped grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

GROUP_PREFIX = "o2dms-"


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Action(StrEnum):
    READ = "read"
    DEPLOY = "deploy"
    UPGRADE = "upgrade"
    SCALE = "scale"
    ROLLBACK = "rollback"
    MANAGE_SCHEDULES = "manage-schedules"
    MANAGE_ALARMS = "manage-alarms"
    TERMINATE = "terminate"
    MANAGE_DESCRIPTORS = "manage-descriptors"
    MANAGE_MANAGERS = "manage-deployment-managers"
    READ_AUDIT = "read-audit"


# The least role each action needs: the one table of the policy.
REQUIRED_ROLE: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.DEPLOY: Role.OPERATOR,
    Action.UPGRADE: Role.OPERATOR,
    Action.SCALE: Role.OPERATOR,
    Action.ROLLBACK: Role.OPERATOR,
    Action.MANAGE_SCHEDULES: Role.OPERATOR,
    Action.MANAGE_ALARMS: Role.OPERATOR,
    Action.TERMINATE: Role.ADMIN,
    Action.MANAGE_DESCRIPTORS: Role.ADMIN,
    Action.MANAGE_MANAGERS: Role.ADMIN,
    Action.READ_AUDIT: Role.ADMIN,
}


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    scope: str | None = None  # a namespace; None: everywhere

    @property
    def group(self) -> str:
        name = f"{GROUP_PREFIX}{self.role.label}"
        return f"{name}:{self.scope}" if self.scope else name


def grant_from_group(group: str) -> Grant | None:
    """The grant a group name stands for, or None for a group that is none of ours."""
    name, _, scope = group.strip().partition(":")
    if not name.startswith(GROUP_PREFIX):
        return None
    role = name.removeprefix(GROUP_PREFIX).upper()
    if role not in Role.__members__ or (scope == "" and ":" in group):
        return None
    return Grant(Role[role], scope or None)


def grants_from_groups(groups: Iterable[str]) -> tuple[Grant, ...]:
    found = (grant_from_group(g) for g in groups)
    return tuple(dict.fromkeys(g for g in found if g is not None))


def allows(grants: Iterable[Grant], action: Action, namespace: str | None) -> bool:
    """Whether some grant covers ``action`` on ``namespace`` (None: the action touches no
    namespace, so only an unscoped grant covers it)."""
    needed = REQUIRED_ROLE[action]
    return any(
        g.role >= needed and (g.scope is None or (namespace is not None and g.scope == namespace))
        for g in grants
    )


def visible_namespaces(grants: Iterable[Grant]) -> frozenset[str] | None:
    """The namespaces a principal may read, or None when it may read them all."""
    scopes: set[str] = set()
    for g in grants:
        if g.scope is None:
            return None
        scopes.add(g.scope)
    return frozenset(scopes)
