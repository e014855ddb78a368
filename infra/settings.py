"""What varies between deployments of the stack: the stage, the clusters it may reach, and
the IAM callers of the machine API.

The stage comes from CDK context (``-c stage=prod``) and must be one of the stages of
``.chalice/config.json``, so the Chalice app and the stack agree on what a stage is. Cluster
access is opt-in: without ``clusterRoleArns`` / ``clusterArns`` the functions get no
``sts:AssumeRole`` / ``eks:DescribeCluster`` permission at all, and without ``ecsServiceArns``
no ECS permission (``ecsTaskRoleArns``: the task and execution roles they may pass to ECS).
``iamPrincipals`` maps the IAM roles that call the machine API to their o2dms groups (none
by default: a signed caller not named there holds no group, so the app lets it do nothing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk.aws_logs import RetentionDays

from infra.auth import GROUPS

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_STAGE = "dev"
APP_NAME = "o2dms"


# What O2DMS_IAM_GROUPS holds: (IAM ARN, its groups) pairs.
IamPrincipals = tuple[tuple[str, tuple[str, ...]], ...]

# A role as the app finds it behind an assumed-role session: an assumed role's ARN has no
# path, so a role ARN with one would never match. IAM users keep their path in their ARN.
_PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:(role/[\w+=,.@-]+|user(/[\w+=,.@-]+)*/[\w+=,.@-]+)$",
    re.ASCII,
)
# A group of ours: o2dms-<role>, optionally scoped to one namespace (``:production``).
_GROUP = re.compile(
    rf"^({'|'.join(re.escape(g) for g in GROUPS)})(:[a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?)?$"
)


class SettingsError(ValueError):
    """The context does not describe a deployable stack; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class StageSettings:
    stage: str
    log_retention: RetentionDays
    log_retention_days: int
    logs_removal: RemovalPolicy
    table_deletion_protection: bool
    user_pool_removal: RemovalPolicy
    user_pool_deletion_protection: bool
    throttle_rate: int = 50  # requests a second, steady, for the whole stage
    throttle_burst: int = 100
    cluster_role_arns: tuple[str, ...] = ()
    cluster_arns: tuple[str, ...] = ()
    ecs_service_arns: tuple[str, ...] = ()  # services the ecs adapter may describe and update
    ecs_task_role_arns: tuple[str, ...] = ()  # roles their task definitions name
    cors_origin: str | None = None  # none: no browser on another origin is served
    machine_api: bool = True  # the second REST API, for SigV4-signed callers
    iam_principals: IamPrincipals = ()

    @property
    def iam_groups_json(self) -> str:
        """``O2DMS_IAM_GROUPS`` for the functions: ``{role ARN: [group, ...]}``."""
        return json.dumps({arn: list(groups) for arn, groups in self.iam_principals})

    @property
    def prefix(self) -> str:
        """``o2dms-<stage>``: the name every stage-scoped resource starts with."""
        return f"{APP_NAME}-{self.stage}"


# prod keeps more: longer logs, logs kept when the stack goes, a table that cannot be dropped.
_STAGES: dict[str, dict[str, Any]] = {
    "dev": {
        "log_retention": RetentionDays.TWO_WEEKS,
        "log_retention_days": 14,
        "logs_removal": RemovalPolicy.DESTROY,
        "table_deletion_protection": False,
        "user_pool_removal": RemovalPolicy.DESTROY,
        "user_pool_deletion_protection": False,
    },
    "prod": {
        "log_retention": RetentionDays.ONE_YEAR,
        "log_retention_days": 365,
        "logs_removal": RemovalPolicy.RETAIN,
        "table_deletion_protection": True,
        "user_pool_removal": RemovalPolicy.RETAIN,
        "user_pool_deletion_protection": True,
        "throttle_rate": 200,
        "throttle_burst": 400,
    },
}


def chalice_stages(project_dir: Path = PROJECT_DIR) -> list[str]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return sorted(config.get("stages", {}))


