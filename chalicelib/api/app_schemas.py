"""Seed 002's wire shapes for ``/api/v1/deployments``: snake_case, as the seed writes them.

Requests refuse unknown fields; the same models produce the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from chalicelib.api.names import DNS_LABEL
from chalicelib.api.schemas import (
    CHART_SOURCE,
    PATTERN_MEANINGS,
    REASON_MAX,
    WHOLE,
    DnsLabel,
    JsonMap,
    Replicas,
)
from chalicelib.domain.apps import AppStatus
from chalicelib.domain.models import CHART_NAME

# ``<name>-<environment>`` names the NF deployment (at most 53 characters, a Helm release).
NAME_MAX = 40
ENVIRONMENT_MAX = 12
# An image reference without its tag: registry host, path (the tag is the version).
IMAGE = r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
PATTERN_MEANINGS.update(
    {
        IMAGE: "an image repository without its tag, e.g. registry.example.com/team/app",
        LABEL_KEY: "a Kubernetes label key",
        LABEL_VALUE: "a Kubernetes label value (63 characters at most)",
    }
)


def _label(pattern: str, length: int) -> Any:
    return Field(max_length=length, pattern=pattern, description=PATTERN_MEANINGS[pattern])


Platform = Annotated[
    str,
    Field(
        json_schema_extra={"enum": ["kubernetes", "helm", "argocd", "flux", "ecs"]},
        description="kubernetes (a plain apps/v1 Deployment), helm, argocd, flux or ecs (an"
        " Amazon ECS service's task definition)",
    ),
]
# Both an image tag and a chart version: a tag's characters (no '+'), 64 at most.
VERSION = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
PATTERN_MEANINGS[VERSION] = "a version such as v2.0.0: letters, digits, '_', '.' and '-'"
Version = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=VERSION,
        description="The application version: the image tag (kubernetes) or chart version",
    ),
]


class _Snake(BaseModel):
    """Every seed-002 shape, built on first use like ``schemas._Wire``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ApmChart(_Snake):
    repository: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            pattern=CHART_SOURCE.pattern,
            description=PATTERN_MEANINGS[CHART_SOURCE.pattern],
        ),
    ]
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=CHART_NAME.pattern)]


Labels = Annotated[
    dict[
        Annotated[str, _label(LABEL_KEY, 316)],
        Annotated[str, _label(LABEL_VALUE, 63)],
    ],
    Field(max_length=64),
]
ImageRepository = Annotated[str, Field(max_length=512, pattern=IMAGE)]


# The ecs platform: ECS's own names (or ARNs), container variables, task sizes.
ECS_NAME = (
    r"^([A-Za-z0-9][A-Za-z0-9_-]{0,254}"
    r"|arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:(cluster|service)/[A-Za-z0-9/_-]{1,512})$"
)
VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"
TASK_SIZE = r"^[0-9]+(\.[0-9]+)? ?(vCPU|GB)?$"
PATTERN_MEANINGS.update(
    {
        ECS_NAME: "an ECS cluster or service name (letters, digits, '-', '_') or ARN",
        VARIABLE: "an environment variable name: letters, digits and '_', not starting with a"
        " digit",
        TASK_SIZE: "a task size as ECS reads it: 256, '0.5 vCPU', '1 GB'",
    }
)
EcsName = Annotated[
    str,
    Field(min_length=1, max_length=600, pattern=ECS_NAME, description=PATTERN_MEANINGS[ECS_NAME]),
]
EcsVariables = Annotated[
    dict[
        Annotated[str, Field(max_length=255, pattern=VARIABLE)],
        Annotated[str, Field(max_length=4096)],
    ],
    Field(max_length=100),
]
TaskSize = (
    Annotated[StrictInt, Field(ge=1, le=1_000_000), WHOLE]
    | Annotated[
        str, Field(max_length=16, pattern=TASK_SIZE, description=PATTERN_MEANINGS[TASK_SIZE])
    ]
)


class ApmComponent(_Snake):
    """One Deployment of a several-part application (kubernetes platform)."""

    name: DnsLabel = Field(description="The component, and its Deployment's name")
    image: ImageRepository
    version: Version | None = Field(default=None, description="Default: the deployment's")
    container: DnsLabel | None = None
    replicas: Replicas | None = None
    container_port: Annotated[StrictInt, Field(ge=1, le=65535), WHOLE] | None = None
    service_name: DnsLabel | None = None
    labels: Labels = Field(default_factory=dict)
    depends_on: Annotated[list[DnsLabel], Field(max_length=20)] = Field(
        default_factory=list,
        description="Components rolled out (and ready) before this one; rolled back after it",
    )


