"""Settings read once from the environment (``.chalice/config.json`` sets them per stage).

Names and defaults follow the seed's Helm configuration block: ``timeout: 5m``,
``maxHistory: 10``, ``atomic: true``, ``wait: true``, ``waitForJobs: true``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(text: str) -> int:
    """Seconds in a Go-style duration (``5m``, ``90s``, ``1h30m``); bare digits are seconds."""
    if text.strip().isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


_CHART_SCHEMES = ("https://", "http://", "oci://", "file://")
ChartMirrors = tuple[tuple[str, str], ...]


def parse_chart_mirrors(text: str) -> ChartMirrors:
    """``FROM=TO`` pairs, separated by commas or spaces: charts a descriptor names in the
    repository FROM are fetched from TO instead (an air-gapped cluster's mirror, or a local
    folder). Both sides are chart sources (``https://``, ``oci://`` or ``file://``)."""
    mirrors = []
    for pair in text.replace(",", " ").split():
        source, _, mirror = pair.partition("=")
        if not source.startswith(_CHART_SCHEMES) or not mirror.startswith(_CHART_SCHEMES):
            raise ValueError(
                f"O2DMS_CHART_MIRRORS: {pair!r} is not FROM=TO with two chart sources"
                " (https://, oci:// or file://)"
            )
        mirrors.append((source.rstrip("/"), mirror.rstrip("/")))
    return tuple(mirrors)


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _env_flag(env: Mapping[str, str], name: str, default: str) -> bool:
    """A boolean setting; anything but the usual words is refused, so ``ture`` is not read
    as false without a word."""
    value = env.get(name, default)
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{name}={value!r}: use true or false")


AUTH_MODES = ("gateway", "local")
IamGroups = tuple[tuple[str, tuple[str, ...]], ...]


def parse_iam_groups(text: str) -> IamGroups:
    """``O2DMS_IAM_GROUPS``: a JSON object from IAM role (or user) ARNs to the o2dms groups
    their callers hold, e.g. ``{"arn:aws:iam::123456789012:role/smo": ["o2dms-operator"]}``."""
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        raise ValueError(f"O2DMS_IAM_GROUPS is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(g, str) for g in v)
        for k, v in value.items()
    ):
        raise ValueError("O2DMS_IAM_GROUPS must map IAM ARNs to lists of group names")
    return tuple((arn, tuple(groups)) for arn, groups in value.items())


def _signing_key(env: Mapping[str, str]) -> str | None:
    """The local issuer's key (hex), from ``O2DMS_AUTH_SIGNING_KEY`` or the file named by
    ``O2DMS_AUTH_SIGNING_KEY_FILE``."""
    key = env.get("O2DMS_AUTH_SIGNING_KEY")
    path = env.get("O2DMS_AUTH_SIGNING_KEY_FILE")
    if not key and path:
        key = Path(path).read_text().strip()
    return key or None


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a process (``from_env``), read once. The docstring also spares each
    cold start the dataclass's own one: a signature of all the fields, built at import."""

    table_name: str = "o2dms"
    stage: str = "dev"
    operation_timeout_seconds: int = 300
    lease_grace_seconds: int = 120
    helm_max_history: int = 10
    helm_atomic: bool = True
    helm_wait: bool = True
    helm_wait_for_jobs: bool = True
    allow_local_charts: bool = False
    chart_mirrors: ChartMirrors = ()
    default_namespace: str = "default"
    rollout_driver: str = "thread"
    rollout_poll_seconds: float = 1.0
    local_rollout_seconds: float = 4.0
    endpoint_url: str | None = None
    event_bus_name: str = "default"
    local_cluster: bool = True
    local_cluster_state: str | None = None  # a JSON file that keeps the simulated cluster
    default_deployment_manager: str | None = None
    state_machine_arn: str | None = None
    schedule_group: str = "o2dms-dev"
    scheduler_role_arn: str | None = None
    schedule_target_arn: str | None = None
    schedule_retry_attempts: int = 5
    schedule_retry_seconds: float = 15.0
    # How long every required health check must stay healthy before a rollout passes its
    # verifying stage, and how many unhealthy polls in a row fail it.
    verify_stable_seconds: float = 30.0
    check_failure_threshold: int = 3
    alarm_watch_window_seconds: int = 1800
    alarm_cooldown_seconds: int = 600
    # The KMS key that seals secret parameter values before they are stored (the table's
    # key in the stack); without one, a request carrying a secret value is refused (503).
    secrets_key_arn: str | None = None
    # AWS calls on the request path must give up well inside API Gateway's 29 s: at most
    # aws_max_attempts x (connect + read timeout) plus standard-mode backoff.
    aws_connect_timeout_seconds: float = 2.0
    aws_read_timeout_seconds: float = 5.0
    aws_max_attempts: int = 3
    # The HMAC key of page tokens (any string). Every function of a stage must share it, so
    # the stack sets O2DMS_PAGE_TOKEN_KEY; see ``page_token_secret`` when it is unset.
    page_token_key: str | None = None
    # Who the caller is: "gateway" trusts API Gateway's authorizer (Cognito claims, or the
    # IAM caller's ARN mapped by iam_groups); "local" checks the local issuer's tokens.
    auth_mode: str = "gateway"
    auth_signing_key: str | None = None  # hex; the local issuer's key
    iam_groups: IamGroups = ()
    # Live progress: where the WebSocket API's ``@connections`` are posted to (its stage URL
    # in AWS, the local server in the local run), and the user pool whose ID tokens a
    # WebSocket connection presents (API Gateway checks none on a WebSocket API).
    ws_endpoint: str | None = None
    # CloudWatch metrics in the log (EMF): in Lambda, where CloudWatch reads the log.
    emit_emf: bool = False
    json_logs: bool = False  # JSON lines with correlation keys (chalicelib/logs.py)
    tracing: bool = False  # X-Ray subsegments in the long-running functions (tracing.py)
    log_level: str = "INFO"
    user_pool_issuer: str | None = None
    user_pool_client_id: str | None = None

    @property
    def page_token_secret(self) -> str:
        """The key page tokens are signed with: ``page_token_key``, else one derived from
        the table and the stage. The derived key is the same in every Lambda instance, so a
        token stays good on the next call, and it catches altered tokens; but it is no
        secret, so a deployment should set O2DMS_PAGE_TOKEN_KEY."""
        if self.page_token_key:
            return self.page_token_key
        return f"o2dms-page-token/{self.stage}/{self.table_name}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        in_lambda = "AWS_LAMBDA_FUNCTION_NAME" in e
        return cls(
            table_name=e.get("O2DMS_TABLE_NAME", "o2dms"),
            stage=e.get("O2DMS_STAGE", "dev"),
            operation_timeout_seconds=parse_duration(e.get("O2DMS_OPERATION_TIMEOUT", "5m")),
            lease_grace_seconds=parse_duration(e.get("O2DMS_LEASE_GRACE", "2m")),
            verify_stable_seconds=parse_duration(
                e.get("O2DMS_VERIFY_STABLE", "30s" if in_lambda else "0s")
            ),
            check_failure_threshold=int(e.get("O2DMS_CHECK_FAILURE_THRESHOLD", "3")),
            helm_max_history=int(e.get("O2DMS_HELM_MAX_HISTORY", "10")),
            helm_atomic=_env_flag(e, "O2DMS_HELM_ATOMIC", "true"),
            helm_wait=_env_flag(e, "O2DMS_HELM_WAIT", "true"),
            helm_wait_for_jobs=_env_flag(e, "O2DMS_HELM_WAIT_FOR_JOBS", "true"),
            allow_local_charts=_env_flag(e, "O2DMS_ALLOW_LOCAL_CHARTS", "false"),
            chart_mirrors=parse_chart_mirrors(e.get("O2DMS_CHART_MIRRORS", "")),
            default_namespace=e.get("O2DMS_DEFAULT_NAMESPACE", "default"),
            rollout_driver=e.get(
                "O2DMS_ROLLOUT_DRIVER", "stepfunctions" if in_lambda else "thread"
            ),
            rollout_poll_seconds=float(e.get("O2DMS_ROLLOUT_POLL_SECONDS", "1")),
            local_rollout_seconds=float(e.get("O2DMS_LOCAL_ROLLOUT_SECONDS", "4")),
            endpoint_url=e.get("AWS_ENDPOINT_URL") or None,
            event_bus_name=e.get("O2DMS_EVENT_BUS", "default"),
            local_cluster=_env_flag(e, "O2DMS_LOCAL_CLUSTER", "false" if in_lambda else "true"),
            local_cluster_state=e.get("O2DMS_LOCAL_CLUSTER_STATE") or None,
            default_deployment_manager=e.get("O2DMS_DEFAULT_DEPLOYMENT_MANAGER") or None,
            state_machine_arn=e.get("O2DMS_ROLLOUT_STATE_MACHINE_ARN") or None,
            schedule_group=e.get("O2DMS_SCHEDULE_GROUP") or f"o2dms-{e.get('O2DMS_STAGE', 'dev')}",
            scheduler_role_arn=e.get("O2DMS_SCHEDULER_ROLE_ARN") or None,
            schedule_target_arn=e.get("O2DMS_SCHEDULE_TARGET_ARN") or None,
            schedule_retry_attempts=int(e.get("O2DMS_SCHEDULE_RETRY_ATTEMPTS", "5")),
            schedule_retry_seconds=parse_duration(e.get("O2DMS_SCHEDULE_RETRY_DELAY", "15s")),
            alarm_watch_window_seconds=parse_duration(e.get("O2DMS_ALARM_WATCH_WINDOW", "30m")),
            alarm_cooldown_seconds=parse_duration(e.get("O2DMS_ALARM_COOLDOWN", "10m")),
            secrets_key_arn=e.get("O2DMS_SECRETS_KEY_ARN") or None,
            aws_connect_timeout_seconds=float(e.get("O2DMS_AWS_CONNECT_TIMEOUT", "2")),
            aws_read_timeout_seconds=float(e.get("O2DMS_AWS_READ_TIMEOUT", "5")),
            aws_max_attempts=int(e.get("O2DMS_AWS_MAX_ATTEMPTS", "3")),
            page_token_key=e.get("O2DMS_PAGE_TOKEN_KEY") or None,
            auth_mode=_auth_mode(e, in_lambda),
            auth_signing_key=_signing_key(e),
            iam_groups=parse_iam_groups(e.get("O2DMS_IAM_GROUPS", "")),
            ws_endpoint=e.get("O2DMS_WS_ENDPOINT") or None,
            emit_emf=_env_flag(e, "O2DMS_EMF", "true" if in_lambda else "false"),
            json_logs=_env_flag(e, "O2DMS_JSON_LOGS", "true" if in_lambda else "false"),
            tracing=_env_flag(e, "O2DMS_TRACING", "true" if in_lambda else "false"),
            log_level=(e.get("O2DMS_LOG_LEVEL") or "INFO").upper(),
            user_pool_issuer=e.get("O2DMS_USER_POOL_ISSUER") or None,
            user_pool_client_id=e.get("O2DMS_USER_POOL_CLIENT_ID") or None,
        )


def _auth_mode(env: Mapping[str, str], in_lambda: bool) -> str:
    mode = env.get("O2DMS_AUTH", "gateway" if in_lambda else "local")
    if mode not in AUTH_MODES:
        raise ValueError(f"O2DMS_AUTH={mode!r}: use gateway or local")
    if in_lambda and mode != "gateway":
        raise ValueError("O2DMS_AUTH=local is for the local run; in Lambda use gateway")
    return mode
