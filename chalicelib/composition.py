"""The composition root: builds the ports from settings, once, on first use.

Nothing here runs at import time, so importing ``app`` stays cheap: boto3 is imported
when the first request needs the store. Tests replace the whole wiring with
``use(deps)``.

The wiring is built with the cyclic garbage collector paused, then frozen with all that
was loaded before it (``for_the_process``): none of it is ever garbage, yet on a cold start
the collector's walks over it (boto3's service models, mostly) cost about 8% of a status read.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.ports import (
    AlarmDirectory,
    AutomationStore,
    BackendResolver,
    ConnectionPoster,
    DeploymentBackend,
    DeploymentFilter,
    EventPublisher,
    RolloutDriver,
    ScheduleRunner,
    Subscriptions,
)
from chalicelib.service.context import Deps

_lock = threading.Lock()
_deps: Deps | None = None


def deps() -> Deps:
    global _deps  # noqa: PLW0603 - the one process-wide wiring, built lazily
    if _deps is None:
        with _lock:
            if _deps is None:
                with for_the_process():
                    _deps = build(Settings.from_env())
    return _deps


@contextlib.contextmanager
def for_the_process() -> Iterator[None]:
    """Make what lives as long as the process without the cyclic garbage collector, then
    move everything it tracks to its permanent generation (``gc.freeze``), which later
    collections skip. A build leaves next to no cyclic garbage (a few hundred objects) to
    keep for good this way."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def use(replacement: Deps | None) -> None:
    """Install the wiring to use (tests); ``None`` rebuilds from settings on next use."""
    global _deps  # noqa: PLW0603
    _deps = replacement


# Requests served at once by one process (the local run's threads, a batch of posts).
AWS_POOL_CONNECTIONS = 32