StageSeconds = Annotated[StrictInt, Field(ge=10, le=86_400), WHOLE]


class ApmTimeouts(_Snake):
    """How long a stage may last before the rollout fails (and is rolled back); never
    longer than the service's own operation timeout."""

    deploying: StageSeconds | None = None
    verifying: StageSeconds | None = None
    stable: Annotated[StrictInt, Field(ge=0, le=3600), WHOLE] | None = Field(
        default=None,
        description="How long every required health check must stay healthy for verifying"
        " to pass (default: the service's, 30 s in AWS)",
    )


class ApmCustomCheck(_Snake):
    """A check of the deployment's own, run through the Kubernetes API server's service
    proxy: an HTTP GET (or a TCP connection) to one of its Services."""

    name: DnsLabel
    type: Literal["http", "tcp"] = "http"
    service: DnsLabel
    port: Annotated[StrictInt, Field(ge=1, le=65535), WHOLE]
    path: Annotated[str, Field(max_length=1024, pattern=r"^[!-~]*$")] = "/"
    expect_status: Annotated[StrictInt, Field(ge=100, le=599), WHOLE] = 200
    timeout_seconds: Annotated[StrictInt, Field(ge=1, le=25), WHOLE] = 5
    interval_seconds: Annotated[StrictInt, Field(ge=0, le=3600), WHOLE] = Field(
        default=0, description="Run again only this long after the last run (0: every poll)"
    )
    failure_threshold: Annotated[StrictInt, Field(ge=1, le=100), WHOLE] = 3
    required: StrictBool = True


class ApmConfiguration(_Snake):
    deployment_name: DnsLabel | None = Field(
        default=None, description="The Deployment to roll out (default: name)"
    )
    service_name: DnsLabel | None = Field(
        default=None, description="A ClusterIP Service selecting the pods, created with them"
    )
    labels: Labels = Field(default_factory=dict)
    namespace: DnsLabel | None = Field(default=None, description="Default: the environment")
    image: ImageRepository | None = Field(
        default=None,
        description="The image repository; needed to create a Deployment that does not exist",
    )
    container: DnsLabel | None = Field(default=None, description="The container to set")
    replicas: Replicas | None = None
    container_port: Annotated[StrictInt, Field(ge=1, le=65535), WHOLE] | None = None
    components: Annotated[list[ApmComponent], Field(max_length=20)] | None = Field(
        default=None,
        description="kubernetes: several Deployments, rolled out in dependency order and rolled"
        " back in reverse (instead of deployment_name, image and container)",
    )
    timeouts: ApmTimeouts | None = None
    health_checks: Annotated[list[ApmCustomCheck], Field(max_length=20)] | None = Field(
        default=None, description="Checks of the deployment's own Services"
    )
    dependencies: Annotated[list[ApmCustomCheck], Field(max_length=20)] | None = Field(
        default=None,
        description="Services it depends on (a database, an external service): checks of the"
        " same kind, reported as type dependency",
    )
    chart: ApmChart | None = Field(
        default=None, description="helm, argocd and flux: the chart; the version is its version"
    )
    parameters: JsonMap | None = Field(
        default=None, description="helm, argocd and flux: values for the chart"
    )
    cluster: EcsName | None = Field(default=None, description="ecs: the ECS cluster")
    service: EcsName | None = Field(
        default=None,
        description="ecs: the ECS service to roll out (it must exist; each version registers a"
        " task definition revision copied from the one it runs)",
    )
    environment: EcsVariables | None = Field(
        default=None,
        description="ecs: variables set on the container (the task definition's others are kept)",
    )
    cpu: TaskSize | None = Field(default=None, description="ecs: the task's CPU units")
    memory: TaskSize | None = Field(default=None, description="ecs: the task's memory (MiB)")