def _arn_list(value: object, key: str) -> tuple[str, ...]:
    """A context list: a JSON list (cdk.json) or comma-separated text (``-c key=a,b``)."""
    if value is None or value == "":
        return ()
    items: Sequence[object]
    if isinstance(value, str):
        items = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise SettingsError(f"context {key} must be a list of ARNs, got {value!r}")
    arns = tuple(str(item).strip() for item in items if str(item).strip())
    for arn in arns:
        if not arn.startswith("arn:"):
            raise SettingsError(f"context {key}: {arn!r} is not an ARN")
    return arns


def _origin(value: object) -> str | None:
    """``corsOrigin``: the one https origin (scheme and host) browsers may call from."""
    if value is None or value == "":
        return None
    origin = str(value).strip().rstrip("/")
    if not origin.startswith("https://") or "*" in origin or "," in origin or origin.count("/") > 2:
        raise SettingsError(
            f"context corsOrigin: {origin!r} is not one https origin (scheme and host only)"
        )
    return origin


def _positive(value: object, key: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError as exc:
        raise SettingsError(f"context {key} must be a whole number, got {value!r}") from exc
    if number < 1:
        raise SettingsError(f"context {key} must be at least 1, got {number}")
    return number


def _flag(value: object, key: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in {"true", "yes", "1"}:
        return True
    if word in {"false", "no", "0"}:
        return False
    raise SettingsError(f"context {key} must be true or false, got {value!r}")


def _iam_principals(value: object) -> IamPrincipals:
    """``iamPrincipals``: a JSON object (text with ``-c``, or an object in ``cdk.json``) from
    IAM role ARNs (``arn:aws:iam::ACCOUNT:role/NAME``, or IAM users') to lists of o2dms
    groups."""
    key = "iamPrincipals"
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SettingsError(f"context {key} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SettingsError(f"context {key} must be an object from role ARNs to groups")
    found: list[tuple[str, tuple[str, ...]]] = []
    for arn, groups in value.items():
        if not isinstance(arn, str) or not _PRINCIPAL_ARN.match(arn):
            raise SettingsError(
                f"context {key}: {arn!r} is not an IAM role ARN without a path "
                "(arn:aws:iam::ACCOUNT:role/NAME) or an IAM user ARN"
            )
        if not isinstance(groups, list) or not groups:
            raise SettingsError(f"context {key}: {arn} must map to a non-empty list of groups")
        for group in groups:
            if not isinstance(group, str) or not _GROUP.match(group):
                raise SettingsError(
                    f"context {key}: {arn}: {group!r} is not one of {', '.join(GROUPS)} "
                    "(optionally scoped to a namespace, as o2dms-operator:production)"
                )
        found.append((arn, tuple(dict.fromkeys(groups))))
    return tuple(found)


def from_context(get: Callable[[str], object], *, project_dir: Path = PROJECT_DIR) -> StageSettings:
    """Read the stack's settings with ``get`` (``node.try_get_context``)."""
    stage = str(get("stage") or DEFAULT_STAGE)
    known = chalice_stages(project_dir)
    if stage not in known or stage not in _STAGES:
        raise SettingsError(f"unknown stage {stage!r}: use one of {', '.join(known)}")
    defaults = StageSettings(stage=stage, **_STAGES[stage])
    return replace(
        defaults,
        throttle_rate=_positive(get("throttleRate"), "throttleRate", defaults.throttle_rate),
        throttle_burst=_positive(get("throttleBurst"), "throttleBurst", defaults.throttle_burst),
        cluster_role_arns=_arn_list(get("clusterRoleArns"), "clusterRoleArns"),
        cluster_arns=_arn_list(get("clusterArns"), "clusterArns"),
        ecs_service_arns=_arn_list(get("ecsServiceArns"), "ecsServiceArns"),
        ecs_task_role_arns=_arn_list(get("ecsTaskRoleArns"), "ecsTaskRoleArns"),
        cors_origin=_origin(get("corsOrigin")),
        machine_api=_flag(get("machineApi"), "machineApi", defaults.machine_api),
        iam_principals=_iam_principals(get("iamPrincipals")),
    )