def aws_clients(settings: Settings) -> Callable[..., Any]:
    """``boto3.client`` with the request path's limits: a store or service that hangs gives
    up after bounded timeouts and retries (a 503), well inside API Gateway's 29 s, instead
    of botocore's defaults (60 s reads, retried: about two minutes)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=settings.aws_read_timeout_seconds,
        retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
        max_pool_connections=AWS_POOL_CONNECTIONS,
    )

    def client(service: str, **kwargs: Any) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=settings.endpoint_url, config=config, **kwargs
        )

    return client


def build(settings: Settings) -> Deps:
    from chalicelib import logs

    logs.setup(settings)
    from chalicelib.adapters.dynamodb_store import DynamoDBStore
    from chalicelib.adapters.eventbridge import EventBridgePublisher
    from chalicelib.adapters.kms_sealer import KmsSealer

    aws = aws_clients(settings)
    dynamodb = aws("dynamodb")
    holder: list[Deps] = []
    automation, scheduler, alarms = automation_ports(settings, dynamodb, aws)
    built = Deps(
        store=DynamoDBStore(dynamodb, settings.table_name, token_key=settings.page_token_secret),
        backends=backends(settings),
        driver=_driver(settings, holder),
        events=_publishers(
            settings,
            EventBridgePublisher(lambda: aws("events"), settings.event_bus_name),
        ),
        settings=settings,
        automation=automation,
        scheduler=scheduler,
        alarms=alarms,
        sealer=KmsSealer(
            lambda: aws("kms"),
            key_arn=settings.secrets_key_arn,
            table_name=settings.table_name,
        ),
    )
    holder.append(built)
    return built


def backends(settings: Settings) -> BackendResolver:
    """Every cluster's backends. Where the simulated cluster is offered (the local run) it is
    made now, reading its state file; elsewhere (Lambda) only a deployment on it would need
    it, so it and the backend adapters are made by the first call, not at every cold start."""
    if settings.local_cluster:
        return _backends(settings)
    return _BackendsOnFirstCall(lambda: _backends(settings))


def _backends(settings: Settings) -> BackendResolver:
    from chalicelib.adapters.backends import Backends
    from chalicelib.adapters.local_cluster import LocalCluster

    state_file = settings.local_cluster_state
    cluster = LocalCluster(
        rollout_seconds=settings.local_rollout_seconds,
        max_history=settings.helm_max_history,
        state_file=Path(state_file) if state_file else None,
    )
    return Backends(settings, cluster)


class _BackendsOnFirstCall:
    """A ``BackendResolver`` that makes the real one on its first call, once."""

    def __init__(self, make: Callable[[], BackendResolver]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made: BackendResolver | None = None

    def __call__(self, *, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made(adapter=adapter, manager=manager)


def _publishers(settings: Settings, events: EventPublisher) -> EventPublisher:
    """EventBridge always; CloudWatch metrics (EMF log lines) where a log becomes them."""
    if not settings.emit_emf:
        return events
    from chalicelib.adapters.cloudwatch_emf import EmfMetrics, Publishers

    return Publishers(events, EmfMetrics())


def automation_ports(
    settings: Settings, dynamodb: Any, make_client: Callable[..., Any]
) -> tuple[AutomationStore, ScheduleRunner, AlarmDirectory]:
    """The ports of the automation triggers (``Deps`` fields), on the given DynamoDB client;
    the Scheduler and CloudWatch clients are made by ``make_client`` on first use."""
    from chalicelib.adapters.cloudwatch_alarms import CloudWatchAlarmTags
    from chalicelib.adapters.dynamodb_automation import DynamoDBAutomationStore
    from chalicelib.adapters.scheduler import EventBridgeScheduler

    return (
        DynamoDBAutomationStore(
            dynamodb,
            settings.table_name,
            watch_window_seconds=settings.alarm_watch_window_seconds,
            cooldown_seconds=settings.alarm_cooldown_seconds,
        ),
        EventBridgeScheduler(
            lambda: make_client("scheduler"),
            group=settings.schedule_group,
            target_arn=settings.schedule_target_arn,
            role_arn=settings.scheduler_role_arn,
        ),
        CloudWatchAlarmTags(lambda: make_client("cloudwatch")),
    )


def _driver(settings: Settings, holder: list[Deps]) -> RolloutDriver:
    """Step Functions in AWS; a background thread running the same steps locally."""
    if settings.rollout_driver == "stepfunctions":
        from chalicelib.adapters.rollout_stepfunctions import StepFunctionsDriver

        if not settings.state_machine_arn:
            raise ValueError("O2DMS_ROLLOUT_STATE_MACHINE_ARN must be set for Step Functions")
        return StepFunctionsDriver(
            lambda: aws_clients(settings)("stepfunctions"),
            settings.state_machine_arn,
            poll_seconds=max(1, round(settings.rollout_poll_seconds)),
        )
    if settings.rollout_driver != "thread":
        raise ValueError(
            f"O2DMS_ROLLOUT_DRIVER={settings.rollout_driver!r}: use 'stepfunctions' or 'thread'"
        )
    from chalicelib.adapters.rollout_thread import ThreadRolloutDriver
    from chalicelib.service.rollouts import follow

    return ThreadRolloutDriver(
        lambda deployment_id, operation_id: follow(holder[0], deployment_id, operation_id),
        interval_seconds=settings.rollout_poll_seconds,
    )


_live_ports: tuple[Subscriptions, ConnectionPoster] | None = None


def live_ports() -> tuple[Subscriptions, ConnectionPoster]:
    """Where WebSocket followers are kept, and how their connections are reached."""
    global _live_ports  # noqa: PLW0603 - built once per process, like ``deps``
    if _live_ports is None:
        settings = deps().settings  # before the lock, which ``deps`` takes itself when cold
        with _lock:
            if _live_ports is None:
                with for_the_process():
                    _live_ports = build_live_ports(settings)
    return _live_ports


def use_live_ports(replacement: tuple[Subscriptions, ConnectionPoster] | None) -> None:
    global _live_ports  # noqa: PLW0603
    _live_ports = replacement


def build_live_ports(settings: Settings) -> tuple[Subscriptions, ConnectionPoster]:
    from chalicelib.adapters.dynamodb_live import DynamoDBSubscriptions
    from chalicelib.adapters.ws_connections import PARALLEL_POSTS, ApiGatewayConnections

    aws = aws_clients(settings)

    def management_client() -> Any:
        import boto3
        from botocore.config import Config

        if not settings.ws_endpoint:
            raise ValueError("O2DMS_WS_ENDPOINT must name the WebSocket API's stage URL")
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=settings.ws_endpoint,
            config=Config(
                connect_timeout=settings.aws_connect_timeout_seconds,
                read_timeout=settings.aws_read_timeout_seconds,
                retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
                max_pool_connections=max(PARALLEL_POSTS, AWS_POOL_CONNECTIONS),
            ),
        )

    return DynamoDBSubscriptions(aws("dynamodb"), settings.table_name), ApiGatewayConnections(
        management_client
    )


RESUME_PAGE_SIZE = 100


def resume_rollouts(deps: Deps) -> list[tuple[str, str]]:
    """Follow again the operations a previous process left running: (deployment, operation)
    for each one handed to the driver.

    For the local run, whose thread driver dies with its process: at start, every deployment
    still holding a lease gets a follower again, and the usual follow logic ends the operation
    (completed, failed, or rolled back once its deadline has passed). In AWS nothing calls
    this: a Step Functions execution outlives the Lambda invocation that started it.
    """
    resumed: list[tuple[str, str]] = []
    token: str | None = None
    while True:
        page = deps.store.list_deployments(
            filters=DeploymentFilter(), limit=RESUME_PAGE_SIZE, token=token
        )
        for deployment in page.items:
            if deployment.lease is not None:
                operation_id = deployment.lease.operation_id
                deps.driver.start(deployment_id=deployment.id, operation_id=operation_id)
                resumed.append((deployment.id, operation_id))
        token = page.next_token
        if token is None:
            return resumed