class ApmDeploymentStart(_Snake):
    name: Annotated[
        str,
        Field(min_length=1, max_length=NAME_MAX, pattern=DNS_LABEL.pattern),
    ]
    version: Version
    platform: Platform
    environment: Annotated[
        str,
        Field(min_length=1, max_length=ENVIRONMENT_MAX, pattern=DNS_LABEL.pattern),
    ]
    configuration: ApmConfiguration = Field(default_factory=ApmConfiguration)
    deployment_manager_id: DnsLabel | None = Field(
        default=None, description="The cluster (default: the default deployment manager)"
    )
    reason: Annotated[str, Field(max_length=REASON_MAX)] | None = None


class ApmRollbackRequest(_Snake):
    reason: Annotated[
        str, Field(min_length=1, max_length=REASON_MAX, description="Why (audit trail)")
    ]
    target_version: Version | None = Field(
        default=None, description="Default: the newest good version before this deployment's"
    )
    force: StrictBool = Field(
        default=False, description="Allow a target version whose own rollout failed"
    )


class ApmDryRunRollback(_Snake):
    reason: Annotated[str, Field(max_length=REASON_MAX)] | None = None
    target_version: Version | None = None
    force: StrictBool = False


# ------------------------------------------------------------------------- answers


class ApmProgress(_Snake):
    percentage: float
    current_step: int
    total_steps: int
    current_stage: str
    # Seed 002's "estimated time remaining", while the rollout runs.
    estimated_seconds_remaining: int | None = None


class ApmHealthCheck(_Snake):
    name: str
    type: str
    status: str
    message: str
    since: datetime | None = None
    component: str | None = None
    pod: str | None = None
    required: bool = True


class ApmHealthChecks(_Snake):
    id: str
    evaluated_at: datetime
    healthy: bool
    health_checks: list[ApmHealthCheck]


class ApmStage(_Snake):
    name: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None


class ApmComponentState(_Snake):
    name: str
    version: str | None = None
    desired: int
    updated: int
    ready: int
    available: int
    status: str = Field(
        description="pending (waits for its dependencies), deploying, ready, failed or absent"
    )
    depends_on: list[str]
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ApmDeployment(_Snake):
    id: str
    name: str
    version: str | None
    status: AppStatus
    progress: ApmProgress
    health_checks: list[ApmHealthCheck]
    platform: str
    environment: str
    type: str
    message: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    stages: list[ApmStage]
    components: list[ApmComponentState]
    previous_version: str | None = None
    actor: str
    trigger: str
    reason: str | None = None
    rolled_back_from: str | None = None
    target_version: str | None = None
    nf_deployment_id: str
    operation_id: str
    revision: int | None = None


class ApmDeploymentList(_Snake):
    deployments: list[ApmDeployment]
    next_token: str | None = None


class ApmCommand(_Snake):
    component: str
    description: str
    command: list[str] | None = None


class ApmDiff(_Snake):
    field: str
    current: Any = None
    target: Any = None


class ApmRisk(_Snake):
    flag: str
    message: str


class ApmRollbackPlan(_Snake):
    id: str
    dry_run: bool = True
    name: str
    environment: str
    current_version: str | None
    target_version: str | None
    target_revision: int
    commands: list[ApmCommand]
    diff: list[ApmDiff]
    risks: list[ApmRisk]


class ApmDoraRollbacks(_Snake):
    automatic: int = Field(description="Rollouts rolled back by their own operation after failing")
    alarm: int = Field(description="Rollbacks an alarm started")
    manual: int = Field(description="Rollbacks someone asked for")


class ApmDoraFigures(_Snake):
    deployments: int = Field(description="Installs and upgrades started in the window")
    deployment_frequency_per_day: float
    completed: int
    failed: int = Field(
        description="Ended failed, rolled back automatically, or superseded by a rollback"
    )
    change_failure_rate: float | None = Field(
        description="failed / (completed + failed); null when none ended"
    )
    mean_time_to_restore_seconds: float | None = Field(
        description="From each failure to the deployment's next good end; null when none was"
        " restored"
    )
    rollbacks: ApmDoraRollbacks
    restores_pending: int = Field(description="Failures not restored yet")


class _DoraPlace(_Snake):
    platform: str
    environment: str


class ApmDoraGroup(ApmDoraFigures, _DoraPlace):
    """One platform in one environment: where first, then its figures (pydantic takes the
    fields of the last base first)."""


class ApmDoraMetrics(_Snake):
    window: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    truncated: bool = Field(
        description="The rollouts read stopped at the service's bound before the window's start"
    )
    overall: ApmDoraFigures
    groups: list[ApmDoraGroup]
